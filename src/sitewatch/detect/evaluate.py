"""Detector evaluation on a COCO ground truth: mAP (pycocotools), AP50 per class, count MAE.

Ground-truth categories are matched to detector classes by name, so any COCO file whose
category names are sitewatch classes works (the shared data sets do).
"""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Callable, Collection, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sitewatch.detect.base import Detector
from sitewatch.detect.boxes import SAME_OBJECT_IOU, Boxes, coco_boxes, nms
from sitewatch.errors import InputError

#: Detections per image considered by COCOeval (dense car parks exceed the default 100).
MAX_DETS = (1, 100, 1000)

#: Candidate counting thresholds: a model counts at the one with the least count error on
#: held-out labelled data (real val at export, a simulation in ``calibrate-counts``).
COUNT_THRESHOLDS = tuple(round(0.15 + 0.05 * i, 2) for i in range(12))


def coco_metrics(
    gt: dict[str, Any],
    results: Sequence[dict[str, Any]],
    *,
    count_threshold: float,
    classes: Sequence[str] | None = None,
    count_images: Collection[int] | None = None,
) -> dict[str, Any]:
    """``map50``, ``map50_95``, ``per_class`` (name -> AP50), ``count_mae`` and sizes.

    ``results`` are COCO result dicts (image_id, category_id, bbox xywh, score). Only
    categories with ground truth count in the means; ``classes`` restricts them further.
    ``count_mae`` is the mean absolute per-image error of the count of detections scoring
    at least ``count_threshold``, over the ``count_images`` ids if given (all images if not);
    ``count_error`` is the same errors summed and divided by the true total (a share of it).
    """
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    names = {c["id"]: c["name"] for c in gt["categories"]}
    present = sorted({a["category_id"] for a in gt["annotations"]})
    cat_ids = [c for c in present if classes is None or names[c] in classes]
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = gt
        coco_gt.createIndex()
        coco_dt = coco_gt.loadRes(list(results)) if results else COCO()
        if not results:
            coco_dt.dataset = {"images": gt["images"], "categories": gt["categories"], "annotations": []}
            coco_dt.createIndex()
        ev = COCOeval(coco_gt, coco_dt, "bbox")
        ev.params.catIds = cat_ids
        ev.params.maxDets = list(MAX_DETS)
        ev.evaluate()
        ev.accumulate()
    # precision: [iou thresholds, recall points, categories, area ranges, max dets]
    precision = ev.eval["precision"][:, :, :, 0, -1]

    def ap(p: np.ndarray) -> float:
        p = p[p > -1]
        return float(p.mean()) if p.size else float("nan")

    per_class = {names[c]: ap(precision[0, :, k]) for k, c in enumerate(cat_ids)}
    aps = [v for v in per_class.values() if not np.isnan(v)]
    map50_95 = [ap(precision[:, :, k]) for k in range(len(cat_ids))]
    truth, found = image_counts(gt, results, count_threshold, cat_ids, count_images)
    errors = np.abs(found - truth)
    return {
        "map50": float(np.mean(aps)) if aps else 0.0,
        "map50_95": float(np.nanmean(map50_95)) if cat_ids else 0.0,
        "per_class": per_class,
        "count_mae": float(errors.mean()) if errors.size else 0.0,
        "count_error": float(errors.sum() / truth.sum()) if truth.sum() else None,
        "images": len(gt["images"]),
        "objects": sum(1 for a in gt["annotations"] if a["category_id"] in cat_ids),
    }


def format_share(x: float | None) -> str:
    """A share (0.123) as a percentage for tables ("12.3 %"), "n/a" when undefined."""
    return "n/a" if x is None else f"{100 * x:.1f} %"


