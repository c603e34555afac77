"""Scoring change detection against ground truth.

* Simulator truth (``truth/objects.csv`` lists every object present in every scene, with
  ``visible``): appeared/departed between consecutive scenes of a site are known, so
  object-level change is scored by matching predicted to true changes on the ground.
  Objects present on both dates but hidden on one are "don't care": a change reported
  for them is neither right nor wrong.
* Image pairs with change masks, in the layout of LEVIR-CD and most change benchmarks:
  ``DIR/A/<name>``, ``DIR/B/<name>``, ``DIR/label/<name>`` (any image GDAL reads; label
  non-zero = change); scored per pixel (precision, recall, F1, IoU of the change class).
"""

from __future__ import annotations

import csv
import datetime as dt
import itertools
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from shapely.geometry import Point
from shapely.geometry.base import BaseGeometry

from sitewatch.change.objects import match_detections, object_changes
from sitewatch.change.pipeline import compare_arrays
from sitewatch.errors import ChangeError, InputError, NotFoundError
from sitewatch.imagery.raster import open_raster, read_rgb
from sitewatch.model import Detection, utc
from sitewatch.store.base import Store

#: A predicted change within this distance of a true one found it.
EVAL_GATE_M = 5.0
LABEL_DIRS: tuple[str, ...] = ("label", "mask", "OUT")


@dataclass(frozen=True)
class Score:
    """Counts of true positives, false positives and false negatives, and what follows."""

    tp: int
    fp: int
    fn: int

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else float("nan")

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else float("nan")

    @property
    def f1(self) -> float:
        return 2 * self.tp / (2 * self.tp + self.fp + self.fn) if self.tp + self.fp + self.fn else float("nan")

    @property
    def iou(self) -> float:
        return self.tp / (self.tp + self.fp + self.fn) if self.tp + self.fp + self.fn else float("nan")

    def __add__(self, other: Score) -> Score:
        return Score(self.tp + other.tp, self.fp + other.fp, self.fn + other.fn)

    def as_dict(self) -> dict[str, float | int]:
        return {
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
            "precision": self.precision,
            "recall": self.recall,
            "f1": self.f1,
            "iou": self.iou,
        }


# -- simulator truth ---------------------------------------------------------------


@dataclass(frozen=True)
class TruthObject:
    scene_id: str
    object_id: str
    cls: str
    site_id: str
    lon: float
    lat: float
    visible: bool

    def as_detection(self) -> Detection:
        return Detection(self.scene_id, self.cls, 1.0, (0.0, 0.0, 0.0, 0.0), Point(self.lon, self.lat), "truth")


