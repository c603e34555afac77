"""Persistence behind one repository interface (:class:`sitewatch.store.base.Store`).

``open_store(url)`` picks the back end from the URL: ``sqlite:///path`` (default, WAL) or
``postgresql+psycopg://...`` (PostGIS). ``default_url()`` honours ``SITEWATCH_DB``.
"""
