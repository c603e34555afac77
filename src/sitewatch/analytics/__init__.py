"""Baselines, uptick alerts, change points, synchrony, events, signatures and back-tests.

Core functions are pure over pandas observation frames (:mod:`.series`); only
:mod:`.pipeline` talks to the store.
"""