@dataclass(frozen=True)
class SimChangeReport:
    """Object-level scores over consecutive scene pairs of every simulated site."""

    appeared: Score
    departed: Score
    pairs: int
    source: str  # "store detections (<detector>)" or "truth boxes (oracle)"
    per_site: dict[str, dict[str, Score]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        return {
            "simulated": True,
            "pairs": self.pairs,
            "source": self.source,
            "appeared": self.appeared.as_dict(),
            "departed": self.departed.as_dict(),
            "per_site": {s: {k: v.as_dict() for k, v in d.items()} for s, d in self.per_site.items()},
        }


def read_truth(sim_dir: Path) -> tuple[dict[str, list[tuple[dt.datetime, str]]], dict[str, list[TruthObject]]]:
    """Scenes per site in time order, and truth objects per scene, from a simulation directory."""
    scenes_csv, objects_csv = sim_dir / "truth" / "scenes.csv", sim_dir / "truth" / "objects.csv"
    for p in (scenes_csv, objects_csv):
        if not p.is_file():
            raise InputError("missing simulator truth file", path=p, fix="give the OUT folder of `sitewatch simulate`")
    by_site: dict[str, list[tuple[dt.datetime, str]]] = defaultdict(list)
    with scenes_csv.open(newline="") as f:
        for row in csv.DictReader(f):
            when = utc(dt.datetime.fromisoformat(row["acquired"].replace("Z", "+00:00")))
            by_site[row["site_id"]].append((when, row["scene_id"]))
    objects: dict[str, list[TruthObject]] = defaultdict(list)
    with objects_csv.open(newline="") as f:
        for row in csv.DictReader(f):
            objects[row["scene_id"]].append(
                TruthObject(
                    row["scene_id"],
                    row["object_id"],
                    row["cls"],
                    row["site_id"],
                    float(row["lon"]),
                    float(row["lat"]),
                    row["visible"].strip().lower() in ("1", "true", "yes"),
                )
            )
    return {s: sorted(v) for s, v in by_site.items()}, objects


def _score(predicted: Sequence[Detection], truth: Sequence[Detection], dont_care: Sequence[Detection]) -> Score:
    hits = match_detections(predicted, truth, gate_m=EVAL_GATE_M, same_class=False)
    found = {i for i, _, _ in hits}
    rest = [p for i, p in enumerate(predicted) if i not in found]
    ignored = len(match_detections(rest, dont_care, gate_m=EVAL_GATE_M, same_class=False))
    return Score(len(hits), len(rest) - ignored, len(truth) - len(hits))


def _observed(points: Sequence[TruthObject], valid: BaseGeometry | None) -> list[TruthObject]:
    return [o for o in points if valid is None or valid.covers(Point(o.lon, o.lat))]


def evaluate_sim(sim_dir: str | Path, store: Store | None = None, detector: str | None = None) -> SimChangeReport:
    """Score appeared/departed between consecutive scenes of each site of ``sim_dir``.

    With a ``store`` holding detections of the simulated scenes they are scored (the real
    pipeline); otherwise the visible truth objects stand in for detections, which scores
    the matching logic alone (an upper bound).
    """
    sim_dir = Path(sim_dir)
    by_site, objects = read_truth(sim_dir)
    if store is not None and detector is None:
        found = store.list_detections(site_id=next(iter(by_site), None))
        detector = found[0].detector if found else None
    total = {"appeared": Score(0, 0, 0), "departed": Score(0, 0, 0)}
    per_site: dict[str, dict[str, Score]] = {}
    pairs = 0
    for site_id, scenes in by_site.items():
        site_total = {"appeared": Score(0, 0, 0), "departed": Score(0, 0, 0)}
        for (_, a_id), (_, b_id) in itertools.pairwise(scenes):
            truth_a, truth_b = objects.get(a_id, []), objects.get(b_id, [])
            valid_a = valid_b = None
            if detector is not None and store is not None:
                try:
                    valid_a, valid_b = store.get_scene(a_id).valid, store.get_scene(b_id).valid
                except NotFoundError:
                    continue  # scene not ingested: nothing was detected on it
                det_a = store.list_detections(scene_id=a_id, detector=detector)
                det_b = store.list_detections(scene_id=b_id, detector=detector)
            else:
                det_a = [o.as_detection() for o in truth_a if o.visible]
                det_b = [o.as_detection() for o in truth_b if o.visible]
            pred = object_changes(det_a, det_b, before_valid=valid_a, after_valid=valid_b)
            seen_a = {o.object_id: o.visible for o in truth_a}
            seen_b = {o.object_id: o.visible for o in truth_b}
            new = [o for o in truth_b if o.visible and o.object_id not in seen_a]
            gone = [o for o in truth_a if o.visible and o.object_id not in seen_b]
            # True change: present on one date only, and its place seen on the other date.
            true_app, true_dep = _observed(new, valid_a), _observed(gone, valid_b)
            # Don't care: objects hidden on the other date, and changes the other date could not see.
            hidden_app = [o for o in truth_b if o.visible and seen_a.get(o.object_id) is False]
            hidden_dep = [o for o in truth_a if o.visible and seen_b.get(o.object_id) is False]
            unseen_app = [o for o in new if o not in true_app]
            unseen_dep = [o for o in gone if o not in true_dep]
            for kind, truth, dont_care, side in (
                ("appeared", true_app, [*hidden_app, *unseen_app], "after"),
                ("departed", true_dep, [*hidden_dep, *unseen_dep], "before"),
            ):
                predicted = [getattr(c, side) for c in pred if c.kind == kind]
                s = _score(predicted, [o.as_detection() for o in truth], [o.as_detection() for o in dont_care])
                site_total[kind] += s
                total[kind] += s
            pairs += 1
        per_site[site_id] = site_total
    if pairs == 0:
        raise ChangeError(
            "no pair of consecutive scenes to score",
            path=sim_dir,
            fix="simulate more than one scene per site, and ingest and detect them when using --db",
        )
    source = f"store detections ({detector})" if detector else "truth objects as detections (oracle)"
    return SimChangeReport(total["appeared"], total["departed"], pairs, source, per_site)


# -- image pairs with change masks --------------------------------------------------


@dataclass(frozen=True)
class PairsReport:
    total: Score
    per_pair: dict[str, Score]
    skipped: dict[str, str]

    def as_dict(self) -> dict[str, object]:
        return {
            **self.total.as_dict(),
            "pairs": len(self.per_pair),
            "per_pair": {k: v.as_dict() for k, v in self.per_pair.items()},
            "skipped": self.skipped,
        }


def _read(path: Path) -> tuple[np.ndarray, np.ndarray]:
    with open_raster(path, require_georef=False) as ds:
        return read_rgb(ds)


def _label(path: Path) -> np.ndarray:
    with open_raster(path, require_georef=False) as ds:
        return ds.read(1) > 0


def score_masks(predicted: np.ndarray, truth: np.ndarray, valid: np.ndarray) -> Score:
    """Pixel counts of the change class inside ``valid``."""
    p, t = predicted & valid, truth & valid
    return Score(int((p & t).sum()), int((p & ~t).sum()), int((~p & t).sum()))


def evaluate_pairs(pairs_dir: str | Path, *, alpha: float = 1e-3, min_area_px: int = 9) -> PairsReport:
    """Pixel-level scores of the change mask on every A/B/label triple of ``pairs_dir``."""
    root = Path(pairs_dir)
    label_dir = next((root / d for d in LABEL_DIRS if (root / d).is_dir()), None)
    if not (root / "A").is_dir() or not (root / "B").is_dir() or label_dir is None:
        raise InputError(
            "not a change-pairs folder",
            path=root,
            fix="give a folder with A/, B/ and label/ holding images of the same names",
        )
    per_pair: dict[str, Score] = {}
    skipped: dict[str, str] = {}
    for a_path in sorted(p for p in (root / "A").iterdir() if p.is_file()):
        b_path, l_path = root / "B" / a_path.name, label_dir / a_path.name
        if not b_path.is_file() or not l_path.is_file():
            skipped[a_path.name] = "no matching B/ image or label"
            continue
        (img_a, valid_a), (img_b, valid_b) = _read(a_path), _read(b_path)
        truth = _label(l_path)
        if img_a.shape != img_b.shape or truth.shape != img_a.shape[:2]:
            skipped[a_path.name] = f"sizes differ: A {img_a.shape}, B {img_b.shape}, label {truth.shape}"
            continue
        valid = valid_a & valid_b
        try:
            # Benchmark pairs are registered already: a shift is applied only when reliable.
            change = compare_arrays(
                img_a,
                img_b,
                valid,
                None,
                alpha=alpha,
                min_area_px=min_area_px,
                require_alignment=False,
                label=a_path.name,
            )
        except ChangeError as exc:
            skipped[a_path.name] = exc.problem
            continue
        per_pair[a_path.name] = score_masks(change.pixels.mask, truth, change.pixels.valid)
    if not per_pair:
        raise InputError("no pair could be scored", path=root, fix="check the A/, B/ and label/ images match")
    return PairsReport(sum(per_pair.values(), Score(0, 0, 0)), per_pair, skipped)
