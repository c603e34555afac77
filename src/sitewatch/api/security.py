"""Request guards: credentials and roles, and the per-credential rate limit.

Credentials are, in order: an ``X-API-Key`` header, an ``Authorization: Bearer`` token or
the dashboard's session cookie. A cookie-authenticated write must come from the same origin
(the cookie is also ``SameSite=Strict``), so another site cannot make the browser write.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Awaitable, Callable
from typing import Annotated

import anyio
from fastapi import Depends, HTTPException, Request, status
from fastapi.security import APIKeyCookie, APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from sitewatch.api.accounts import Principal

SESSION_COOKIE = "sitewatch_session"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

# auto_error=False: a missing credential is reported by `principal` with one message for all.
_api_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="API key from `sitewatch users key NAME`")
_bearer = HTTPBearer(auto_error=False, description="Session token from POST /api/v1/login")
_cookie = APIKeyCookie(name=SESSION_COOKIE, auto_error=False, description="Dashboard session cookie")


class RateLimiter:
    """Token buckets per key: ``rate`` requests per second sustained, ``burst`` at once."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, burst
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def allow(self, key: str) -> bool:
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.rate)
            allowed = tokens >= 1.0
            self._buckets[key] = (tokens - 1.0 if allowed else tokens, now)
            if len(self._buckets) > 10_000:  # forget idle clients rather than grow without bound
                self._buckets = {k: v for k, v in self._buckets.items() if now - v[1] < 60}
            return allowed


class CredentialCache:
    """Recently resolved credentials (and refusals) for ``ttl`` seconds, so most requests skip the database.

    A key revoked through another process (e.g. the CLI) stops working within ``ttl``;
    revocations through this server apply at once (:meth:`forget`).
    """

    def __init__(self, ttl: float = 30.0, size: int = 10_000) -> None:
        self.ttl, self.size = ttl, size
        self._entries: dict[str, tuple[Principal | None, float]] = {}

    def get(self, token: str) -> tuple[bool, Principal | None]:
        """(hit, principal); ``principal`` is None for a cached refusal."""
        entry = self._entries.get(token)
        if entry is None or entry[1] < time.monotonic():
            return False, None
        return True, entry[0]

    def put(self, token: str, who: Principal | None) -> None:
        if len(self._entries) >= self.size:
            self._entries.clear()  # crude but bounded; a miss only costs one query
        self._entries[token] = (who, time.monotonic() + self.ttl)

    def forget(self, token_id: str) -> None:
        self._entries = {t: e for t, e in self._entries.items() if e[0] is None or e[0].token_id != token_id}


async def resolve(request: Request, token: str) -> Principal | None:
    cache: CredentialCache = request.app.state.credentials
    hit, who = cache.get(token)
    if not hit:
        who = await anyio.to_thread.run_sync(request.app.state.accounts.resolve, token)
        cache.put(token, who)
    return who


def check_rate(request: Request, key: str) -> None:
    if not request.app.state.limiter.allow(key):
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS, "rate limit exceeded; slow down and retry", headers={"Retry-After": "1"}
        )


async def principal(
    request: Request,
    key: Annotated[str | None, Depends(_api_key)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    cookie: Annotated[str | None, Depends(_cookie)],
) -> Principal:
    """The authenticated caller; 401 without a valid credential."""
    token = key or (bearer.credentials if bearer else None) or cookie
    who = await resolve(request, token) if token else None
    if who is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "missing or invalid credentials; send X-API-Key (from `sitewatch users key`) or log in",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if who.via == "session" and token == cookie and request.method not in SAFE_METHODS:
        origin = request.headers.get("origin")
        if origin is not None and origin != f"{request.url.scheme}://{request.url.netloc}":
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"cross-origin write from {origin} refused")
    check_rate(request, f"user:{who.user}")
    request.state.principal = who  # read by the audit middleware
    return who


def require(role: str) -> Callable[..., Awaitable[Principal]]:
    """A dependency admitting callers with at least ``role``."""

    async def guard(who: Annotated[Principal, Depends(principal)]) -> Principal:
        if not who.can(role):
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"needs the {role} role; {who.user} is {who.role}")
        return who

    return guard


Viewer = Annotated[Principal, Depends(require("viewer"))]
Analyst = Annotated[Principal, Depends(require("analyst"))]
Admin = Annotated[Principal, Depends(require("admin"))]
