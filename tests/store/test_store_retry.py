"""SQLite: BEGIN is retried with backoff when the write lock stays taken past the busy timeout."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from shapely.geometry import box

from sitewatch.errors import StoreError
from sitewatch.model import Site
from sitewatch.store import open_store
from sitewatch.store import sql as store_sql

SITE = Site("s1", "Site", box(124.0, 39.0, 124.01, 39.01))


@pytest.fixture
def locked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, sqlite3.Connection]:
    """A migrated store whose write lock another connection holds; busy timeout cut to 20 ms."""
    url = f"sqlite:///{tmp_path / 's.db'}"
    open_store(url).close()
    monkeypatch.setattr(store_sql, "BUSY_TIMEOUT_MS", 20)
    holder = sqlite3.connect(tmp_path / "s.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    return url, holder


def test_a_writer_waits_out_a_lock_held_past_the_busy_timeout(
    locked: tuple[str, sqlite3.Connection], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, holder = locked
    pauses: list[float] = []

    def pause(seconds: float) -> None:
        pauses.append(seconds)
        if len(pauses) == 2:
            holder.execute("COMMIT")  # the other writer finishes during the second pause

    monkeypatch.setattr(store_sql, "_retry_sleep", pause)
    with open_store(url) as store:  # opening writes too (the migration check)
        store.upsert_site(SITE)
        assert [s.id for s in store.list_sites()] == ["s1"]
    assert pauses == [store_sql.BEGIN_BACKOFF_S, 2 * store_sql.BEGIN_BACKOFF_S]
    holder.close()


def test_a_lock_that_never_comes_free_is_a_clear_store_error(
    locked: tuple[str, sqlite3.Connection], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, holder = locked
    pauses: list[float] = []
    monkeypatch.setattr(store_sql, "_retry_sleep", pauses.append)
    with pytest.raises(StoreError, match=r"database is locked.*fix:"):
        open_store(url)
    assert len(pauses) == store_sql.BEGIN_ATTEMPTS - 1
    assert pauses == sorted(pauses) and pauses[-1] > pauses[0]  # backs off
    holder.execute("COMMIT")
    holder.close()
