"""Exception hierarchy.

Every error names the file or object involved, the problem, and the fix, so the CLI can
print it as one line. Catch :class:`SitewatchError` to handle any of them.
"""

from __future__ import annotations

from pathlib import Path


class SitewatchError(Exception):
    """Base class. ``str(err)`` is a one-line message fit for the user."""

    def __init__(self, problem: str, *, path: str | Path | None = None, fix: str | None = None) -> None:
        self.path = str(path) if path is not None else None
        self.problem = problem
        self.fix = fix
        parts = [f"{self.path}: {problem}" if self.path else problem]
        if fix:
            parts.append(f"fix: {fix}")
        super().__init__(" — ".join(parts))


class InputError(SitewatchError):
    """Bad user input: a file, argument or value that cannot be used."""


class ImageError(InputError):
    """An image that cannot be read or used (not an image, truncated, no georeferencing...)."""


class SiteError(InputError):
    """A site catalogue problem: invalid GeoJSON, unknown site, bad zone."""


class CatalogueError(InputError):
    """An event catalogue or table that cannot be parsed."""


class SeriesError(InputError):
    """A count series (CSV) that cannot be analysed."""


class PlanningError(InputError):
    """Overpass planning input that cannot be used (malformed or stale TLE, unknown satellite, bad time range)."""


class ChangeError(InputError):
    """A pair of scenes that cannot be compared (no overlap, no common valid pixels, unlike sensors, no alignment)."""


class NoValidPixelsError(ImageError):
    """An image (or the part of it inside an AOI) that is all nodata or cloud: nothing to see."""


class ModelError(SitewatchError):
    """A detector model that is missing, corrupt or incompatible."""


class StoreError(SitewatchError):
    """The store cannot be opened, migrated or written."""


class ClusterError(SitewatchError):
    """A Dask cluster that cannot be started or reached (scheduler down, bad address)."""


class NotFoundError(SitewatchError):
    """A requested object (site, scene, alert) is not in the store."""


class ExportError(SitewatchError):
    """An export (e.g. a PDF by headless Chromium) that the tools at hand cannot produce."""
