"""Portable column types: WKB on SQLite, PostGIS geometry on PostgreSQL (compiled, no server)."""

from __future__ import annotations

import datetime as dt

import pytest
import shapely
from shapely.geometry import box
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.schema import CreateTable

from sitewatch.store import schema as t
from sitewatch.store.types import UTCDateTime


def test_postgis_is_a_change_of_url() -> None:
    pg = postgresql.dialect()
    assert "aoi geometry(GEOMETRY,4326) NOT NULL" in str(CreateTable(t.sites).compile(dialect=pg))
    geom_type = t.sites.c.aoi.type.dialect_impl(pg)
    shape = shapely.Polygon([(0.123456789012, 0), (2, 0), (2, 1)])
    bind = geom_type.bind_processor(pg)
    assert bind is not None
    sent = bind(shape)
    # Hex EWKB (PostGIS's own text form): exact coordinates and the SRID travel together.
    assert shapely.get_srid(shapely.from_wkb(sent)) == 4326
    result = geom_type.result_processor(pg, None)
    assert result is not None
    back = result(sent)
    assert back is not None and back.equals_exact(shape, 0) and shapely.get_srid(back) == 0


def test_sqlite_stores_wkb_with_bbox_columns() -> None:
    lite = sqlite.dialect()
    ddl = str(CreateTable(t.scenes).compile(dialect=lite))
    assert "footprint BLOB NOT NULL" in ddl and "minx FLOAT" in ddl
    geom_type = t.scenes.c.footprint.type.dialect_impl(lite)
    bind = geom_type.bind_processor(lite)
    assert bind is not None
    raw = bind(box(0, 0, 1, 1))
    assert shapely.from_wkb(raw).equals(box(0, 0, 1, 1))


def test_utc_datetime_normalises_and_refuses_naive() -> None:
    col = UTCDateTime()
    lite = sqlite.dialect()
    kst = dt.timezone(dt.timedelta(hours=9))
    stored = col.process_bind_param(dt.datetime(2024, 3, 1, 11, 13, tzinfo=kst), lite)
    assert stored == dt.datetime(2024, 3, 1, 2, 13)  # UTC wall time, so text order is time order
    assert col.process_result_value(stored, lite) == dt.datetime(2024, 3, 1, 2, 13, tzinfo=dt.UTC)
    with pytest.raises(ValueError, match="naive datetime"):
        col.process_bind_param(dt.datetime(2024, 3, 1), lite)
