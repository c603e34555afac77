"""The site evidence report: one self-contained HTML file (images inline, no scripts, no network).

:func:`build_context` turns an :class:`~sitewatch.report.bundle.EvidenceBundle` plus the
detections of the few scenes shown into plain template data; :func:`render` fills the
Jinja2 template shipped in ``templates/``; :func:`write_report` does both for a store.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
import numpy as np
import shapely
from rasterio.errors import RasterioError
from shapely.geometry.base import BaseGeometry

from sitewatch import __version__
from sitewatch.analytics.series import ALL_CLASSES
from sitewatch.change.outputs import figure_png, summary_line
from sitewatch.change.pipeline import compare_scenes, window_pair
from sitewatch.errors import ImageError, InputError
from sitewatch.model import CLASSES, Alert, Baseline, Count, Detection, Event, Scene, Site
from sitewatch.planning.gaps import MIN_GAP, coverage_gaps, gap_sentence
from sitewatch.report import chips, figures
from sitewatch.report.bundle import EvidenceBundle, collect
from sitewatch.store.base import Store

#: At most this many zones get chips and a before/after pair per alert.
MAX_ALERT_ZONES = 4
#: Events this many days outside the imaged period are listed but not drawn.
EVENT_MARGIN = dt.timedelta(days=30)
#: Alerts (the strongest, then the most recent) that get a before/after change comparison by
#: default: each reads two scenes onto a common grid and co-registers them, ~10 s for a
#: 3,000 x 3,000 px site on 2 cores, and a report should stay under 20 s.
MAX_CHANGE_ALERTS = 1
#: Long side of each panel of the change figure (px of the comparison grid).
CHANGE_FIGURE_PX = 600

#: The stored detections to draw on a scene.
BoxSource = Callable[[Scene], Sequence[Detection]]


@dataclass(frozen=True)
class Figure:
    """An inline image with its caption, or why it could not be made."""

    caption: str
    uri: str | None = None
    missing: str | None = None


def write_report(
    store: Store,
    site_id: str,
    out_path: str | Path,
    *,
    detector: str | None = None,
    evidence: EvidenceBundle | None = None,
    change_alerts: int = MAX_CHANGE_ALERTS,
) -> Path:
    """Write the HTML evidence report of ``site_id`` to ``out_path`` and return the path.

    ``evidence`` reuses a bundle already collected from ``store`` (e.g. to write it too);
    ``change_alerts`` is how many alerts get a change comparison (seconds each).
    """
    bundle = evidence or collect(store, site_id)
    html = render(build_context(bundle, store, detector=detector, change_alerts=change_alerts))
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(html, encoding="utf-8")
    return out


def render(context: Mapping[str, Any]) -> str:
    """Fill ``templates/site.html.j2`` with ``context`` (autoescaped)."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("sitewatch.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env.get_template("site.html.j2").render(**context)


