"""GIST indexes on the geometry columns (PostGIS only; SQLite filters on the bbox columns).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

#: (table, geometry column) pairs; index names start with ``gix_`` so tools can tell them apart.
SPATIAL_COLUMNS = (
    ("sites", "aoi"),
    ("zones", "geometry"),
    ("scenes", "footprint"),
    ("scenes", "valid"),
    ("detections", "geometry"),
)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, column in SPATIAL_COLUMNS:
        op.create_index(f"gix_{table}_{column}", table, [column], postgresql_using="gist")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, column in SPATIAL_COLUMNS:
        op.drop_index(f"gix_{table}_{column}", table_name=table)
