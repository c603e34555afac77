"""Compare what the store holds with a simulation's ground truth.

Three questions, each answered from files the simulator wrote (``truth/*.csv``) and
objects the pipeline stored, never from anything hard-coded:

* detection: are the visible simulated objects found, and is what was found real?
* counts: how far are the coverage-corrected estimates from the true number present?
* alerts: are pre-event ramps alerted, how early, and how many alerts are spurious?
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment

from sitewatch.counts import CountCalibration, fit_count_calibration
from sitewatch.errors import InputError
from sitewatch.model import Alert, Count, Detection
from sitewatch.store.base import Store

#: Episode kinds that are real changes in activity: an alert overlapping one is not false.
ACTIVITY_EPISODES = frozenset({"pre_event_ramp", "construction", "deception"})


@dataclass(frozen=True)
class Truth:
    """The simulator's ground truth, as read from ``SIM_DIR/truth``."""

    objects: pd.DataFrame
    activity: pd.DataFrame
    scenes: pd.DataFrame
    events: pd.DataFrame
    episodes: pd.DataFrame


def read_truth(sim_dir: str | Path) -> Truth:
    """Read the truth tables; raise :class:`InputError` naming what is missing."""
    root = Path(sim_dir)
    truth = root / "truth"
    if not (root / "manifest.json").is_file() or not truth.is_dir():
        raise InputError(
            "not a simulation directory (no manifest.json or truth/)",
            path=root,
            fix="pass the folder written by `sitewatch simulate` (e.g. out/demo/sim)",
        )
    tables: dict[str, pd.DataFrame] = {}
    for name in ("objects", "activity", "scenes", "events", "episodes"):
        path = truth / f"{name}.csv"
        if not path.is_file():
            raise InputError(f"missing truth table {name}.csv", path=truth, fix="re-run `sitewatch simulate`")
        tables[name] = pd.read_csv(path, keep_default_na=False, na_values=[""])
    return Truth(**tables)


# -- detection -------------------------------------------------------------------------


def _match(truth_xy: np.ndarray, det_xy: np.ndarray, gate: np.ndarray) -> list[tuple[int, int]]:
    """Optimal one-to-one matching of centres within a per-truth distance gate (pixels)."""
    if len(truth_xy) == 0 or len(det_xy) == 0:
        return []
    d = np.linalg.norm(truth_xy[:, None, :] - det_xy[None, :, :], axis=2)
    cost = np.where(d <= gate[:, None], d, 1e9)
    rows, cols = linear_sum_assignment(cost)
    return [(int(r), int(c)) for r, c in zip(rows, cols, strict=True) if cost[r, c] < 1e9]


def match_outcomes(
    truth_objects: pd.DataFrame, detections: Sequence[Detection], scene_gsd: Mapping[str, float]
) -> pd.DataFrame:
    """Per scene and class: visible truth objects (``present``), those found with the right class
    (``matched``) and all detections of the class (``detected``).

    A detection matches a truth object of the same class when their centres lie within half
    the object's longest side or 2 m, whichever is larger; matching is one-to-one (Hungarian).
    Scenes missing from ``scene_gsd`` (not simulated or not ingested) are left out.
    """
    visible = truth_objects[truth_objects["visible"].astype(str).str.lower().isin({"true", "1"})]
    by_scene_det: dict[str, list[Detection]] = {}
    for d in detections:
        by_scene_det.setdefault(d.scene_id, []).append(d)
    classes = sorted(set(visible["cls"]) | {d.cls for d in detections})
    rows = []
    for scene_id in sorted(set(visible["scene_id"]) | set(by_scene_det)):
        gsd = scene_gsd.get(scene_id)
        if gsd is None:
            continue
        t_scene = visible[visible["scene_id"] == scene_id]
        d_scene = by_scene_det.get(scene_id, [])
        for cls in classes:
            t = t_scene[t_scene["cls"] == cls]
            ds = [d for d in d_scene if d.cls == cls]
            t_xy = np.column_stack([(t["x0"] + t["x1"]) / 2, (t["y0"] + t["y1"]) / 2]) if len(t) else np.zeros((0, 2))
            d_xy = np.array([((d.box[0] + d.box[2]) / 2, (d.box[1] + d.box[3]) / 2) for d in ds]).reshape(-1, 2)
            side = np.maximum(t["x1"] - t["x0"], t["y1"] - t["y0"]).to_numpy(dtype=float) if len(t) else np.zeros(0)
            gate = np.maximum(side / 2, 2.0 / gsd)
            rows.append((scene_id, cls, len(t), len(_match(t_xy, d_xy, gate)), len(ds)))
    return pd.DataFrame(rows, columns=["scene_id", "cls", "present", "matched", "detected"])