def build_context(
    bundle: EvidenceBundle,
    store: Store,
    *,
    detector: str | None = None,
    baselines: Mapping[tuple[str, str], figures.Band] | None = None,
    change_alerts: int = MAX_CHANGE_ALERTS,
) -> dict[str, Any]:
    """Template data for ``bundle``; ``store`` is asked only for detections of the scenes shown
    and, for the change comparison of the ``change_alerts`` strongest alerts, of the scenes
    compared.

    ``detector`` picks whose boxes are drawn (default: the one the counts are made from).
    ``baselines`` maps ``(zone_id, cls)`` to the band drawn behind the counts (default:
    :func:`baseline_bands` of the bundle's stored baselines).
    """
    site, scenes, simulated = bundle.site, bundle.scenes, bundle.simulated
    detector = detector or bundle.detector
    if baselines is None:
        baselines = baseline_bands(bundle.baselines)

    def boxes_of(scene: Scene) -> list[Detection]:
        return store.list_detections(scene_id=scene.id, detector=detector) if detector else []

    period = (scenes[0].acquired.date(), scenes[-1].acquired.date()) if scenes else None
    shown_events = [
        e for e in bundle.events if period and period[0] - EVENT_MARGIN <= e.date <= period[1] + EVENT_MARGIN
    ]
    timelines, quiet = _timelines(site, bundle.counts, shown_events, bundle.alerts, baselines, simulated)
    compared = {a.id for a in sorted(bundle.alerts, key=lambda a: (a.score, a.end), reverse=True)[:change_alerts]}
    alert_views = []
    for a in bundle.alerts:
        view = _alert_view(a, site, scenes, bundle.counts, boxes_of, simulated)
        view["change"] = _alert_change(store, site, scenes, a, detector, simulated) if a.id in compared else None
        alert_views.append(view)
    return {
        "site": site,
        "simulated": simulated,
        "generated": bundle.generated.strftime("%Y-%m-%d %H:%M UTC"),
        "version": __version__,
        "period": period,
        "detector": detector,
        "detectors": bundle.detectors,
        "n_counts": len(bundle.counts),
        "map": _site_map(site, scenes, boxes_of, simulated),
        "timelines": timelines,
        "quiet_series": quiet,
        "alerts": alert_views,
        "change_limit": change_alerts,
        "events": bundle.events,
        "events_shown": len(shown_events),
        "coverage": _coverage(site, scenes, bundle.counts, simulated),
        "scenes": scenes,
        "runs": bundle.runs,
    }


def baseline_bands(baselines: Sequence[Baseline]) -> dict[tuple[str, str], figures.Band]:
    """The causal baseline (μ ± 2 sd) of each series, as analyze stored it when judging the
    alerts: the report and the API draw the same band."""
    series: dict[tuple[str, str], list[Baseline]] = defaultdict(list)
    for b in sorted(baselines, key=lambda b: (b.zone_id, b.cls, b.date)):
        series[(b.zone_id, b.cls)].append(b)
    return {
        key: figures.Band(
            dates=tuple(b.date for b in rows),
            lo=tuple(b.lo for b in rows),
            centre=tuple(b.expected for b in rows),
            hi=tuple(b.hi for b in rows),
        )
        for key, rows in series.items()
    }


def zone_geometry(site: Site, zone_id: str) -> BaseGeometry:
    """The zone's geometry, or the AOI for a zone id the site does not define (e.g. "aoi")."""
    try:
        return site.zone(zone_id).geometry
    except KeyError:
        return site.aoi


def _label(site: Site, zone_id: str) -> str:
    try:
        z = site.zone(zone_id)
    except KeyError:
        return zone_id
    return f"{z.name} ({z.kind})"


def _scene_caption(scene: Scene) -> str:
    return f"{scene.acquired:%Y-%m-%d %H:%M} UTC · {scene.sensor} · {scene.gsd:.2f} m · {scene.id}"


def _site_map(site: Site, scenes: Sequence[Scene], boxes_of: BoxSource, simulated: bool) -> Figure:
    scene = chips.latest_clear(scenes, site.aoi)
    if scene is None:
        return Figure("site map", missing="no stored scene covers the site")
    caption = f"Latest clear scene: {_scene_caption(scene)}"
    try:
        crop = chips.read_crop(scene, site.aoi, max_size=chips.MAP_SIZE)
    except ImageError as exc:
        return Figure(caption, missing=str(exc))
    if crop is None:
        return Figure(caption, missing="the scene image does not overlap the site")
    h, w = crop.image.shape[:2]
    frame = shapely.box(0, 0, w, h)
    boxes = [b for b in map(crop.box, boxes_of(scene)) if frame.intersects(shapely.box(b.x0, b.y0, b.x1, b.y1))]
    zones = [(z.name, z.kind, crop.pixels(z.geometry)) for z in site.zones]
    img = figures.site_map(
        crop.image,
        crop.pixels(site.aoi),
        zones,
        boxes,
        title=f"{site.name} — {scene.id}",
        simulated=simulated or scene.simulated,
    )
    return Figure(f"{caption} · {len(boxes)} detections shown", uri=img.uri)


