"""Pure ASGI middleware: request body limit, audit log of writes, security headers.

Pure ASGI (not ``BaseHTTPMiddleware``) keeps the per-request cost low on the hot read paths.
"""

from __future__ import annotations

import json
from typing import Any

import anyio
from fastapi import HTTPException, status
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sitewatch.api.accounts import Accounts, Principal

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
#: Dashboard pages may load scripts, styles, images and data from this server only.
DASHBOARD_CSP = (
    "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]


class BodyLimit:
    """ASGI middleware refusing request bodies over ``max_bytes`` with 413.

    Checks ``Content-Length`` first and also counts streamed chunks, so a chunked upload
    cannot slip past the declared size.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await _too_large(self.max_bytes, send)
            return
        seen = 0
        started = False

        async def guarded_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    # An HTTPException passes through FastAPI's body parsing unchanged.
                    raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, _too_large_text(self.max_bytes))
            return message

        try:
            await self.app(scope, counted, guarded_send)
        except HTTPException as exc:
            if exc.status_code != status.HTTP_413_CONTENT_TOO_LARGE or started:
                raise
            await _too_large(self.max_bytes, send)


def _too_large_text(limit: int) -> str:
    return f"request body larger than {limit} bytes; send a smaller file or split it"


async def _too_large(limit: int, send: Send) -> None:
    body = json.dumps({"detail": _too_large_text(limit)}).encode()
    headers: list[Any] = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class AuditWrites:
    """Record every write request (who, method, path, status) once it has been answered.

    The authenticated principal and any extra detail are left by the route in
    ``request.state`` (``principal``, ``audit_detail``).
    """

    def __init__(self, app: ASGIApp, accounts: Accounts) -> None:
        self.app, self.accounts = app, accounts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in UNSAFE_METHODS:
            await self.app(scope, receive, send)
            return
        code = 500

        async def record_status(message: Message) -> None:
            nonlocal code
            if message["type"] == "http.response.start":
                code = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, record_status)
        finally:
            state: dict[str, Any] = scope.get("state", {})
            who: Principal | None = state.get("principal")
            await anyio.to_thread.run_sync(
                self.accounts.audit,
                who.user if who else None,
                scope["method"],
                scope["path"],
                code,
                state.get("audit_detail"),
            )


class SecurityHeaders:
    """Add no-sniff/no-referrer/no-framing headers everywhere, and a strict CSP on HTML pages.

    The Swagger UI page (``docs_path``) needs its inline start-up script, so it gets no CSP.
    """

    def __init__(self, app: ASGIApp, docs_path: str) -> None:
        self.app, self.docs_path = app, docs_path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def add_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.extend(_HEADERS)
                ctype = dict(headers).get(b"content-type", b"")
                if ctype.startswith(b"text/html") and scope["path"] != self.docs_path:
                    headers.append((b"content-security-policy", DASHBOARD_CSP.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, add_headers)
