"""Per site/zone/class counts on one scene, corrected for coverage and detectability.

Each present object is seen with probability ``q = observed_fraction × detectability``
(binomial thinning), so ``raw ~ Poisson(q·N)`` and the corrected estimate is ``raw / q``.
The interval is the exact (Garwood) Poisson interval for ``raw`` scaled by ``1/q``; its
lower end is never below ``raw`` since every detection is taken as a real object (unless a
detector's calibration says it yields more than one detection per object). A zone
not seen at all (``q = 0``), or a class the detector barely finds on that scene (a detection
rate under :data:`MIN_DETECTION_RATE`), says nothing about the true count: it is stored as
``estimate = lo = hi = raw`` (what was detected, all values finite so they serialise as
plain JSON) with ``sufficient=False``, which is what marks it as unusable.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import shapely
from scipy.stats import chi2
from shapely.geometry.base import BaseGeometry

from sitewatch.counts.coverage import observed_fraction
from sitewatch.counts.detectability import DEFAULT_DETECTABILITY, DetectabilityModel
from sitewatch.model import CLASSES, Count, Detection, Scene, Site

#: Below this observed fraction a count is flagged ``sufficient=False`` (never read as zero).
MIN_OBSERVED_FRACTION = 0.5
#: Below this detection rate (detections per present object) a scene says too little about
#: a class: its count is flagged ``sufficient=False`` instead of being multiplied up.
MIN_DETECTION_RATE = 0.05
#: Zone id used for a site that has no zones: the whole AOI is counted.
AOI_ZONE_ID = "aoi"


def poisson_interval(raw: int, q: float, level: float = 0.95) -> tuple[float, float]:
    """Garwood interval for the true count ``N`` given ``raw ~ Poisson(q·N)``.

    With ``q <= 1`` every detection is taken as a real object, so the lower end is at least
    ``raw``; a calibrated ``q > 1`` says the detector also finds things that are not there.
    """
    a = (1.0 - level) / 2.0
    lo = 0.0 if raw == 0 else float(chi2.ppf(a, 2 * raw)) / 2.0
    hi = float(chi2.ppf(1.0 - a, 2 * raw + 2)) / 2.0
    return (max(float(raw), lo / q) if q <= 1.0 else lo / q), hi / q


def thinning_of(raw: np.ndarray, hi: np.ndarray, level: float = 0.95) -> np.ndarray:
    """The ``q`` a count was corrected with, recovered from its interval (``hi = upper(raw) / q``).

    Counts store the interval, not ``q``; this inverts :func:`poisson_interval` exactly, for
    every row (including ``raw = 0``, where ``raw / estimate`` says nothing).
    """
    upper = chi2.ppf(1.0 - (1.0 - level) / 2.0, 2 * np.asarray(raw, dtype=float) + 2) / 2.0
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(upper / np.asarray(hi, dtype=float), dtype=float)


def _zones(site: Site) -> list[tuple[str, BaseGeometry]]:
    return [(z.id, z.geometry) for z in site.zones] or [(AOI_ZONE_ID, site.aoi)]


def _assign_zone(detections: Sequence[Detection], zones: list[tuple[str, BaseGeometry]]) -> list[str | None]:
    """Zone of each detection: the stored ``zone_id`` when known, else the zone holding its centre."""
    ids = {zid for zid, _ in zones}
    out: list[str | None] = [d.zone_id if d.zone_id in ids else None for d in detections]
    todo = [i for i, z in enumerate(out) if z is None]
    if todo:
        centres = shapely.centroid(np.array([detections[i].geometry for i in todo], dtype=object))
        for zid, geom in zones:
            hit = shapely.contains(geom, centres)
            for j in np.flatnonzero(hit):
                if out[todo[j]] is None:
                    out[todo[j]] = zid
    return out


def compute_counts(
    site: Site,
    scene: Scene,
    detections: Iterable[Detection],
    *,
    classes: Sequence[str] = CLASSES,
    detectability: DetectabilityModel = DEFAULT_DETECTABILITY,
    min_observed_fraction: float = MIN_OBSERVED_FRACTION,
) -> list[Count]:
    """One :class:`Count` per zone and class of ``site`` on ``scene`` (zeros included).

    Detections of other scenes or sites are ignored. A zone seen less than
    ``min_observed_fraction``, or a class detected at under :data:`MIN_DETECTION_RATE` on
    this scene, gets ``sufficient=False``, so it can never be mistaken for an empty zone or
    read as a wildly scaled-up one; every number is finite (see the module docstring for
    unseen zones).
    """
    dets = [d for d in detections if d.scene_id == scene.id and d.site_id in (None, site.id) and d.cls in classes]
    zones = _zones(site)
    zone_of = _assign_zone(dets, zones)
    tally: dict[tuple[str, str], int] = {}
    for d, zid in zip(dets, zone_of, strict=True):
        if zid is not None:
            tally[(zid, d.cls)] = tally.get((zid, d.cls), 0) + 1

    p_det = {c: detectability.rate(c, scene.gsd, scene.off_nadir, scene.sun_elevation) for c in classes}
    day = scene.acquired.date()
    counts: list[Count] = []
    for zid, geom in zones:
        frac = observed_fraction(geom, scene.valid)
        for cls in classes:
            q = frac * p_det[cls]
            raw = tally.get((zid, cls), 0)
            informative = q > 0.0 and p_det[cls] >= MIN_DETECTION_RATE
            if informative:
                lo, hi = poisson_interval(raw, q)
                est = raw / q
            else:  # nothing seen, or barely detectable: only what was detected, flagged insufficient
                est = lo = hi = float(raw)
            counts.append(
                Count(
                    site_id=site.id,
                    zone_id=zid,
                    cls=cls,
                    date=day,
                    scene_id=scene.id,
                    raw=raw,
                    observed_fraction=round(frac, 6),
                    estimate=est,
                    lo=lo,
                    hi=hi,
                    sufficient=frac >= min_observed_fraction and informative,
                )
            )
    return counts