def _timelines(
    site: Site,
    counts: Sequence[Count],
    events: Sequence[Event],
    alerts: Sequence[Alert],
    baselines: Mapping[tuple[str, str], figures.Band],
    simulated: bool,
) -> tuple[list[Figure], list[str]]:
    """One figure per class over the zones where it was ever detected or alerted on.

    Series with no detection on any scene are left out (drawing flat zeros costs seconds
    and hides the rest); their names are returned so the report can say so.
    """
    by_class: dict[str, dict[str, list[Count]]] = defaultdict(lambda: defaultdict(list))
    for c in counts:
        by_class[c.cls][c.zone_id].append(c)
    zone_order = {z.id: i for i, z in enumerate(site.zones)}
    out, quiet = [], []
    for cls in sorted(by_class, key=lambda k: CLASSES.index(k) if k in CLASSES else len(CLASSES)):
        active = [
            z
            for z, series in by_class[cls].items()
            if any(c.raw > 0 for c in series) or any(figures.alert_involves(a, z, cls) for a in alerts)
        ]
        if not active:
            quiet.append(f"{cls} (every zone)")
            continue
        silent = [_label(site, z) for z in by_class[cls] if z not in active]
        if silent:
            quiet.append(f"{cls} ({', '.join(silent)})")
        zones = sorted(active, key=lambda z: (zone_order.get(z, len(zone_order)), z))
        panels = [
            figures.TimelinePanel(z, _label(site, z), tuple(by_class[cls][z]), baselines.get((z, cls))) for z in zones
        ]
        img = figures.timeline(cls, panels, events, alerts, simulated=simulated)
        n_bad = sum(not c.sufficient for z in zones for c in by_class[cls][z])
        out.append(
            Figure(f"{cls}: {len(zones)} zone(s); {n_bad} observation(s) with insufficient coverage", uri=img.uri)
        )
    return out, quiet


def _alert_view(
    alert: Alert,
    site: Site,
    scenes: Sequence[Scene],
    counts: Sequence[Count],
    boxes_of: BoxSource,
    simulated: bool,
) -> dict[str, Any]:
    zone_ids = alert.zones or tuple(z.id for z in site.zones) or ("aoi",)
    panels = []
    for zone_id in zone_ids[:MAX_ALERT_ZONES]:
        geom = zone_geometry(site, zone_id)
        before, after = chips.evidence_pair(scenes, alert, geom)
        panels.append(
            {
                "zone": _label(site, zone_id),
                "after": _chip(after, geom, zone_id, alert, counts, boxes_of, simulated, "alert scene"),
                "before": _chip(before, geom, zone_id, alert, counts, boxes_of, simulated, "earlier comparable scene"),
            }
        )
    return {
        "alert": alert,
        "zone_labels": [_label(site, z) for z in alert.zones],
        "panels": panels,
        "more_zones": max(0, len(zone_ids) - MAX_ALERT_ZONES),
    }


def _alert_change(
    store: Store, site: Site, scenes: Sequence[Scene], alert: Alert, detector: str | None, simulated: bool
) -> dict[str, Any]:
    """Before/after change of the site across the alert's start, or why there is none (one line).

    Compares the last usable scene before the alert window with the first one in it, by
    :func:`~sitewatch.change.pipeline.window_pair` and :func:`~sitewatch.change.pipeline.compare_scenes`
    as ``sitewatch change`` and the API do.
    """
    try:
        before, after = window_pair(scenes, site, alert.start, alert.end)
        result = compare_scenes(store, site, before, after, detector=detector)
    except (InputError, RasterioError) as exc:  # no usable scene, no overlap or alignment, unreadable image
        return {"figure": None, "summary": None, "caveats": [], "simulated": simulated, "impossible": str(exc)}
    img = figure_png(result, max_px=CHANGE_FIGURE_PX, fmt="jpeg")
    caption = (
        f"Before {_scene_caption(result.before)} → after {_scene_caption(result.after)}; "
        f"alignment residual {result.pair.alignment.residual_px * result.grid.res:.2f} m. "
        "Magenta: changed pixels; boxes: change regions by kind."
    )
    return {
        "figure": Figure(caption, uri=figures.InlineImage("image/jpeg", img).uri),
        "summary": summary_line(result),
        "caveats": result.caveats(),
        "simulated": simulated or result.simulated,
        "impossible": None,
    }