def detection_metrics(
    truth_objects: pd.DataFrame, detections: Sequence[Detection], scene_gsd: Mapping[str, float]
) -> dict[str, Any]:
    """Precision and recall of detections against visible truth objects, overall and per class
    (matching as in :func:`match_outcomes`), and the detector's count error per scene.

    ``count_error`` is the per-scene miscount summed over scenes, as a share of the visible
    objects (per class: detections of that class against objects of that class; overall: all
    detections against all objects, so a class confusion is no miscount there). It scores the
    raw detections, before any count calibration.
    """
    outcomes = match_outcomes(truth_objects, detections, scene_gsd)
    totals = outcomes.groupby("cls")[["present", "matched", "detected"]].sum()
    miscount = (outcomes["detected"] - outcomes["present"]).abs().groupby(outcomes["cls"]).sum()
    per_class = {
        str(c): {
            "truth": int(r.present),
            "detected": int(r.detected),
            "true_positives": int(r.matched),
            "precision": _ratio(int(r.matched), int(r.detected)),
            "recall": _ratio(int(r.matched), int(r.present)),
            "count_error": _ratio(int(miscount[c]), int(r.present)),
        }
        for c, r in totals.iterrows()
    }
    total_tp, total_t, total_d = (int(outcomes[k].sum()) for k in ("matched", "present", "detected"))
    scenes = outcomes.groupby("scene_id")[["present", "detected"]].sum()
    scene_miss = (scenes["detected"] - scenes["present"]).abs()
    seen = scenes["present"] > 0
    scene_share = scene_miss[seen] / scenes["present"][seen]
    return {
        "precision": _ratio(total_tp, total_d),
        "recall": _ratio(total_tp, total_t),
        "truth": total_t,
        "detected": total_d,
        "count_error": _ratio(int(scene_miss.sum()), total_t),
        "median_scene_count_error": float(scene_share.median()) if seen.any() else None,
        "per_class": per_class,
    }


# -- counts ----------------------------------------------------------------------------


def count_metrics(activity: pd.DataFrame, counts: Iterable[Count]) -> dict[str, Any]:
    """MAE and MAPE of corrected estimates against the true count present that day.

    Only observations marked sufficient are scored (insufficient ones are, by design,
    not estimates). MAPE is over rows whose true count is positive. ``count_error`` is
    the corrected counterpart of the detector's scene count error: per zone and day, all
    classes summed (a class confusion is no miscount), the absolute errors summed over
    zone-days as a share of the true total.
    """
    rows = [
        {"site_id": c.site_id, "zone_id": c.zone_id, "cls": c.cls, "date": c.date.isoformat(), "estimate": c.estimate}
        for c in counts
        if c.sufficient
    ]
    if not rows:
        return {"n": 0, "mae": None, "mape": None, "count_error": None, "per_class": {}}
    est = pd.DataFrame(rows).groupby(["site_id", "zone_id", "cls", "date"], as_index=False)["estimate"].mean()
    truth = activity.assign(date=activity["date"].astype(str))
    merged = est.merge(truth, on=["site_id", "zone_id", "cls", "date"], how="left")
    merged["true_count"] = merged["true_count"].fillna(0.0)
    per_class: dict[str, Any] = {}
    for cls, g in merged.groupby("cls"):
        per_class[str(cls)] = _errors(g["estimate"].to_numpy(), g["true_count"].to_numpy())
    zone_days = merged.groupby(["site_id", "zone_id", "date"])[["estimate", "true_count"]].sum()
    miscount = float((zone_days["estimate"] - zone_days["true_count"]).abs().sum())
    total = float(zone_days["true_count"].sum())
    return {
        **_errors(merged["estimate"].to_numpy(), merged["true_count"].to_numpy()),
        "count_error": miscount / total if total else None,
        "per_class": per_class,
    }


