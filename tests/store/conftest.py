"""Store back ends for the store tests: SQLite always, PostGIS when ``SITEWATCH_TEST_PG_URL`` is set.

Each PostGIS test gets its own schema (first on ``search_path``, dropped afterwards), so
tests never see each other's rows and the shared database stays clean.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

PG_ENV = "SITEWATCH_TEST_PG_URL"
PG_SKIP = f"PostGIS tests need {PG_ENV} (run `bash scripts/start-postgis.sh` and export the URL it prints)"


@contextlib.contextmanager
def postgis_schema_url(base_url: str) -> Iterator[str]:
    """A URL on ``base_url`` whose tables land in a fresh schema, dropped on exit."""
    schema = f"sw_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(base_url)
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    # PostGIS types live in ``public``; keep it on the path after the test schema.
    url = make_url(base_url).update_query_dict({"options": f"-csearch_path={schema},public"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgis"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty store URL on each back end."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(PG_SKIP)
    with postgis_schema_url(base) as url:
        yield url
