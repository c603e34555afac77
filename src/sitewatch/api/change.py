"""Change between two scenes for the API: computed by :mod:`sitewatch.change`, cached per scene pair.

A comparison reads both scenes on a common grid, co-registers them and runs IR-MAD: about
a second for a small site, up to ~10 s for a 5,000 × 5,000 px pair on 2 cores. Clients
ask for the JSON and then the figure of the same pair, so both are made once and kept
(a few hundred kB each, never the pixels) for :data:`CACHE_SECONDS`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sitewatch.api.cache import TtlCache
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


#: The comparisons of one server worker (:func:`servable` results).
ChangeCache = TtlCache[ChangeKey, CachedChange]


def new_change_cache() -> ChangeCache:
    return ChangeCache(CACHE_SIZE, CACHE_SECONDS)


def change_key(site_id: str, before: Scene, after: Scene, detector: str | None) -> ChangeKey:
    """Cache key of a comparison: content hashes make a re-ingested scene a new entry."""
    return site_id, before.id, before.content_hash, after.id, after.content_hash, detector


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
            "flows": [ZoneFlowOut.model_validate(f, from_attributes=True) for f in result.flows],
            "detector": result.detector,
            "summary": summary_line(result),
            "caveats": result.caveats(),
            "polygons": FeatureCollection.model_validate(regions_geojson(result)),
            "figure_url": figure_url,
            "simulated": result.simulated,
        }
    )
