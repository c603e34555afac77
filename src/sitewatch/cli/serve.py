"""The ``serve`` command: the REST API, Swagger UI and dashboard on one uvicorn server."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sitewatch.cli._common import DbOption, err_console, user_errors


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)


def serve(
    db: DbOption = None,
    host: Annotated[str, typer.Option(help="Address to listen on (0.0.0.0 exposes it to the network).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Server processes (one per core serves most).")] = 1,
    cors: Annotated[list[str] | None, typer.Option("--cors", help="Allow this browser origin (repeatable).")] = None,
    secure_cookies: Annotated[bool, typer.Option(help="Mark the session cookie Secure (behind HTTPS).")] = False,
    ingest_root: Annotated[
        Path | None, typer.Option(help="Folder that ingest jobs (POST /api/v1/jobs) may read; off by default.")
    ] = None,
) -> None:
    """Serve the API (/api/v1, docs at /docs) and the dashboard (/) on the store.

    Create the first account with `sitewatch users add NAME --role admin`.
    """
    import os

    import uvicorn

    from sitewatch.api.app import create_app
    from sitewatch.api.settings import ENV_SETTINGS, ApiSettings
    from sitewatch.config import ENV_DB, resolve_db_url
    from sitewatch.store import open_store

    url = resolve_db_url(db)
    settings = ApiSettings(
        cors_origins=tuple(cors or ()),
        secure_cookies=secure_cookies,
        ingest_root=str(ingest_root.resolve()) if ingest_root else None,
    )
    with user_errors():
        open_store(url).close()  # fail here, not in every worker; and migrate once, before they start
        app = create_app(url, settings=settings) if workers == 1 else None
    err_console.print(f"sitewatch on http://{host}:{port}/ (API docs: /docs); Ctrl+C stops it")
    if app is not None:
        uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False, server_header=False)
        return
    # Worker processes build their own app from the environment (rate limits are per worker).
    os.environ[ENV_DB], os.environ[ENV_SETTINGS] = url, settings.to_json()
    # A worker imports the whole stack before answering the supervisor: allow for a busy machine.
    uvicorn.run(
        "sitewatch.api.app:app_from_env",
        factory=True,
        workers=workers,
        timeout_worker_healthcheck=60,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        server_header=False,
    )
