"""REST API server (FastAPI): :func:`sitewatch.api.app.create_app` builds it."""
