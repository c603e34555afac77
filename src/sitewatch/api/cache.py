"""A bounded, expiring, single-flight cache of computed responses for the API server.

Used for what is costly to make and asked for again and again: change comparisons (seconds
each) and count series (a store query, a baseline fit and serialisation, tens of
milliseconds cold, against well under one when served from here).
"""

from __future__ import annotations

import contextlib
import hashlib
import random
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Generic, TypeVar

from fastapi import Request, Response

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class TtlCache(Generic[K, V]):
    """Least recently used values, fresh for ``ttl`` seconds, each computed once even when asked for twice at a time.

    With ``stale`` > 0 a value past its ``ttl`` may still be served for that many seconds
    while it is recomputed (:meth:`lookup`, :meth:`refresh_later`): readers never queue
    behind a recomputation of something they already had. ``jitter`` shortens each entry's
    ``ttl`` by up to that fraction at random, so entries filled together do not all expire
    (and get recomputed) together. Errors raised by ``compute`` are not cached: a bad
    request is cheap to refuse again, and a transient failure must not stick.
    """

    def __init__(self, size: int, ttl: float, *, stale: float = 0.0, jitter: float = 0.0) -> None:
        self.size, self.ttl, self.stale, self.jitter = size, ttl, stale, jitter
        self._entries: OrderedDict[K, tuple[float, V]] = OrderedDict()  # key -> (fresh until, value)
        self._lock = threading.Lock()
        self._computing: dict[K, threading.Lock] = {}
        self._queued: set[K] = set()
        self._refresher: ThreadPoolExecutor | None = None
        self._generation = 0

    def lookup(self, key: K) -> tuple[V, bool] | None:
        """``(value, fresh)`` for ``key`` while it may be served; never computes (cheap enough for an event loop)."""
        now = time.monotonic()
        with self._lock:
            found = self._entries.get(key)
            if found is None:
                return None
            if found[0] + self.stale < now:
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return found[1], found[0] >= now

    def peek(self, key: K) -> V | None:
        """The fresh value for ``key``, if there is one."""
        found = self.lookup(key)
        return found[0] if found is not None and found[1] else None

    def get(self, key: K, compute: Callable[[], V]) -> V:
        """The fresh value for ``key``, or ``compute()`` cached (blocks: call it off the event loop)."""
        hit = self.peek(key)
        if hit is not None:
            return hit
        with self._lock:
            pending = self._computing.setdefault(key, threading.Lock())
        with pending:  # a second request for the same key waits for the first
            hit = self.peek(key)
            return hit if hit is not None else self._compute(key, compute)

    def refresh(self, key: K, compute: Callable[[], V]) -> None:
        """Recompute ``key`` unless someone already is (blocks: run it off the event loop)."""
        with self._lock:
            pending = self._computing.setdefault(key, threading.Lock())
        if pending.acquire(blocking=False):
            try:
                if self.peek(key) is None:
                    self._compute(key, compute)  # which also forgets `pending`
                else:
                    with self._lock:
                        if self._computing.get(key) is pending:
                            del self._computing[key]
            finally:
                pending.release()

    def refresh_later(self, key: K, compute: Callable[[], V]) -> None:
        """Queue :meth:`refresh` of ``key`` on the cache's own thread; returns at once.

        One thread, one refresh at a time: a burst of stale entries is worked off in the
        background instead of filling the server's thread pool and starving its event loop.
        """
        with self._lock:
            if key in self._queued:
                return
            self._queued.add(key)
            if self._refresher is None:
                self._refresher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sitewatch-cache")
            refresher = self._refresher
        refresher.submit(self._refresh_queued, key, compute)

    def _refresh_queued(self, key: K, compute: Callable[[], V]) -> None:
        with self._lock:
            self._queued.discard(key)
        with contextlib.suppress(Exception):  # an error is met again, and reported, by the next blocking get
            self.refresh(key, compute)

    def _compute(self, key: K, compute: Callable[[], V]) -> V:
        with self._lock:
            generation = self._generation
        try:
            value = compute()
        finally:
            with self._lock:
                self._computing.pop(key, None)
        with self._lock:
            # A clear() while computing means the inputs changed under us: serve, don't keep.
            if generation == self._generation:
                ttl = self.ttl * (1.0 - self.jitter * random.random())
                self._entries[key] = (time.monotonic() + ttl, value)
                self._entries.move_to_end(key)
                while len(self._entries) > self.size:
                    self._entries.popitem(last=False)
        return value

    def clear(self) -> None:
        """Forget everything, e.g. after this server wrote what the values were made from."""
        with self._lock:
            self._entries.clear()
            self._generation += 1

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)


@dataclass(frozen=True)
class CachedBody:
    """A serialised JSON response body and its entity tag."""

    json: bytes
    etag: str

    @classmethod
    def of(cls, json: bytes) -> CachedBody:
        return cls(json, '"' + hashlib.blake2b(json, digest_size=12).hexdigest() + '"')

    def response(self, request: Request) -> Response:
        """200 with the body, or 304 when the client already holds this version (``If-None-Match``)."""
        # no-cache: clients may keep it but must revalidate, which costs them a 304 only.
        headers = {"ETag": self.etag, "Cache-Control": "private, no-cache"}
        if self.etag in request.headers.get("if-none-match", ""):
            return Response(status_code=304, headers=headers)
        return Response(self.json, media_type="application/json", headers=headers)
