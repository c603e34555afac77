"""Detection over the store: every scene of the chosen sites, inside the site AOIs.

Each scene's detections are replaced in one transaction, so a killed run resumes where it
stopped (scenes already done by this detector are skipped unless ``rerun``). A scene that
cannot be read is reported and skipped; one that is all cloud or nodata over the sites is
recorded with no detections and reported, never silently counted as empty. A simulated
scene is counted at the detector's threshold for simulated imagery (:mod:`.onnx`).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import shapely

from sitewatch.detect.base import Detector, for_imagery, thresholds
from sitewatch.detect.slicing import ProgressFn, detect_raster
from sitewatch.errors import NoValidPixelsError, SitewatchError
from sitewatch.model import Detection, Scene, Site
from sitewatch.store.base import RunRecord, Store


@dataclass
class DetectReport:
    """Outcome of :func:`detect_store`; ``skipped``/``failed`` hold ``(scene_id, reason)``."""

    detector: str
    scenes: int = 0
    detections: int = 0
    per_scene: dict[str, int] = field(default_factory=dict)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)


def assign_zones(detections: Sequence[Detection], site: Site) -> list[Detection]:
    """Detections labelled with ``site`` and the first zone holding each box centre."""
    if not detections:
        return []
    centres = shapely.centroid(np.array([d.geometry for d in detections], dtype=object))
    xs, ys = shapely.get_x(centres), shapely.get_y(centres)
    zone_ids: list[str | None] = [None] * len(detections)
    for zone in site.zones:
        inside = shapely.contains_xy(zone.geometry, xs, ys)
        for i in np.flatnonzero(inside):
            zone_ids[i] = zone_ids[i] or zone.id
    return [replace(d, site_id=site.id, zone_id=z) for d, z in zip(detections, zone_ids, strict=True)]


def detect_scene(scene: Scene, sites: Sequence[Site], detector: Detector, **slicing: object) -> list[Detection]:
    """Detections of ``scene`` inside each site's AOI, kept at ``detector``'s threshold for the
    scene's imagery domain; raises :class:`NoValidPixelsError` if no site shows a valid pixel."""
    detector = for_imagery(detector, simulated=scene.simulated)
    found: list[Detection] = []
    empty: list[str] = []
    for site in sites:
        try:
            dets = detect_raster(scene.uri, detector, aoi=site.aoi, scene_id=scene.id, **slicing)  # type: ignore[arg-type]
        except NoValidPixelsError:
            empty.append(site.id)
            continue
        found += assign_zones(dets, site)
    if sites and len(empty) == len(sites):
        raise NoValidPixelsError(
            f"no valid pixels over site(s) {', '.join(empty)} (all cloud or nodata)",
            path=scene.uri,
            fix="nothing to count on this date; the gap is kept as unobserved",
        )
    return found


def detect_store(
    store: Store,
    detector: Detector,
    *,
    site_ids: Sequence[str] | None = None,
    rerun: bool = False,
    on_progress: ProgressFn | None = None,
) -> DetectReport:
    """Run ``detector`` on every scene of ``site_ids`` (default: all sites) not yet done."""
    sites = [store.get_site(s) for s in site_ids] if site_ids else store.list_sites()
    scenes: dict[str, tuple[Scene, list[Site]]] = {}
    for site in sites:
        for scene in store.list_scenes(site_id=site.id):
            scenes.setdefault(scene.id, (scene, []))[1].append(site)
    done = set() if rerun else store.detected_scene_ids(detector.name)
    report = DetectReport(detector=detector.name)
    run = RunRecord(
        f"detect-{uuid.uuid4().hex[:12]}",
        "detect",
        _now(),
        None,
        {
            "model": detector.name,
            "score_thresholds": thresholds(detector),
            "sites": [s.id for s in sites],
            "rerun": rerun,
        },
    )
    store.record_run(run)
    todo = sorted(scenes.values(), key=lambda item: (item[0].acquired, item[0].id))
    for i, (scene, scene_sites) in enumerate(todo):
        if on_progress:
            on_progress(i, len(todo), scene.id)
        if scene.id in done:
            report.skipped.append((scene.id, f"already detected by {detector.name} (use rerun to redo)"))
            continue
        try:
            dets = detect_scene(scene, scene_sites, detector)
        except NoValidPixelsError as exc:
            # Recorded as done with nothing seen; counts use the scene's valid area, so this
            # becomes "not observed", not "zero vehicles".
            store.replace_detections(scene.id, detector.name, [])
            report.skipped.append((scene.id, str(exc)))
            continue
        except SitewatchError as exc:
            report.failed.append((scene.id, str(exc)))
            continue
        except Exception as exc:  # one broken scene must not stop the batch
            report.failed.append((scene.id, f"{scene.uri}: unexpected {type(exc).__name__}: {exc}"))
            continue
        report.per_scene[scene.id] = store.replace_detections(scene.id, detector.name, dets)
        report.scenes += 1
        report.detections += report.per_scene[scene.id]
    if on_progress:
        on_progress(len(todo), len(todo), "done")
    params = {
        **run.params,
        "scenes": report.scenes,
        "detections": report.detections,
        "skipped": len(report.skipped),
        "failed": len(report.failed),
    }
    store.record_run(RunRecord(run.id, run.kind, run.started, _now(), params))
    return report


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