def image_counts(
    gt: dict[str, Any],
    results: Sequence[dict[str, Any]],
    threshold: float,
    cat_ids: Sequence[int],
    image_ids: Collection[int] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Per image, the true object count and the count of detections scoring at least
    ``threshold`` (all evaluated classes together), over ``image_ids`` if given (e.g. the
    images whose every object is boxed).

    ``results`` may hold several classes' boxes for one object (ranked for mAP); as when
    detecting, boxes overlapping above :data:`SAME_OBJECT_IOU` count once.
    """
    cats = set(cat_ids)
    keep = None if image_ids is None else set(image_ids)
    truth = dict.fromkeys((im["id"] for im in gt["images"] if keep is None or im["id"] in keep), 0)
    for a in gt["annotations"]:
        if a["category_id"] in cats and a["image_id"] in truth:
            truth[a["image_id"]] += 1
    kept: dict[int, list[dict[str, Any]]] = {i: [] for i in truth}
    for r in results:
        if r["score"] >= threshold and r["category_id"] in cats and r["image_id"] in kept:
            kept[r["image_id"]].append(r)
    found = [len(nms(_boxes(rs), SAME_OBJECT_IOU, class_aware=False)) for rs in kept.values()]
    return np.array(list(truth.values()), dtype=float), np.array(found, dtype=float)


def _boxes(results: Sequence[dict[str, Any]]) -> Boxes:
    return Boxes(
        coco_boxes(results),
        np.array([r["score"] for r in results], dtype=np.float32),
        np.array([r["category_id"] for r in results], dtype=np.int64),
    )


def to_results(image_id: int, found: Boxes, category_of: Callable[[int], int | None]) -> list[dict[str, Any]]:
    """COCO result dicts for one image; ``category_of`` maps a label index to a category id."""
    out = []
    for b, s, c in zip(found.boxes, found.scores, found.labels, strict=True):
        cat = category_of(int(c))
        if cat is None:
            continue
        x0, y0, x1, y1 = (float(v) for v in b)
        out.append({"image_id": image_id, "category_id": cat, "bbox": [x0, y0, x1 - x0, y1 - y0], "score": float(s)})
    return out


def evaluate_coco(
    annotations: str | Path,
    images: str | Path,
    detector: Detector,
    *,
    gsd: float | str | None = None,
    degrade_to: float | None = None,
    count_threshold: float | None = None,
    tile_size: int | None = None,
    on_progress: Callable[[int, int, str], None] | None = None,
) -> dict[str, Any]:
    """Run ``detector`` over a COCO data set and score it (see :func:`coco_metrics`).

    ``gsd`` is the images' metres per pixel: a number, ``"labels"`` (estimated per image
    from the median car box, for data sets that do not state it; images with too few cars
    take the median of the others' estimates), or None (each image's
    ``gsd`` key, else the detector's). ``degrade_to`` first resamples every image to that
    coarser GSD, to measure the detector at satellite resolutions. The detector should
    have a low score threshold and keep every class's box (``load_detector(...,
    ranking=True)``): mAP needs the full ranking. ``count_threshold`` (default: the
    detector's own) is used for the count error.
    """
    from sitewatch.detect.slicing import detect_pixels
    from sitewatch.detect.train.data import estimate_gsd, fill_gsds
    from sitewatch.imagery.raster import open_raster

    annotations, images = Path(annotations), Path(images)
    try:
        gt = json.loads(annotations.read_text())
        gt_images, categories = gt["images"], gt["categories"]
    except (OSError, ValueError, KeyError) as exc:
        raise InputError(f"not a COCO detection file ({exc})", path=annotations, fix="give COCO JSON") from exc
    gt.setdefault("annotations", [])
    name_to_cat = {c["name"]: c["id"] for c in categories}
    classes = list(detector.classes)
    by_image: dict[int, list[dict[str, Any]]] = {}
    for a in gt["annotations"]:
        a.setdefault("iscrowd", 0)  # optional in hand-made files; pycocotools needs it
        by_image.setdefault(a["image_id"], []).append(a)
    cat_names = {c["id"]: c["name"] for c in categories}
    gsds = [_image_gsd(gsd, info, by_image.get(info["id"], []), cat_names, estimate_gsd) for info in gt_images]
    if gsd == "labels":
        gsds = fill_gsds(gsds)
        if gt_images and gsds[0] is None:
            raise InputError(
                "no image has enough car boxes to estimate its GSD from", path=annotations, fix="give --gsd M_PER_PX"
            )
    results: list[dict[str, Any]] = []
    for k, (info, known_gsd) in enumerate(zip(gt_images, gsds, strict=True)):
        if on_progress:
            on_progress(k, len(gt_images), info["file_name"])
        path = images / info["file_name"]
        image_gsd = known_gsd or detector.gsd
        with open_raster(path, require_georef=False) as ds:
            if degrade_to and degrade_to > image_gsd:
                found = _detect_degraded(ds, detector, image_gsd, degrade_to, tile_size)
            else:
                found = detect_pixels(ds, detector, gsd=image_gsd, tile_size=tile_size)
        results += to_results(info["id"], found, category_of=lambda c: name_to_cat.get(classes[c]))
    threshold = count_threshold if count_threshold is not None else getattr(detector, "score_threshold", 0.3)
    evaluated = [c for c in classes if c in name_to_cat]
    metrics = coco_metrics(gt, results, count_threshold=threshold, classes=evaluated)
    metrics.update(detector=detector.name, gsd=gsd, degrade_to=degrade_to, count_threshold=threshold)
    metrics["per_source"] = per_source(gt, results, count_threshold=threshold, classes=evaluated)
    return metrics


def per_source(
    gt: dict[str, Any], results: Sequence[dict[str, Any]], *, count_threshold: float, classes: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """:func:`coco_metrics` of each group of images sharing a ``source`` key, when there are several.

    Sources are labelled differently: in the shared aerial-vehicles set, SIMD crops box a
    few vehicles among many and KIT AIS frames box every car, so a pooled AP says little
    about either.
    """
    groups: dict[str, set[int]] = {}
    for im in gt["images"]:
        if im.get("source"):
            groups.setdefault(str(im["source"]), set()).add(im["id"])
    if len(groups) < 2:
        return {}
    out = {}
    for source, ids in sorted(groups.items()):
        part = dict(
            gt,
            images=[im for im in gt["images"] if im["id"] in ids],
            annotations=[a for a in gt["annotations"] if a["image_id"] in ids],
        )
        mine = [r for r in results if r["image_id"] in ids]
        out[source] = coco_metrics(part, mine, count_threshold=count_threshold, classes=classes)
    return out


def _image_gsd(
    gsd: float | str | None,
    info: dict[str, Any],
    anns: list[dict[str, Any]],
    cat_names: dict[int, str],
    estimate: Callable[[np.ndarray, np.ndarray], float | None],
) -> float | None:
    if isinstance(gsd, int | float):
        return float(gsd)
    if gsd == "labels":
        from sitewatch.model import CLASSES

        boxes = coco_boxes(anns)
        labels = np.array(
            [
                CLASSES.index(cat_names[a["category_id"]]) if cat_names[a["category_id"]] in CLASSES else -1
                for a in anns
            ],
            dtype=np.int64,
        )
        return estimate(boxes, labels)
    return info.get("gsd")


def _detect_degraded(ds: Any, detector: Detector, gsd: float, target: float, tile_size: int | None) -> Any:
    """Detect on the image resampled to the coarser ``target`` GSD; boxes in original pixels."""
    import warnings

    import cv2
    from rasterio.errors import NotGeoreferencedWarning
    from rasterio.io import MemoryFile

    from sitewatch.detect.slicing import detect_pixels

    f = gsd / target
    bands = (1, 2, 3) if ds.count >= 3 else (1,)
    data = np.moveaxis(ds.read(list(bands)), 0, -1)
    small = cv2.resize(data, None, fx=f, fy=f, interpolation=cv2.INTER_AREA).reshape(
        round(ds.height * f), round(ds.width * f), len(bands)
    )
    profile = {
        "driver": "GTiff",
        "width": small.shape[1],
        "height": small.shape[0],
        "count": len(bands),
        "dtype": small.dtype.name,
    }
    with warnings.catch_warnings():
        # A plain in-memory copy: opening it for writing is what warns, so filter first.
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with MemoryFile() as mem, mem.open(**profile) as out:
            out.write(np.moveaxis(small, -1, 0))
            found = detect_pixels(out, detector, gsd=target, tile_size=tile_size)
    return found.shifted(0, 0, scale=ds.width / small.shape[1])