def _errors(est: np.ndarray, true: np.ndarray) -> dict[str, Any]:
    err = np.abs(est - true)
    pos = true > 0
    return {
        "n": len(err),
        "mae": float(err.mean()) if len(err) else None,
        "mape": float((err[pos] / true[pos]).mean()) if pos.any() else None,
        "mean_true": float(true.mean()) if len(true) else None,
    }


# -- alerts ----------------------------------------------------------------------------


def alert_metrics(episodes: pd.DataFrame, events: pd.DataFrame, alerts: Sequence[Alert]) -> dict[str, Any]:
    """Recall of pre-event ramps, alert precision and lead time before the event (days)."""
    eps = episodes.assign(start=pd.to_datetime(episodes["start"]).dt.date, end=pd.to_datetime(episodes["end"]).dt.date)
    event_date = {
        str(r.event_id): pd.Timestamp(r.date).date()
        for r in events.itertuples()  # type: ignore[attr-defined]
    }
    ramps = eps[eps["kind"] == "pre_event_ramp"]
    leads: list[float] = []
    found = 0
    for ep in ramps.itertuples():
        ev = event_date.get(str(ep.event_id))
        window_end = ev or ep.end
        hits = [a for a in alerts if a.site_id == ep.site_id and a.start <= window_end and a.end >= ep.start]
        if hits:
            found += 1
            if ev is not None:
                leads.append(float((ev - min(a.start for a in hits)).days))
    activity = eps[eps["kind"].isin(ACTIVITY_EPISODES)]
    true_alerts = 0
    for a in alerts:
        same = activity[activity["site_id"] == a.site_id]
        if any((a.start <= _episode_end(r, event_date)) and (a.end >= r.start) for r in same.itertuples()):
            true_alerts += 1
    return {
        "episodes": len(ramps),
        "alerts": len(alerts),
        "recall": _ratio(found, len(ramps)),
        "precision": _ratio(true_alerts, len(alerts)),
        "false_alarms": len(alerts) - true_alerts,
        "median_lead_days": float(np.median(leads)) if leads else None,
    }


def _episode_end(row: Any, event_date: dict[str, dt.date]) -> dt.date:
    """An episode's activity lasts until its event when it has one (a missing id reads as 'nan')."""
    ev = event_date.get(str(row.event_id))
    return max(row.end, ev) if ev else row.end


def _ratio(a: int, b: int) -> float | None:
    return a / b if b else None


# -- everything --------------------------------------------------------------------------


def evaluate_simulation(store: Store, sim_dir: str | Path) -> dict[str, Any]:
    """The three figure groups for every simulated site found in the store."""
    truth = read_truth(sim_dir)
    site_ids = sorted(set(truth.scenes["site_id"]))
    stored = {s.id for s in store.list_sites()}
    missing = [s for s in site_ids if s not in stored]
    if missing:
        raise InputError(
            f"sites {', '.join(missing)} of the simulation are not in the store",
            path=sim_dir,
            fix="import and process the simulation first (`sitewatch demo` or `sites import`, `ingest`, ...)",
        )
    sim_scene_ids = set(truth.scenes["scene_id"].astype(str))
    scene_gsd = {s.id: s.gsd for sid in site_ids for s in store.list_scenes(site_id=sid) if s.id in sim_scene_ids}
    detections = [d for sid in site_ids for d in store.list_detections(site_id=sid) if d.scene_id in scene_gsd]
    objects = truth.objects[truth.objects["scene_id"].astype(str).isin(scene_gsd)]
    counts = [c for sid in site_ids for c in store.list_counts(sid)]
    alerts = [a for sid in site_ids for a in store.list_alerts(sid)]
    return {
        "simulated": True,
        "sim_dir": str(sim_dir),
        "sites": site_ids,
        "scenes_evaluated": len(scene_gsd),
        "detection": detection_metrics(objects, detections, scene_gsd),
        "counts": count_metrics(truth.activity, counts),
        "alerts": alert_metrics(truth.episodes, truth.events, alerts),
    }


