"""The analyst dashboard: static ES modules and vendored front-end libraries, served by :mod:`sitewatch.api`."""
