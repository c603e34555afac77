"""Alembic migrations of the store schema, applied by :func:`sitewatch.store.open_store`."""
