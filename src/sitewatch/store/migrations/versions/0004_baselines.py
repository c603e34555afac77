"""Baseline bands stored with the counts, so readers never fit a model per request.

Stores made before this revision get an empty table; ``sitewatch analyze`` fills it.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "baselines",
        sa.Column("site_id", sa.String(), nullable=False),
        sa.Column("zone_id", sa.String(), nullable=False),
        sa.Column("cls", sa.String(), nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("expected", sa.Float(), nullable=False),
        sa.Column("lo", sa.Float(), nullable=False),
        sa.Column("hi", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"], name=op.f("fk_baselines_site_id_sites"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("site_id", "zone_id", "cls", "date", name=op.f("pk_baselines")),
    )


def downgrade() -> None:
    op.drop_table("baselines")
