"""The whole pipeline in one call: simulate -> ingest -> detect -> analyze -> report -> evaluate.

This is what ``sitewatch demo`` runs. Each step is the same library function the individual
CLI commands call, so the demo exercises exactly the code a user's own data goes through.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sitewatch.store.base import Store

#: ``(step, done, total, label)``: one callback for the progress of every step.
StepProgress = Callable[[str, int, int, str], None]


@dataclass(frozen=True)
class DemoOptions:
    """Size of the simulated world (defaults keep the demo under 10 minutes on 2 cores).

    120 days give each site a pre-event ramp, a construction job and a quiet spell (about
    70 scenes); detection takes most of the time, about 5 s per 1 km² scene.
    """

    seed: int = 7
    sites: int = 2
    days: int | None = 120
    detector: str | None = None
    #: Detection score threshold on every scene (None: the model's own per imagery domain).
    score_threshold: float | None = None


@dataclass
class DemoResult:
    out_dir: Path
    sim_dir: Path
    db_url: str
    reports: dict[str, Path] = field(default_factory=dict)
    evaluation: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)


def demo_db_url(out_dir: Path) -> str:
    """The demo keeps its own SQLite store beside its outputs, not in the user's store."""
    return f"sqlite:///{(out_dir / 'sitewatch.db').resolve()}"


def run_demo(
    out_dir: Path, options: DemoOptions = DemoOptions(), *, on_progress: StepProgress | None = None
) -> DemoResult:
    from sitewatch.analytics.events import match_sites, read_events
    from sitewatch.analytics.pipeline import analyze_store
    from sitewatch.detect import calibration_in, load_detector
    from sitewatch.detect.onnx import OnnxDetector
    from sitewatch.detect.pipeline import detect_store
    from sitewatch.errors import ModelError
    from sitewatch.evaluation import evaluate_simulation
    from sitewatch.imagery.ingest import ingest_paths
    from sitewatch.report.html import write_report
    from sitewatch.simulate import SimulationConfig, simulate
    from sitewatch.sites.geojson import read_sites
    from sitewatch.store import open_store

    def step(name: str) -> Callable[[int, int, str], None] | None:
        if on_progress is None:
            return None
        return lambda done, total, label: on_progress(name, done, total, label)

    out_dir.mkdir(parents=True, exist_ok=True)
    sim_dir = out_dir / "sim"
    config = SimulationConfig(seed=options.seed, sites=options.sites)
    if options.days:
        config = dataclasses.replace(config, days=options.days)
    simulate(sim_dir, config, on_progress=step("simulate"), overwrite=True)

    result = DemoResult(out_dir=out_dir, sim_dir=sim_dir, db_url=demo_db_url(out_dir))
    # A fresh store each run, so the demo's figures always describe this simulation alone.
    for suffix in ("", "-wal", "-shm"):
        (out_dir / f"sitewatch.db{suffix}").unlink(missing_ok=True)
    store: Store = open_store(result.db_url)
    try:
        sites = read_sites(sim_dir / "sites.geojson")
        for site in sites:
            store.upsert_site(site)
        store.upsert_events(match_sites(read_events(sim_dir / "truth" / "events.csv"), sites).events)
        ingest = ingest_paths(store, [sim_dir / "scenes"], on_progress=step("ingest"))
        detector = load_detector(options.detector, score_threshold=options.score_threshold)
        detect = detect_store(store, detector, on_progress=step("detect"))
        if detect.failed and not detect.scenes:
            # Figures over no detections at all would read as a detector that sees nothing.
            scene_id, reason = detect.failed[0]
            raise ModelError(
                f"detection failed on all {len(detect.failed)} scenes (first, {scene_id}: {reason})",
                fix="run `sitewatch detect` on one scene of the simulation to see the full error",
            )
        # An ONNX model brings its own count calibration in the sidecar it was loaded with, so a
        # model given by path is corrected too (analyze alone finds bundled models' by name).
        calibration = calibration_in(detector.metadata) if isinstance(detector, OnnxDetector) else None
        if calibration is not None and calibration.detector != detector.name:
            calibration = None  # measured for another model or version: not this one's
        analyze = analyze_store(store, detectability=calibration, on_progress=step("analyze"))
        for i, site in enumerate(sites):
            if on_progress:
                on_progress("report", i, len(sites), site.id)
            result.reports[site.id] = write_report(store, site.id, out_dir / f"report-{site.id}.html")
        result.evaluation = evaluate_simulation(store, sim_dir)
        result.summary = {
            "scenes_added": ingest.added,
            "scenes_failed": len(ingest.failed),
            "detector": detector.name,
            "detection_failed": [f"{scene_id}: {reason}" for scene_id, reason in detect.failed],
            "detections": detect.detections,
            "alerts": len(analyze.alerts),
        }
    finally:
        store.close()
    (out_dir / "evaluation.json").write_text(json.dumps(result.evaluation, indent=2, default=str) + "\n")
    return result
