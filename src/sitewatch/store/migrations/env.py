"""Alembic environment: runs on the connection handed over by the store (online only)."""

from __future__ import annotations

from alembic import context

from sitewatch.store.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("sitewatch migrations run through sitewatch.store.open_store(url), which passes a connection")

# Batch mode lets later ALTERs work on SQLite, which rebuilds tables to alter them.
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
