"""The API's response cache: freshness, stale-while-refresh, single flight, bounds, invalidation."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from sitewatch.api import cache as cache_module
from sitewatch.api.cache import TtlCache


def _value(v: int) -> Callable[[], int]:
    """A compute function that returns ``v``."""
    return lambda: v


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    now = [1000.0]
    monkeypatch.setattr(cache_module.time, "monotonic", lambda: now[0])
    return now


def test_fresh_then_stale_then_gone(clock):
    c: TtlCache[str, int] = TtlCache(8, ttl=5, stale=5)
    assert c.get("a", lambda: 1) == 1
    assert c.lookup("a") == (1, True)
    clock[0] += 6
    assert c.lookup("a") == (1, False) and c.peek("a") is None  # stale: served, not fresh
    assert c.get("a", lambda: 2) == 2  # a blocking get recomputes what is not fresh
    clock[0] += 11
    assert c.lookup("a") is None and len(c) == 0  # past the stale window: dropped


def test_refresh_replaces_a_stale_value_once(clock):
    c: TtlCache[str, int] = TtlCache(8, ttl=5, stale=5)
    c.get("a", lambda: 1)
    clock[0] += 6
    calls = []

    def two() -> int:
        calls.append(1)
        return 2

    def three() -> int:
        calls.append(1)
        return 3

    c.refresh("a", two)
    c.refresh("a", three)  # fresh again: nothing to do
    assert c.lookup("a") == (2, True) and len(calls) == 1


def test_concurrent_gets_compute_once():
    c: TtlCache[str, int] = TtlCache(8, ttl=60)
    started, release, calls = threading.Event(), threading.Event(), []

    def slow() -> int:
        calls.append(1)
        started.set()
        release.wait(5)
        return 7

    results: list[int] = []
    first = threading.Thread(target=lambda: results.append(c.get("k", slow)))
    first.start()
    started.wait(5)
    second = threading.Thread(target=lambda: results.append(c.get("k", slow)))
    second.start()
    c.refresh("k", slow)  # someone is computing it: returns at once, computes nothing
    release.set()
    first.join(5)
    second.join(5)
    assert results == [7, 7] and len(calls) == 1


def test_errors_are_not_cached_and_size_is_bounded(clock):
    c: TtlCache[int, int] = TtlCache(3, ttl=60)

    def boom() -> int:
        raise ValueError("no")

    with pytest.raises(ValueError):
        c.get(0, boom)
    assert c.lookup(0) is None
    for k in range(5):
        c.get(k, _value(k * 10))
    assert len(c) == 3 and c.lookup(0) is None and c.lookup(4) == (40, True)


def test_clear_while_computing_does_not_keep_the_old_result():
    c: TtlCache[str, int] = TtlCache(8, ttl=60)

    def computed_before_a_write() -> int:
        c.clear()  # e.g. a job finished and rewrote the counts meanwhile
        return 1

    assert c.get("k", computed_before_a_write) == 1  # served to the caller who asked...
    assert c.lookup("k") is None  # ...but not kept for the next


def test_refresh_later_works_in_the_background_once_per_key(clock):
    c: TtlCache[str, int] = TtlCache(8, ttl=5, stale=5)
    c.get("a", lambda: 1)
    clock[0] += 6
    gate, calls = threading.Event(), []

    def slow() -> int:
        gate.wait(5)
        calls.append(1)
        return 2

    c.refresh_later("a", slow)
    c.refresh_later("a", slow)  # already queued or running: not queued twice
    assert c.lookup("a") == (1, False)  # still served stale meanwhile
    gate.set()
    assert c._refresher is not None
    c._refresher.submit(lambda: None).result(5)  # the refresher's queue is worked off in order
    assert c.lookup("a") == (2, True) and len(calls) == 1


def test_jitter_spreads_expiry(clock):
    c: TtlCache[int, int] = TtlCache(100, ttl=10, jitter=0.5)
    for k in range(50):
        c.get(k, _value(k))
    clock[0] += 7.5  # past the shortest possible life (5 s), before the longest (10 s)
    fresh = sum(c.peek(k) is not None for k in range(50))
    assert 0 < fresh < 50
