"""The application factory: REST API under ``/api/v1``, Swagger UI at ``/docs``, dashboard at ``/``.

Everything is served by this one app from local files: the Swagger UI and dashboard
libraries are vendored (gzip-compressed) under ``sitewatch/web/static/vendor``; no CDN.
"""

from __future__ import annotations

import gzip
import os
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI, HTTPException, Request, status
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles

from sitewatch import __version__
from sitewatch.api.accounts import Accounts
from sitewatch.api.change import new_change_cache
from sitewatch.api.deps import SiteIndex, SitesDep
from sitewatch.api.jobs import JobRunner
from sitewatch.api.middleware import AuditWrites, BodyLimit, SecurityHeaders
from sitewatch.api.routes import alerts, auth, change, data, reports, scenes, sites
from sitewatch.api.routes import jobs as jobs_routes
from sitewatch.api.routes.data import new_series_cache
from sitewatch.api.schemas import Health
from sitewatch.api.security import CredentialCache, RateLimiter
from sitewatch.api.settings import ENV_SETTINGS, ApiSettings
from sitewatch.config import default_db_url
from sitewatch.errors import ExportError, ImageError, InputError, NotFoundError, SitewatchError, StoreError

API_PREFIX = "/api/v1"
DOCS_PATH = "/docs"
STATIC_DIR = Path(str(files("sitewatch.web"))) / "static"
VENDOR_DIR = STATIC_DIR / "vendor"
_VENDOR_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_MEDIA_TYPES = {".js": "text/javascript", ".css": "text/css", ".png": "image/png"}


def create_app(store_url: str, *, settings: ApiSettings | None = None) -> FastAPI:
    """The sitewatch server on the store at ``store_url`` (opened, and migrated, now)."""
    from sitewatch.store import open_store

    settings = settings or ApiSettings()
    store = open_store(store_url)  # runs the migrations, account tables included
    accounts = Accounts(store_url)
    series_cache = new_series_cache()
    jobs = JobRunner(store, on_finished=series_cache.clear)  # a job may have rewritten counts

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        jobs.close()
        accounts.close()
        store.close()

    app = FastAPI(
        title="sitewatch",
        version=__version__,
        summary="Activity-based monitoring of facilities from satellite imagery time series",
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=None,  # served below from vendored assets instead of the CDN default
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.store, app.state.accounts, app.state.settings = store, accounts, settings
    app.state.limiter = RateLimiter(settings.rate_per_second, settings.rate_burst)
    app.state.credentials = CredentialCache()
    app.state.sites = SiteIndex(store)
    app.state.jobs, app.state.series_cache = jobs, series_cache
    app.state.change_cache = new_change_cache()

    # Each middleware added wraps the ones before it: the body limit (last) runs first, before
    # anything reads the body; the audit (first) sees the status the routes produced.
    app.add_middleware(AuditWrites, accounts=accounts)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_credentials=True,
            allow_methods=["GET", "POST", "PUT"],
            allow_headers=["X-API-Key", "Authorization", "Content-Type"],
        )
    app.add_middleware(SecurityHeaders, docs_path=DOCS_PATH)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    _add_error_handlers(app)

    @app.get(f"{API_PREFIX}/healthz", response_model=Health, tags=["health"])
    def healthz(sites: SitesDep) -> Health:
        """Liveness and a summary of the store (no credentials needed)."""
        listed = sites.all().values()
        return Health(version=__version__, sites=len(listed), simulated=any(s.simulated for s in listed))

    for module in (auth, sites, scenes, data, alerts, change, reports, jobs_routes):
        app.include_router(module.router, prefix=API_PREFIX)

    _add_web(app)
    return app


def app_from_env() -> FastAPI:
    """:func:`create_app` for ``uvicorn --factory`` and worker processes.

    The store URL comes from ``SITEWATCH_DB`` (or the default store), the settings from
    ``SITEWATCH_API_SETTINGS`` (JSON of :class:`ApiSettings`). Each worker keeps its own
    rate limits and caches.
    """
    text = os.environ.get(ENV_SETTINGS)
    return create_app(default_db_url(), settings=ApiSettings.from_json(text) if text else None)


def _add_error_handlers(app: FastAPI) -> None:
    # Messages keep the problem and the fix but not the path: it names the server's files.
    def handler(code: int) -> Callable[[Request, Exception], Awaitable[JSONResponse]]:
        async def handle(_: Request, exc: Exception) -> JSONResponse:
            assert isinstance(exc, SitewatchError)
            detail = exc.problem + (f" — fix: {exc.fix}" if exc.fix else "")
            return JSONResponse({"detail": detail}, status_code=code)

        return handle

    # Starlette picks the handler of the nearest class in the exception's MRO: subclasses first.
    app.add_exception_handler(NotFoundError, handler(status.HTTP_404_NOT_FOUND))
    app.add_exception_handler(ImageError, handler(status.HTTP_502_BAD_GATEWAY))
    app.add_exception_handler(InputError, handler(status.HTTP_400_BAD_REQUEST))
    app.add_exception_handler(StoreError, handler(status.HTTP_503_SERVICE_UNAVAILABLE))
    app.add_exception_handler(ExportError, handler(status.HTTP_501_NOT_IMPLEMENTED))
    app.add_exception_handler(SitewatchError, handler(status.HTTP_500_INTERNAL_SERVER_ERROR))


def _add_web(app: FastAPI) -> None:
    vendored = {p.name.removesuffix(".gz") for p in VENDOR_DIR.glob("*.gz")}

    @app.get(DOCS_PATH, include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=f"{API_PREFIX}/openapi.json",
            title="sitewatch API",
            swagger_js_url="/static/vendor/swagger-ui-bundle.js",
            swagger_css_url="/static/vendor/swagger-ui.css",
            swagger_favicon_url="/static/vendor/swagger-favicon.png",
        )

    @app.get("/static/vendor/{name}", include_in_schema=False)
    def vendor(name: str, request: Request) -> Response:
        """A vendored front-end file, sent gzip-compressed as stored (inflated for the rare client that can't)."""
        if not _VENDOR_NAME.match(name) or name not in vendored:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no vendored file {name!r}; run scripts/build-web.sh")
        body = (VENDOR_DIR / f"{name}.gz").read_bytes()
        media = _MEDIA_TYPES.get(Path(name).suffix, "application/octet-stream")
        headers = {"Cache-Control": "public, max-age=86400", "Vary": "Accept-Encoding"}
        if "gzip" in request.headers.get("accept-encoding", ""):
            return Response(body, media_type=media, headers={**headers, "Content-Encoding": "gzip"})
        return Response(gzip.decompress(body), media_type=media, headers=headers)

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/", include_in_schema=False)
    def dashboard() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html")
