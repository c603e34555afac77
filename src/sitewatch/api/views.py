"""Pure helpers behind the routes: baseline bands and detection filters."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import shapely

from sitewatch.analytics.baseline import score_observations
from sitewatch.analytics.series import counts_frame
from sitewatch.model import Count, Detection

#: (zone_id, cls, date) -> (expected, lo, hi)
Bands = dict[tuple[str, str, dt.date], tuple[float, float, float]]


@lru_cache(maxsize=256)
def baseline_bands(counts: tuple[Count, ...]) -> Bands:
    """The causal baseline of each observation day as ``μ ± 2 sd`` (lo floored at 0).

    Computed with :func:`sitewatch.analytics.baseline.score_observations`, so the band is
    the one the alerts were judged against. Cached on the (hashable) counts, so repeated
    queries of an unchanged series cost one hash.
    """
    if not counts:
        return {}
    scored = score_observations(counts_frame(counts))
    scored = scored[np.isfinite(scored["mu"].astype(float))]
    out: Bands = {}
    for zone_id, cls, day, mu, sd in zip(
        scored["zone_id"], scored["cls"], scored["date"], scored["mu"], scored["sd"], strict=True
    ):
        mu, sd = float(mu), float(sd) if math.isfinite(sd) else 0.0
        out[(zone_id, cls, day.date())] = (round(mu, 3), round(max(0.0, mu - 2 * sd), 3), round(mu + 2 * sd, 3))
    return out


def filter_bbox(detections: Sequence[Detection], bbox: tuple[float, float, float, float]) -> list[Detection]:
    """Detections whose ground polygon intersects ``bbox`` (minx, miny, maxx, maxy; EPSG:4326)."""
    if not detections:
        return []
    hits = shapely.intersects(np.array([d.geometry for d in detections]), shapely.box(*bbox))
    return [d for d, hit in zip(detections, hits.tolist(), strict=True) if hit]
