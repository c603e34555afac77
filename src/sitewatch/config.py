"""Where sitewatch keeps things: data directory and default store URL."""

from __future__ import annotations

import os
from pathlib import Path

from platformdirs import user_data_dir

ENV_DB = "SITEWATCH_DB"
ENV_HOME = "SITEWATCH_HOME"


def data_dir() -> Path:
    """The user's sitewatch data directory (``SITEWATCH_HOME`` overrides it)."""
    home = os.environ.get(ENV_HOME)
    path = Path(home) if home else Path(user_data_dir("sitewatch", appauthor=False))
    path.mkdir(parents=True, exist_ok=True)
    return path


def default_db_url() -> str:
    """``SITEWATCH_DB`` if set, else an SQLite file in the data directory."""
    url = os.environ.get(ENV_DB)
    if url:
        return url
    return f"sqlite:///{data_dir() / 'sitewatch.db'}"


def resolve_db_url(db: str | None) -> str:
    """A ``--db`` value may be a URL or a plain path to an SQLite file."""
    if not db:
        return default_db_url()
    if "://" in db:
        return db
    return f"sqlite:///{Path(db).expanduser().resolve()}"


ENV_SHARED = "SITEWATCH_SHARED"


def shared_dir() -> Path:
    """The read-only ``shared`` folder beside the repository (``SITEWATCH_SHARED`` overrides it).

    It holds the labelled training data and reference catalogues; code reads them there and
    never copies them into the project.
    """
    env = os.environ.get(ENV_SHARED)
    if env:
        return Path(env)
    repo_root = Path(__file__).resolve().parents[2]
    return repo_root.parent / "shared"