def _chip(
    scene: Scene | None,
    geom: BaseGeometry,
    zone_id: str,
    alert: Alert,
    counts: Sequence[Count],
    boxes_of: BoxSource,
    simulated: bool,
    role: str,
) -> Figure:
    if scene is None:
        return Figure(role, missing=f"no {role} sees this zone")
    classes = set(alert.classes) - {ALL_CLASSES}
    stored = [
        c for c in counts if c.scene_id == scene.id and c.zone_id == zone_id and (not classes or c.cls in classes)
    ]
    tally = "; ".join(
        f"{c.cls}: raw {c.raw}, estimate {c.estimate:.1f} [{c.lo:.1f}, {c.hi:.1f}]"
        + ("" if c.sufficient else " (insufficient coverage)")
        for c in stored
    )
    caption = f"{role}: {_scene_caption(scene)}" + (f" — {tally}" if tally else " — no stored count")
    try:
        crop = chips.read_crop(scene, geom, max_size=chips.CHIP_SIZE)
    except ImageError as exc:
        return Figure(caption, missing=str(exc))
    if crop is None:
        return Figure(caption, missing="the scene image does not overlap this zone")
    inside = [d for d in boxes_of(scene) if d.geometry.intersects(geom) and (not classes or d.cls in classes)]
    img = chips.annotate(crop, inside, outline=geom, simulated=simulated or scene.simulated)
    return Figure(caption, uri=img.uri)


def _coverage(site: Site, scenes: Sequence[Scene], counts: Sequence[Count], simulated: bool) -> dict[str, Any]:
    """Observed fraction per zone and scene, from the stored counts (a zone without counts shows nothing)."""
    # Every class of a zone on a scene shares the zone's observed fraction: keep the first.
    seen: dict[tuple[str, str], Count] = {}
    for count in counts:
        seen.setdefault((count.scene_id, count.zone_id), count)
    zone_ids = [z.id for z in site.zones] + sorted({z for _, z in seen} - {z.id for z in site.zones})
    rows = []
    fractions = np.full((len(zone_ids), len(scenes)), np.nan)
    sufficient = np.ones_like(fractions, dtype=bool)
    for j, scene in enumerate(scenes):
        cells: list[Count | None] = []
        for i, zid in enumerate(zone_ids):
            cell = seen.get((scene.id, zid))
            if cell is not None:
                fractions[i, j], sufficient[i, j] = cell.observed_fraction, cell.sufficient
            cells.append(cell)
        rows.append({"scene": scene, "cells": cells})
    used = (np.isfinite(fractions) & sufficient).any(axis=0)
    usable = [s.acquired for s, ok in zip(scenes, used, strict=True) if ok]
    start, end = (scenes[0].acquired, scenes[-1].acquired) if scenes else (None, None)
    gaps = coverage_gaps(usable, start, end) if start and end and end > start else []
    fig = None
    if scenes and zone_ids:
        labels = [_label(site, z) for z in zone_ids]
        dates = [s.acquired.date() for s in scenes]
        fig = figures.coverage(dates, labels, fractions, sufficient, simulated=simulated).uri
    return {
        "zones": [_label(site, z) for z in zone_ids],
        "rows": rows,
        "uri": fig,
        "usable": len(usable),
        "gaps": [gap_sentence(g) for g in gaps],
        "min_gap_days": MIN_GAP.days,
    }
