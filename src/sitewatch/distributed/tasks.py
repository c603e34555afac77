"""Per-item tasks that run on Dask workers: ingest one file, detect one scene, analyze one site.

Tasks take the store URL, not a store: each worker process opens the store once and keeps
it. Every task writes through the store's atomic, idempotent operations (``add_scene`` keyed
by content hash, ``replace_detections`` per scene, ``analyze_store`` per site), so a task
re-run after a worker dies loses nothing and duplicates nothing. Expected failures come
back as a ``failed`` :class:`TaskResult`; they never kill the batch.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sitewatch.detect.base import Detector
from sitewatch.errors import NoValidPixelsError, SitewatchError
from sitewatch.store.sql import SqlStore


@dataclass(frozen=True)
class TaskResult:
    """Outcome of one task: ``status`` is ``done``, ``duplicate``, ``skipped`` or ``failed``."""

    step: str
    key: str
    status: str
    n: int = 0  # scenes added, detections written or counts computed
    message: str = ""


@functools.cache
def worker_store(url: str) -> SqlStore:
    """The store of ``url``, opened once per worker process."""
    from sitewatch.store import open_store

    return open_store(url)


@functools.cache
def worker_detector(spec: str | None) -> Detector:
    """The detector of ``spec``, loaded once per worker process."""
    from sitewatch.detect import load_detector

    return load_detector(spec)


def ingest_file(url: str, path: str, known_hashes: frozenset[str] = frozenset()) -> TaskResult:
    """Register one image as a scene linked to the sites it covers."""
    from sitewatch.imagery.ingest import covered_sites, file_sha256, scan_image

    try:
        content_hash = file_sha256(Path(path))
        if content_hash in known_hashes:
            return TaskResult("ingest", path, "duplicate")
        store = worker_store(url)
        scene = scan_image(Path(path), content_hash)
        # add_scene is the arbiter: another task (or a re-run of this one) may have added it.
        if store.add_scene(scene, covered_sites(scene, store.list_sites())):
            return TaskResult("ingest", path, "done", 1, scene.id)
        return TaskResult("ingest", path, "duplicate")
    except Exception as exc:  # one unreadable file must not stop the batch
        return TaskResult("ingest", path, "failed", message=_message(exc, path))


def detect_one_scene(url: str, scene_id: str, site_ids: Sequence[str], detector_spec: str | None) -> TaskResult:
    """Detections of one scene inside the given sites' AOIs, replacing any earlier ones."""
    from sitewatch.detect.pipeline import detect_scene

    try:
        store = worker_store(url)
        detector = worker_detector(detector_spec)
        scene = store.get_scene(scene_id)
        sites = [store.get_site(s) for s in site_ids]
        try:
            detections = detect_scene(scene, sites, detector)
        except NoValidPixelsError as exc:
            # Done with nothing seen: counts treat it as unobserved, as detect_store does.
            store.replace_detections(scene.id, detector.name, [])
            return TaskResult("detect", scene_id, "skipped", message=str(exc))
        n = store.replace_detections(scene.id, detector.name, detections)
        return TaskResult("detect", scene_id, "done", n)
    except Exception as exc:  # one broken scene must not stop the batch
        return TaskResult("detect", scene_id, "failed", message=_message(exc, scene_id))


def analyze_site(url: str, site_id: str, detector_name: str | None = None) -> TaskResult:
    """Counts, baselines and alerts of one site, replaced atomically."""
    from sitewatch.analytics.pipeline import analyze_store

    try:
        report = analyze_store(worker_store(url), site_ids=[site_id], detector=detector_name)
        return TaskResult("analyze", site_id, "done", report.counts, f"{len(report.alerts)} alert(s)")
    except Exception as exc:
        return TaskResult("analyze", site_id, "failed", message=_message(exc, site_id))


def _message(exc: BaseException, where: str) -> str:
    if isinstance(exc, SitewatchError):
        return " ".join(str(exc).split())
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{where}: unexpected {type(exc).__name__}: {first}"
