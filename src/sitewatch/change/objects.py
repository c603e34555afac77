"""Object-level change: detections of two dates matched on the ground.

Detections are matched one to one by Hungarian assignment on the distance between their
ground centres (metres, in a local UTM CRS), within a distance gate and within a class.
Matched pairs closer than ``stay_m`` *stayed*, further ones *moved*; unmatched
detections *appeared* or *departed* only where the other date saw the ground clearly —
an object under a cloud on the other date is *unobserved*, never a departure.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import shapely
from scipy.optimize import linear_sum_assignment
from shapely.geometry.base import BaseGeometry

from sitewatch.change.grid import metric_crs
from sitewatch.imagery.raster import reproject_geometry
from sitewatch.model import Detection, Site

#: Kinds of object change.
OBJECT_KINDS: tuple[str, ...] = ("appeared", "departed", "moved", "stayed", "unobserved")
#: Matched objects further apart than this moved (covers residual misregistration).
STAY_M = 2.0
#: Objects further apart than this are never the same object. Kept small: in a car park a
#: vehicle two slots away is far more often another vehicle than the same one moved.
GATE_M = 5.0


@dataclass(frozen=True)
class ObjectChange:
    """One object's fate between two dates; ``before``/``after`` is None on the side it is absent."""

    kind: str
    cls: str
    before: Detection | None
    after: Detection | None
    distance_m: float | None = None
    zone_id: str | None = None

    def __post_init__(self) -> None:
        if self.before is None and self.after is None:
            raise ValueError("an object change needs a detection on at least one date")
        if self.kind not in OBJECT_KINDS:
            raise ValueError(f"unknown object change {self.kind!r}; use one of {', '.join(OBJECT_KINDS)}")

    @property
    def point(self) -> BaseGeometry:
        """Ground centre (EPSG:4326): where it is after, or where it was before."""
        det = self.after or self.before
        assert det is not None  # guaranteed by __post_init__
        return det.geometry.centroid


@dataclass(frozen=True)
class ZoneFlow:
    """Arrivals and departures of one class in one zone between two dates."""

    zone_id: str | None
    cls: str
    appeared: int
    departed: int
    moved: int
    stayed: int
    unobserved: int

    @property
    def net(self) -> int:
        return self.appeared - self.departed


def ground_xy(detections: Sequence[Detection], crs: str) -> np.ndarray:
    """(N, 2) ground centres of ``detections`` in metric ``crs``."""
    if not detections:
        return np.zeros((0, 2))
    pts = shapely.centroid(np.array([d.geometry for d in detections], dtype=object))
    projected = reproject_geometry(shapely.MultiPoint(list(pts)), "EPSG:4326", crs)
    return np.asarray([(p.x, p.y) for p in projected.geoms])


def match_detections(
    before: Sequence[Detection],
    after: Sequence[Detection],
    *,
    gate_m: float = GATE_M,
    same_class: bool = True,
    crs: str | None = None,
    after_offset_m: tuple[float, float] = (0.0, 0.0),
) -> list[tuple[int, int, float]]:
    """Pairs (i_before, j_after, distance_m) of a minimum-total-distance one-to-one matching within ``gate_m``.

    ``after_offset_m`` (x, y in metres of the metric ``crs``) is added to the after
    positions: the misregistration measured between the two scenes.
    """
    if not before or not after:
        return []
    crs = crs or metric_crs("EPSG:4326", before[0].geometry)
    a, b = ground_xy(before, crs), ground_xy(after, crs) + np.asarray(after_offset_m)
    dist = np.hypot(a[:, None, 0] - b[None, :, 0], a[:, None, 1] - b[None, :, 1])
    cost = dist.copy()
    forbidden = dist > gate_m
    if same_class:
        forbidden |= np.array([d.cls for d in before])[:, None] != np.array([d.cls for d in after])[None, :]
    # A cost above any allowed total makes the solver prefer leaving a pair unmatched.
    cost[forbidden] = gate_m * (len(before) + len(after)) + 1.0
    rows, cols = linear_sum_assignment(cost)
    return [(int(i), int(j), float(dist[i, j])) for i, j in zip(rows, cols, strict=True) if not forbidden[i, j]]


def _zone_of(det: Detection, site: Site | None) -> str | None:
    if det.zone_id is not None or site is None:
        return det.zone_id
    c = det.geometry.centroid
    return next((z.id for z in site.zones if z.geometry.covers(c)), None)


