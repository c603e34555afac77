"""Change between two scenes for the API: computed by :mod:`sitewatch.change`, cached per scene pair.

A comparison reads both scenes on a common grid, co-registers them and runs IR-MAD: about
a second for a small site, up to ~10 s for a 5,000 × 5,000 px pair on 2 cores. Clients
ask for the JSON and then the figure of the same pair, so both are made once and kept
(a few hundred kB each, never the pixels) for :data:`CACHE_SECONDS`.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from sitewatch.api.schemas import (
    AlignmentOut,
    ChangeGridOut,
    ChangeOut,
    ChangeSceneOut,
    FeatureCollection,
    ZoneFlowOut,
    finite,
)
from sitewatch.change.align import Alignment
from sitewatch.change.outputs import figure_png, regions_geojson, summary_line
from sitewatch.change.pipeline import ChangeResult, caveats
from sitewatch.change.structures import STRUCTURE_KINDS
from sitewatch.model import Scene

#: Comparisons kept per worker, and for how long: stored detections may be replaced by a new run.
CACHE_SIZE = 16
CACHE_SECONDS = 600.0


@dataclass(frozen=True)
class CachedChange:
    """A comparison as served: the response body, the figure, and what its caveats rest on."""

    body: ChangeOut
    png: bytes
    before: Scene
    after: Scene
    alignment: Alignment
    res: float

    def answer(self, requested: tuple[dt.date, dt.date] | None, figure_url: str) -> ChangeOut:
        """The body for one request: the dates asked for (default: the scenes' own) and their caveats.

        Different dates may pick the same pair; only the date caveats differ, so the cache
        is per pair and these are redone per request.
        """
        requested = requested or (self.before.acquired.date(), self.after.acquired.date())
        notes = caveats(self.before, self.after, self.alignment, self.res, requested, self.body.detector)
        return self.body.model_copy(update={"requested": requested, "caveats": notes, "figure_url": figure_url})


#: (site, before scene and content hash, after scene and content hash, detector)
ChangeKey = tuple[str, str, str, str, str, str | None]


def change_key(site_id: str, before: Scene, after: Scene, detector: str | None) -> ChangeKey:
    """Cache key of a comparison: content hashes make a re-ingested scene a new entry."""
    return site_id, before.id, before.content_hash, after.id, after.content_hash, detector


class ChangeCache:
    """Least recently used comparisons, each computed once even when asked for twice at a time."""

    def __init__(self, size: int = CACHE_SIZE, ttl: float = CACHE_SECONDS) -> None:
        self.size, self.ttl = size, ttl
        self._entries: OrderedDict[ChangeKey, tuple[float, CachedChange]] = OrderedDict()
        self._lock = threading.Lock()
        self._computing: dict[ChangeKey, threading.Lock] = {}

    def get(self, key: ChangeKey, compute: Callable[[], ChangeResult]) -> CachedChange:
        """The cached comparison for ``key``, or ``compute()`` made servable and cached.

        Errors (a pair that cannot be compared) are not cached: they are cheap to find again.
        """
        hit = self._lookup(key)
        if hit is not None:
            return hit
        with self._lock:
            pending = self._computing.setdefault(key, threading.Lock())
        with pending:  # a second request for the same pair waits for the first
            hit = self._lookup(key)
            if hit is not None:
                return hit
            try:
                entry = servable(compute())
            finally:
                with self._lock:
                    self._computing.pop(key, None)
            with self._lock:
                self._entries[key] = (time.monotonic() + self.ttl, entry)
                while len(self._entries) > self.size:
                    self._entries.popitem(last=False)
            return entry

    def _lookup(self, key: ChangeKey) -> CachedChange | None:
        with self._lock:
            found = self._entries.get(key)
            if found is None:
                return None
            if found[0] < time.monotonic():
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return found[1]


def servable(result: ChangeResult) -> CachedChange:
    """``result`` as the API body and PNG figure (the pixels are dropped here)."""
    return CachedChange(
        change_out(result, figure_url=""),
        figure_png(result),
        result.before,
        result.after,
        result.pair.alignment,
        result.grid.res,
    )


def change_out(result: ChangeResult, *, figure_url: str) -> ChangeOut:
    """The response body of a comparison, from the same summary the CLI prints."""
    s = result.summary()
    a, g = result.pair.alignment, result.grid
    regions = result.region_counts()
    # The scalar headline numbers come from the summary the CLI prints, validated here.
    headline = ("valid_fraction", "changed_fraction", "changed_area_m2", "parked_through", "longest_dwell_days")
    return ChangeOut.model_validate(
        {
            **{k: s[k] for k in headline},
            "site_id": result.site.id,
            "requested": result.requested,
            "before": ChangeSceneOut.of(result.before),
            "after": ChangeSceneOut.of(result.after),
            "grid": ChangeGridOut(crs=g.crs, res_m=g.res, width=g.width, height=g.height),
            "alignment": AlignmentOut(
                shift_px=(float(a.shift[0]), float(a.shift[1])),
                shift_m=float(a.shift_px * g.res),
                residual_px=finite(float(a.residual_px)),
                residual_m=finite(float(a.residual_px * g.res)),
                ncc=finite(float(a.ncc)),
                tiles=a.tiles,
                inliers=a.inliers,
                reliable=a.reliable,
            ),
            "regions": regions,
            "structure_changes": {k: n for k, n in regions.items() if k in STRUCTURE_KINDS},
            "objects": result.object_counts(),
            "flows": [
                ZoneFlowOut(
                    zone_id=f.zone_id,
                    cls=f.cls,
                    appeared=f.appeared,
                    departed=f.departed,
                    moved=f.moved,
                    stayed=f.stayed,
                    unobserved=f.unobserved,
                )
                for f in result.flows
            ],
            "detector": result.detector,
            "summary": summary_line(result),
            "caveats": result.caveats(),
            "polygons": FeatureCollection.model_validate(regions_geojson(result)),
            "figure_url": figure_url,
            "simulated": result.simulated,
        }
    )