@dataclass(frozen=True)
class ThresholdPick:
    """The counting threshold with the least scene count error on a simulation."""

    threshold: float
    #: (candidate threshold, count error of the detections kept at it), every candidate tried.
    errors: tuple[tuple[float, float], ...]
    source: str

    @property
    def count_error(self) -> float:
        return dict(self.errors)[self.threshold]

    def as_dict(self) -> dict[str, Any]:
        """The sidecar entry of a model's threshold for simulated imagery."""
        return {"threshold": self.threshold, "count_error": round(self.count_error, 4), "picked_on": self.source}


@dataclass(frozen=True)
class SimulationRun:
    """One detector's stored detections on a processed simulation, with the truth they are
    scored on: read once by :func:`simulation_run`, then used to pick a threshold and to fit
    a calibration."""

    sim_dir: Path
    detector: str
    scene_gsd: dict[str, float]
    scenes: dict[str, Any]
    detections: list[Detection]
    objects: pd.DataFrame
    #: Every stored detection scored at least this (None: a detect run did not record it).
    floor: float | None
    source: str

    def count_error(self, threshold: float) -> float:
        """The scene count error of the detections scoring at least ``threshold``."""
        kept = [d for d in self.detections if d.score >= threshold]
        return float(detection_metrics(self.objects, kept, self.scene_gsd)["count_error"])


def detection_floor(store: Store, detector: str, site_ids: Collection[str] | None = None) -> float | None:
    """The score threshold the detect runs of ``detector`` (over any of ``site_ids``, if
    given) applied to simulated scenes, the highest if they differ: its stored detections
    are complete above it. None when such a run did not record its thresholds (runs before
    2026-12-04)."""
    from sitewatch.detect.base import applied_threshold

    wanted = None if site_ids is None else set(site_ids)
    applied = []
    for run in store.list_runs("detect"):
        if run.params.get("model") != detector or run.finished is None:
            continue
        if wanted is not None and not wanted & set(run.params.get("sites") or ()):
            continue
        value = applied_threshold(run.params.get("score_thresholds") or {}, simulated=True)
        if value is None:
            return None
        applied.append(float(value))
    return max(applied) if applied else None


def simulation_run(store: Store, sim_dir: str | Path, *, detector: str | None = None) -> SimulationRun:
    """The detections of ``detector`` (default: the one that covered most scenes) on the
    simulation in ``sim_dir``, its truth and the score they were kept down to."""
    from sitewatch.analytics.pipeline import choose_detector

    truth = read_truth(sim_dir)
    sim_scene_ids = set(truth.scenes["scene_id"].astype(str))
    scenes = {s.id: s for s in store.list_scenes() if s.id in sim_scene_ids}
    if not scenes:
        raise InputError(
            "no scene of this simulation is in the store", path=sim_dir, fix="ingest and detect the simulation first"
        )
    detections = [d for d in store.list_detections() if d.scene_id in scenes]
    chosen = detector or choose_detector(detections)
    detections = [d for d in detections if d.detector == chosen]
    if not detections:
        raise InputError(f"no detections by {chosen!r} on this simulation", path=sim_dir, fix="run `sitewatch detect`")
    manifest = json.loads((Path(sim_dir) / "manifest.json").read_text())
    return SimulationRun(
        sim_dir=Path(sim_dir),
        detector=str(chosen),
        scene_gsd={k: s.gsd for k, s in scenes.items()},
        scenes=scenes,
        detections=detections,
        objects=truth.objects[truth.objects["scene_id"].astype(str).isin(scenes)],
        floor=detection_floor(store, str(chosen), set(truth.scenes["site_id"].astype(str))),
        source=f"SIMULATED {Path(sim_dir).name}: seed {manifest.get('seed', '?')}, {len(scenes)} scenes",
    )


