"""Before/after comparison of a site: pick scenes, co-register, detect and describe change.

:func:`compare_arrays` is the pure core (arrays in, change out) used by the benchmark and
the pair evaluation; :func:`compare_site` adds the store, scene choice and object change.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import cv2
import numpy as np
import shapely

from sitewatch.change.align import Alignment, apply_shift, estimate_shift
from sitewatch.change.grid import Grid, check_pair, common_grid, read_on_grid
from sitewatch.change.objects import ObjectChange, Track, ZoneFlow, dwell_tracks, object_changes, zone_flows
from sitewatch.change.pixel import PixelChange, detect_change, normalise
from sitewatch.change.regions import ChangeRegion, extract_regions, mark_vehicles
from sitewatch.change.structures import ShapeRules
from sitewatch.errors import ChangeError
from sitewatch.model import Scene, Site
from sitewatch.store.base import Store

#: Scenes seeing less of the AOI clearly than this are not picked.
MIN_COVERAGE = 0.3
#: Change smaller than this is speckle (m²); a car is about 8 m².
MIN_AREA_M2 = 4.0
#: Lighting and viewing differences above which a caveat is given (degrees).
SUN_DIFF_DEG = 10.0
OFF_NADIR_DIFF_DEG = 10.0
DAY = dt.timedelta(days=1)
#: Margin kept from cloud and nodata edges (m): thin cloud fringes are not in cloud masks.
CLOUD_MARGIN_M = 8.0
#: Cloud cover above which a caveat about unmasked cloud shadows is given.
CLOUDY = 0.1


@dataclass(frozen=True)
class PairChange:
    """Change between two images on one grid: alignment, pixel change and its regions."""

    alignment: Alignment
    pixels: PixelChange
    regions: tuple[ChangeRegion, ...]
    before: np.ndarray = field(repr=False, compare=False)  # (H, W, 3) uint8 on the grid
    after: np.ndarray = field(repr=False, compare=False)  # aligned and radiometrically matched


@dataclass(frozen=True)
class ChangeResult:
    """What changed at a site between two scenes (what ``sitewatch change`` writes and shows)."""

    site: Site
    before: Scene
    after: Scene
    grid: Grid
    pair: PairChange
    objects: tuple[ObjectChange, ...]
    flows: tuple[ZoneFlow, ...]
    detector: str | None
    requested: tuple[dt.date, dt.date]
    #: Objects followed while parked over every scene from before to after (longest first).
    tracks: tuple[Track, ...] = ()

    @property
    def simulated(self) -> bool:
        return self.site.simulated or self.before.simulated or self.after.simulated

    def region_counts(self) -> dict[str, int]:
        return dict(sorted(Counter(r.kind for r in self.pair.regions).items()))

    def object_counts(self) -> dict[str, int]:
        return dict(sorted(Counter(o.kind for o in self.objects).items()))

    def caveats(self) -> list[str]:
        """What limits the reading of this comparison, in plain words."""
        return caveats(self.before, self.after, self.pair.alignment, self.grid.res, self.requested, self.detector)

    def summary(self) -> dict[str, object]:
        """Headline numbers (JSON-ready)."""
        a, g = self.pair.alignment, self.grid
        return {
            "site_id": self.site.id,
            "before": _scene_summary(self.before),
            "after": _scene_summary(self.after),
            "grid": {"crs": g.crs, "res_m": g.res, "width": g.width, "height": g.height},
            "alignment": {
                "shift_px": list(a.shift),
                "shift_m": a.shift_px * self.grid.res,
                "residual_px": a.residual_px,
                "residual_m": a.residual_px * self.grid.res,
                "ncc": a.ncc,
                "tiles": a.tiles,
                "inliers": a.inliers,
                "reliable": a.reliable,
            },
            "valid_fraction": float(self.pair.pixels.valid.mean()),
            "changed_fraction": self.pair.pixels.changed_fraction,
            "changed_area_m2": float(self.pair.pixels.mask.sum() * self.grid.pixel_area),
            "threshold": self.pair.pixels.threshold,
            "regions": self.region_counts(),
            "objects": self.object_counts(),
            "parked_through": sum(
                1 for t in self.tracks if t.first_seen <= self.before.acquired and t.last_seen >= self.after.acquired
            ),
            "longest_dwell_days": round(max((t.dwell for t in self.tracks), default=dt.timedelta()) / DAY, 2),
            "detector": self.detector,
            "caveats": self.caveats(),
            "simulated": self.simulated,
        }


def caveats(
    before: Scene,
    after: Scene,
    alignment: Alignment,
    res: float,
    requested: tuple[dt.date, dt.date],
    detector: str | None,
) -> list[str]:
    """Plain-language limits of a comparison: lighting, viewing angle, alignment, dates."""
    out = []
    if before.sun_elevation is not None and after.sun_elevation is not None:
        d = abs(before.sun_elevation - after.sun_elevation)
        if d > SUN_DIFF_DEG:
            out.append(
                f"sun elevation differs by {d:.0f}° ({before.sun_elevation:.0f}° vs {after.sun_elevation:.0f}°): "
                "shadow changes beside buildings and cranes are likely, not real change"
            )
    if before.off_nadir is not None and after.off_nadir is not None:
        d = abs(before.off_nadir - after.off_nadir)
        if d > OFF_NADIR_DIFF_DEG:
            out.append(f"viewing angles differ by {d:.0f}° off-nadir: tall structures lean differently on each date")
    cloudy = [s for s in (before, after) if (s.cloud_cover or 0.0) > CLOUDY]
    if cloudy:
        out.append(
            f"{' and '.join(s.id for s in cloudy)} partly cloudy: cloud shadows are not masked and "
            "show as change (large irregular regions next to clouds)"
        )
    if alignment.residual_px * res > 1.0:
        out.append(f"residual misregistration {alignment.residual_px * res:.1f} m: thin changes are unreliable")
    for label, scene, want in (("before", before, requested[0]), ("after", after, requested[1])):
        days = abs((scene.acquired.date() - want).days)
        if days > 0:
            out.append(f"{label} scene is {days} day(s) from the requested {want.isoformat()}")
    if detector is None:
        out.append("no detections stored for these scenes: object-level change is empty (run `sitewatch detect`)")
    out.append(
        "change shows that something differs, not why; a vehicle replaced by another in the same spot "
        "reads as 'stayed', and a site aware of overflights may stage or hide activity"
    )
    return out


def _scene_summary(scene: Scene) -> dict[str, object]:
    return {"scene_id": scene.id, "acquired": scene.acquired.isoformat(), "sensor": scene.sensor, "gsd": scene.gsd}


def compare_arrays(
    before: np.ndarray,
    after: np.ndarray,
    valid: np.ndarray,
    grid: Grid | None,
    *,
    alpha: float = 1e-3,
    min_area_px: int | None = None,
    rules: ShapeRules = ShapeRules(),
    require_alignment: bool = True,
    label: str = "image pair",
) -> PairChange:
    """Co-register ``after`` to ``before``, match radiometry, and find change inside ``valid``.

    Regions are vectorised when a ``grid`` georeferences the arrays; ``min_area_px``
    defaults to :data:`MIN_AREA_M2` on it (9 px without one). An unreliable alignment
    raises :class:`ChangeError`, or with ``require_alignment=False`` leaves ``after`` as it is.
    """
    alignment = estimate_shift(before, after, valid)
    if require_alignment and not alignment.reliable:
        raise ChangeError(
            f"scenes cannot be co-registered: {alignment.reason}",
            path=label,
            fix="pick other dates (clearer, same season) or check the scenes show the same place",
        )
    if alignment.reliable:
        after, moved_valid = apply_shift(after, valid, alignment.shift)
        valid = valid & moved_valid
    if valid.sum() < 100:
        raise ChangeError("no common valid pixels after co-registration", path=label, fix="pick clearer scenes")
    after = normalise(before, after, valid)
    if min_area_px is None:
        min_area_px = max(1, round(MIN_AREA_M2 / grid.pixel_area)) if grid is not None else 9
    pixels = detect_change(before, after, valid, alpha=alpha, min_area_px=min_area_px)
    regions = extract_regions(pixels, before, after, grid, rules) if grid is not None else []
    return PairChange(alignment, pixels, tuple(regions), before, after)


def shrink(valid: np.ndarray, margin_px: int) -> np.ndarray:
    """``valid`` eroded by ``margin_px`` (a square margin; cheap even on full scenes)."""
    if margin_px <= 0:
        return valid
    kernel = np.ones((2 * margin_px + 1, 2 * margin_px + 1), np.uint8)
    return cv2.erode(valid.astype(np.uint8), kernel, borderType=cv2.BORDER_REPLICATE) > 0


def aoi_coverage(scene: Scene, aoi: shapely.Geometry) -> float:
    """Share of ``aoi`` (by area in degrees², fine for ranking) that ``scene`` saw clearly."""
    return float(shapely.intersection(scene.valid, aoi).area / aoi.area) if aoi.area else 0.0


def usable_scenes(scenes: Sequence[Scene], site: Site, min_coverage: float = MIN_COVERAGE) -> list[Scene]:
    """The scenes seeing at least ``min_coverage`` of the site clearly: the ones worth comparing."""
    return [s for s in scenes if aoi_coverage(s, site.aoi) >= min_coverage]


def pick_scene(
    scenes: Sequence[Scene],
    site: Site,
    when: dt.date,
    min_coverage: float = MIN_COVERAGE,
    *,
    max_days: int | None = None,
) -> Scene:
    """The scene nearest ``when`` among those seeing enough of the site (then clearest, then finest).

    ``max_days`` refuses a nearest scene further than that from ``when`` (a comparison
    with a scene months off would answer another question than the one asked).
    """
    usable = usable_scenes(scenes, site, min_coverage)
    if not usable:
        raise ChangeError(
            f"no scene sees at least {min_coverage:.0%} of the site clearly ({len(scenes)} scenes in the store)",
            path=site.id,
            fix="ingest more scenes of this site (sitewatch ingest)",
        )
    best = min(usable, key=lambda s: (abs((s.acquired.date() - when).days), -aoi_coverage(s, site.aoi), s.gsd))
    days = abs((best.acquired.date() - when).days)
    if max_days is not None and days > max_days:
        raise ChangeError(
            f"no usable scene within {max_days} day(s) of {when.isoformat()}: the nearest is {best.id} "
            f"of {best.acquired.date().isoformat()}, {days} day(s) away",
            path=site.id,
            fix="pick a date nearer one of the site's acquisitions, or allow more days (max_days)",
        )
    return best


def window_pair(
    scenes: Sequence[Scene], site: Site, start: dt.date, end: dt.date, min_coverage: float = MIN_COVERAGE
) -> tuple[Scene, Scene]:
    """(last usable scene before ``start``, first usable scene from ``start`` to ``end``).

    What an alert over ``start``..``end`` is best checked against: the site as it was just
    before, and as first seen during. :class:`ChangeError` says which one is missing.
    """
    usable = sorted(usable_scenes(scenes, site, min_coverage), key=lambda s: s.acquired)
    before = [s for s in usable if s.acquired.date() < start]
    during = [s for s in usable if start <= s.acquired.date() <= end]
    if not during:
        raise ChangeError(
            f"no scene from {start.isoformat()} to {end.isoformat()} sees at least {min_coverage:.0%} of the site "
            "clearly",
            path=site.id,
            fix="ingest a clearer scene of that period",
        )
    if not before:
        raise ChangeError(
            f"no scene before {start.isoformat()} sees at least {min_coverage:.0%} of the site clearly",
            path=site.id,
            fix="ingest an earlier scene of the site",
        )
    return before[-1], during[0]


def compare_site(
    store: Store,
    site_id: str,
    date_from: dt.date,
    date_to: dt.date,
    *,
    detector: str | None = None,
    alpha: float = 1e-3,
    max_days: int | None = None,
) -> ChangeResult:
    """Compare the best scenes of ``site_id`` nearest ``date_from`` and ``date_to``.

    ``max_days`` refuses scenes further than that from their date (:func:`pick_scene`).
    """
    date_from, date_to = sorted((date_from, date_to))
    site = store.get_site(site_id)
    scenes = store.list_scenes(site_id=site_id)
    before, after = pick_pair(scenes, site, date_from, date_to, max_days=max_days)
    return compare_scenes(store, site, before, after, detector=detector, alpha=alpha, requested=(date_from, date_to))


def pick_pair(
    scenes: Sequence[Scene], site: Site, date_from: dt.date, date_to: dt.date, *, max_days: int | None = None
) -> tuple[Scene, Scene]:
    """The two distinct scenes :func:`compare_site` compares for these dates, in time order.

    Cheap (metadata only): lets a caller key a cache on the pair before comparing.
    """
    before = pick_scene(scenes, site, date_from, max_days=max_days)
    after = pick_scene([s for s in scenes if s.id != before.id], site, date_to, max_days=max_days)
    if after.acquired < before.acquired:  # both dates nearest one scene: the other one went past it
        before, after = after, before
    return before, after


def compare_scenes(
    store: Store,
    site: Site,
    before: Scene,
    after: Scene,
    *,
    detector: str | None = None,
    alpha: float = 1e-3,
    requested: tuple[dt.date, dt.date] | None = None,
) -> ChangeResult:
    """Compare two given scenes of ``site`` (in time order whichever way they are given)."""
    if after.acquired < before.acquired:
        before, after = after, before
    site_id = site.id
    requested = requested or (before.acquired.date(), after.acquired.date())
    scenes = store.list_scenes(site_id=site_id, start=before.acquired, end=after.acquired)
    common = check_pair(before, after, site.aoi)
    grid = common_grid(before, after, shapely.intersection_all([site.aoi, before.footprint, after.footprint]))
    img_b, valid_b = read_on_grid(before, grid)
    img_a, valid_a = read_on_grid(after, grid)
    # Cloud masks stop short of thin cloud at their edges: keep a margin from anything invalid.
    valid = shrink(valid_b & valid_a, math.ceil(CLOUD_MARGIN_M / grid.res))
    if not valid.any():
        raise ChangeError(
            "no common valid pixels on the comparison grid",
            path=f"{before.id} / {after.id}",
            fix="pick clearer scenes for one of the dates",
        )
    pair = compare_arrays(img_b, img_a, valid, grid, alpha=alpha, label=f"{before.id} / {after.id}")
    dets_b = store.list_detections(scene_id=before.id, site_id=site_id, detector=detector)
    dets_a = store.list_detections(scene_id=after.id, site_id=site_id, detector=detector)
    used = detector or next((d.detector for d in [*dets_b, *dets_a]), None)
    # Detections are georeferenced by each scene on its own: move the after ones by the
    # misregistration the images showed (rows grow southwards, hence the sign of y).
    dy, dx = pair.alignment.shift if pair.alignment.reliable else (0.0, 0.0)
    objects = object_changes(
        [d for d in dets_b if used is None or d.detector == used],
        [d for d in dets_a if used is None or d.detector == used],
        before_valid=common,
        after_valid=common,
        site=site,
        crs=grid.crs,
        after_offset_m=(dx * grid.res, -dy * grid.res),
    )
    # Dwell uses every scene between the two dates (detections only, no pixels read).
    series = [
        (s.acquired, store.list_detections(scene_id=s.id, site_id=site_id, detector=used), s.valid)
        for s in scenes
        if before.acquired <= s.acquired <= after.acquired
    ]
    tracks = dwell_tracks(series) if used is not None else []
    moved = [c.before or c.after for c in objects if c.kind != "stayed"]
    pair = replace(pair, regions=tuple(mark_vehicles(pair.regions, [d for d in moved if d is not None])))
    return ChangeResult(
        site,
        before,
        after,
        grid,
        pair,
        tuple(objects),
        tuple(zone_flows(objects)),
        used,
        requested,
        tuple(tracks),
    )