def object_changes(
    before: Sequence[Detection],
    after: Sequence[Detection],
    *,
    before_valid: BaseGeometry | None = None,
    after_valid: BaseGeometry | None = None,
    site: Site | None = None,
    gate_m: float = GATE_M,
    stay_m: float = STAY_M,
    same_class: bool = True,
    crs: str | None = None,
    after_offset_m: tuple[float, float] = (0.0, 0.0),
) -> list[ObjectChange]:
    """Every detection of either date as appeared, departed, moved, stayed or unobserved.

    ``before_valid``/``after_valid`` (EPSG:4326) is the ground each date saw clearly; when
    given, an unmatched detection outside the other date's valid area is ``unobserved``.
    ``crs`` and ``after_offset_m`` correct the after positions for misregistration
    (see :func:`match_detections`).
    """
    pairs = match_detections(
        before, after, gate_m=gate_m, same_class=same_class, crs=crs, after_offset_m=after_offset_m
    )
    out = []
    for i, j, d in pairs:
        kind = "stayed" if d <= stay_m else "moved"
        out.append(ObjectChange(kind, after[j].cls, before[i], after[j], d, _zone_of(after[j], site)))
    matched_b, matched_a = {i for i, _, _ in pairs}, {j for _, j, _ in pairs}
    for i, det in enumerate(before):
        if i not in matched_b:
            seen = after_valid is None or after_valid.covers(det.geometry.centroid)
            kind = "departed" if seen else "unobserved"
            out.append(ObjectChange(kind, det.cls, det, None, None, _zone_of(det, site)))
    for j, det in enumerate(after):
        if j not in matched_a:
            seen = before_valid is None or before_valid.covers(det.geometry.centroid)
            kind = "appeared" if seen else "unobserved"
            out.append(ObjectChange(kind, det.cls, None, det, None, _zone_of(det, site)))
    return out


def zone_flows(changes: Sequence[ObjectChange]) -> list[ZoneFlow]:
    """Per zone and class counts of each kind of change, sorted by zone then class."""
    tally = Counter((c.zone_id, c.cls, c.kind) for c in changes)
    keys = sorted({(z, c) for z, c, _ in tally}, key=lambda k: (k[0] or "", k[1]))
    kinds = ("appeared", "departed", "moved", "stayed", "unobserved")
    return [ZoneFlow(z, c, *(tally[(z, c, k)] for k in kinds)) for z, c in keys]


@dataclass(frozen=True)
class Track:
    """An object followed across a series of scenes while it stays put (a parked vehicle)."""

    cls: str
    first_seen: dt.datetime
    last_seen: dt.datetime
    scenes: int
    geometry: BaseGeometry  # EPSG:4326, where it was last seen

    @property
    def dwell(self) -> dt.timedelta:
        return self.last_seen - self.first_seen


def dwell_tracks(
    series: Sequence[tuple[dt.datetime, Sequence[Detection], BaseGeometry | None]], *, stay_m: float = STAY_M
) -> list[Track]:
    """Chain detections that stay within ``stay_m`` across a series of scenes into tracks.

    ``series`` is (acquired, detections, valid area or None) per scene. A track ends at the
    first scene that saw its place clearly without it there (it moved or left); a scene
    that did not see its place (cloud, outside the footprint) leaves it open. Dwell is
    therefore a lower bound, from first to last sighting.
    """
    done: list[Track] = []
    open_: list[tuple[Track, Detection]] = []  # each open track with its last sighting
    for when, dets, valid in sorted(series, key=lambda s: s[0]):
        matched = {i: j for i, j, _ in match_detections([d for _, d in open_], dets, gate_m=stay_m)}
        still: list[tuple[Track, Detection]] = []
        for i, (track, last) in enumerate(open_):
            if i in matched:
                det = dets[matched[i]]
                still.append((Track(track.cls, track.first_seen, when, track.scenes + 1, det.geometry), det))
            elif valid is not None and not valid.covers(last.geometry.centroid):
                still.append((track, last))  # not seen this time: it may still be there
            else:
                done.append(track)
        taken = set(matched.values())
        still += [(Track(d.cls, when, when, 1, d.geometry), d) for j, d in enumerate(dets) if j not in taken]
        open_ = still
    return sorted([*done, *(t for t, _ in open_)], key=lambda t: (-t.dwell, t.cls))