def pick_simulated_threshold(run: SimulationRun) -> ThresholdPick:
    """The candidate counting threshold (:data:`~sitewatch.detect.evaluate.COUNT_THRESHOLDS`)
    with the least scene count error on a processed simulation, as the real one is picked on
    real val. The simulation must have been detected below the candidates (``--score-threshold
    0.15``); pick on a simulation you do not evaluate on."""
    from sitewatch.detect.evaluate import COUNT_THRESHOLDS

    sim_dir = run.sim_dir
    fix = (
        "detect the simulation again with a low threshold, e.g. `sitewatch demo DIR --seed 1001 --score-threshold 0.15`"
    )
    if run.floor is None:
        raise InputError("the detect run did not record its score threshold", path=sim_dir, fix=fix)
    grid = [t for t in COUNT_THRESHOLDS if t >= run.floor - 1e-9]
    errors = tuple((t, run.count_error(t)) for t in grid)
    if not errors:
        raise InputError(
            f"detections were kept at score >= {run.floor:g}, above every candidate", path=sim_dir, fix=fix
        )
    best = min(errors, key=lambda e: e[1])[0]
    if best == grid[0] and best > COUNT_THRESHOLDS[0]:
        # The error may fall further below what was kept: the pick would be an artefact of the floor.
        raise InputError(
            f"the count error is least at the lowest threshold detected ({best:g}); lower ones were not kept",
            path=sim_dir,
            fix=fix,
        )
    source = f"{run.source}: least scene count error of thresholds {grid[0]:g}-{grid[-1]:g}"
    return ThresholdPick(threshold=best, errors=errors, source=source)


def calibrate_counts(run: SimulationRun, *, score_threshold: float | None = None) -> CountCalibration:
    """Fit a :class:`CountCalibration` for the run's detector from a processed simulation, on
    its detections scoring at least ``score_threshold`` (default: all of them, i.e. the
    threshold they were detected at). Calibrate on a simulation other than the one you
    evaluate on."""
    sim_dir = run.sim_dir
    detections = run.detections
    if score_threshold is not None:
        if run.floor is None or score_threshold < run.floor - 1e-9:
            raise InputError(
                f"cannot calibrate at score {score_threshold:g}: detections were kept at >= {run.floor}",
                path=sim_dir,
                fix=f"detect the simulation again with --score-threshold {score_threshold:g} or lower",
            )
        detections = [d for d in detections if d.score >= score_threshold]
    outcomes = match_outcomes(run.objects, detections, run.scene_gsd)
    meta = pd.DataFrame(
        [(k, s.gsd, s.off_nadir, s.sun_elevation) for k, s in run.scenes.items()],
        columns=["scene_id", "gsd", "off_nadir", "sun_elevation"],
    )
    outcomes = outcomes.merge(meta, on="scene_id").astype({"off_nadir": float, "sun_elevation": float})
    outcomes[["off_nadir", "sun_elevation"]] = outcomes[["off_nadir", "sun_elevation"]].fillna(
        {"off_nadir": 0.0, "sun_elevation": 90.0}
    )
    source = f"{run.source}, {int(outcomes['present'].sum())} visible objects"
    fitted = fit_count_calibration(outcomes, detector=run.detector, source=source)
    return replace(fitted, score_threshold=score_threshold if score_threshold is not None else run.floor)
