"""The relational schema (SQLAlchemy Core tables); Alembic migrations create it.

Geometries carry bounding-box columns (``minx``...``maxy``) so SQLite can filter
spatially with plain indexes; on PostGIS the geometry column itself is indexed.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

from sitewatch.store.types import Geometry, UTCDateTime

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


def bbox_columns() -> list[Column[float]]:
    return [Column(name, Float, nullable=True) for name in ("minx", "miny", "maxx", "maxy")]


sites = Table(
    "sites",
    metadata,
    Column("id", String, primary_key=True),
    Column("name", String, nullable=False),
    Column("country", String),
    Column("description", Text, nullable=False, default=""),
    Column("simulated", Boolean, nullable=False, default=False),
    Column("aoi", Geometry, nullable=False),
    *bbox_columns(),
)

zones = Table(
    "zones",
    metadata,
    Column("site_id", String, ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True),
    Column("id", String, primary_key=True),
    Column("name", String, nullable=False),
    Column("kind", String, nullable=False),
    Column("geometry", Geometry, nullable=False),
    Column("position", Integer, nullable=False),
)

scenes = Table(
    "scenes",
    metadata,
    Column("id", String, primary_key=True),
    Column("uri", Text, nullable=False),
    Column("acquired", UTCDateTime, nullable=False, index=True),
    Column("sensor", String, nullable=False),
    Column("gsd", Float, nullable=False),
    Column("crs", Text, nullable=False),
    Column("footprint", Geometry, nullable=False),
    Column("valid", Geometry, nullable=False),
    Column("content_hash", String, nullable=False, unique=True),
    Column("width", Integer, nullable=False),
    Column("height", Integer, nullable=False),
    Column("bands", Integer, nullable=False),
    Column("off_nadir", Float),
    Column("sun_elevation", Float),
    Column("sun_azimuth", Float),
    Column("cloud_cover", Float),
    Column("simulated", Boolean, nullable=False, default=False),
    Column("extra", JSON, nullable=False, default=dict),
    *bbox_columns(),
)

scene_sites = Table(
    "scene_sites",
    metadata,
    Column("scene_id", String, ForeignKey("scenes.id", ondelete="CASCADE"), primary_key=True),
    Column("site_id", String, ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True, index=True),
)

detection_runs = Table(
    "detection_runs",
    metadata,
    Column("scene_id", String, ForeignKey("scenes.id", ondelete="CASCADE"), primary_key=True),
    Column("detector", String, primary_key=True, index=True),
    Column("completed", UTCDateTime, nullable=False),
    Column("n", Integer, nullable=False),
)

detections = Table(
    "detections",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("scene_id", String, ForeignKey("scenes.id", ondelete="CASCADE"), nullable=False),
    Column("detector", String, nullable=False),
    Column("cls", String, nullable=False),
    Column("score", Float, nullable=False),
    Column("x0", Float, nullable=False),
    Column("y0", Float, nullable=False),
    Column("x1", Float, nullable=False),
    Column("y1", Float, nullable=False),
    Column("geometry", Geometry, nullable=False),
    Column("site_id", String, index=True),
    Column("zone_id", String),
    *bbox_columns(),
    Index(None, "scene_id", "detector"),
)

counts = Table(
    "counts",
    metadata,
    Column("site_id", String, ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True),
    Column("zone_id", String, primary_key=True),
    Column("cls", String, primary_key=True),
    Column("scene_id", String, primary_key=True),
    Column("date", Date, nullable=False),
    Column("raw", Integer, nullable=False),
    Column("observed_fraction", Float, nullable=False),
    Column("estimate", Float, nullable=False),
    Column("lo", Float, nullable=False),
    Column("hi", Float, nullable=False),
    Column("sufficient", Boolean, nullable=False),
)

#: The band each count was judged against (see :class:`sitewatch.model.Baseline`).
baselines = Table(
    "baselines",
    metadata,
    Column("site_id", String, ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True),
    Column("zone_id", String, primary_key=True),
    Column("cls", String, primary_key=True),
    Column("date", Date, primary_key=True),
    Column("expected", Float, nullable=False),
    Column("lo", Float, nullable=False),
    Column("hi", Float, nullable=False),
)

events = Table(
    "events",
    metadata,
    Column("id", String, primary_key=True),
    Column("date", Date, nullable=False, index=True),
    Column("kind", String, nullable=False),
    Column("source", String, nullable=False),
    Column("site_id", String, index=True),
    Column("facility", String),
    Column("lat", Float),
    Column("lon", Float),
    Column("description", Text, nullable=False, default=""),
    Column("simulated", Boolean, nullable=False, default=False),
)

alerts = Table(
    "alerts",
    metadata,
    Column("id", String, primary_key=True),
    Column("site_id", String, ForeignKey("sites.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("start", Date, nullable=False),
    Column("end", Date, nullable=False),
    Column("score", Float, nullable=False),
    Column("severity", String, nullable=False),
    Column("zones", JSON, nullable=False),
    Column("classes", JSON, nullable=False),
    Column("explanation", Text, nullable=False),
    Column("evidence", JSON, nullable=False),
    Column("hypotheses", JSON, nullable=False),
    Column("caveats", JSON, nullable=False),
    Column("status", String, nullable=False),
)

runs = Table(
    "runs",
    metadata,
    Column("id", String, primary_key=True),
    Column("kind", String, nullable=False, index=True),
    Column("started", UTCDateTime, nullable=False),
    Column("finished", UTCDateTime),
    Column("params", JSON, nullable=False),
)
