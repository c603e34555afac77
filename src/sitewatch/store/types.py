"""Column types that keep the schema portable between SQLite and PostGIS.

:class:`Geometry` is a PostGIS ``geometry(GEOMETRY, 4326)`` on PostgreSQL and WKB bytes
elsewhere; :class:`UTCDateTime` stores aware datetimes as UTC and returns them aware, since
SQLite drops the offset.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import shapely
from shapely.geometry.base import BaseGeometry
from sqlalchemy import DateTime, LargeBinary
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine, UserDefinedType

SRID = 4326


class PostGISGeometry(UserDefinedType[Any]):
    """The PostGIS column type; values travel as hex EWKB, which PostGIS reads and writes natively."""

    cache_ok = True

    def get_col_spec(self, **_kw: Any) -> str:
        return f"geometry(GEOMETRY,{SRID})"


class Geometry(TypeDecorator[BaseGeometry]):
    """A shapely geometry in EPSG:4326."""

    impl = LargeBinary
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(PostGISGeometry())
        return dialect.type_descriptor(LargeBinary())

    def process_bind_param(self, value: BaseGeometry | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if dialect.name == "postgresql":
            return shapely.to_wkb(shapely.set_srid(value, SRID), hex=True, include_srid=True)
        return shapely.to_wkb(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> BaseGeometry | None:
        if value is None:
            return None
        # PostGIS returns hex EWKB text; SQLite the stored bytes. shapely reads both.
        geom = shapely.from_wkb(value if isinstance(value, str) else bytes(value))
        return shapely.set_srid(geom, 0) if dialect.name == "postgresql" else geom


class UTCDateTime(TypeDecorator[dt.datetime]):
    """An aware datetime, stored in UTC; naive values are refused."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()} cannot be stored; give it in UTC")
        value = value.astimezone(dt.UTC)
        # SQLite compares datetimes as text, so every stored value must share one format.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)
