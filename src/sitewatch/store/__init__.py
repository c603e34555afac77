"""Persistence behind one repository interface (:class:`sitewatch.store.base.Store`).

``open_store(url)`` picks the back end from the URL: ``sqlite:///path`` (default, WAL) or
``postgresql+psycopg://...`` (PostGIS); without a URL it uses
:func:`sitewatch.config.default_db_url` (``SITEWATCH_DB`` or the user data directory).
The schema is migrated to the latest revision on open.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sitewatch.config import default_db_url

if TYPE_CHECKING:
    from sitewatch.store.sql import SqlStore


def open_store(url: str | None = None) -> SqlStore:
    """Open (creating and migrating if needed) the store at ``url``."""
    from sitewatch.store.sql import SqlStore

    return SqlStore(url or default_db_url())


__all__ = ["open_store"]
