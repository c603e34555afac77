"""`sitewatch detect FILE --out` in every format, plain images, and `evaluate-detector --json`."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from sitewatch.cli.main import app
from sitewatch.detect import load_detector
from sitewatch.detect.boxes import Boxes, _opencv_nms, nms
from sitewatch.detect.simple import SimpleDetector
from sitewatch.errors import ModelError

CARS = [(20.0 + 15 * k, 30.0 + 7 * k, 24.5 + 15 * k, 31.8 + 7 * k) for k in range(6)]


@pytest.fixture
def geotiff(tmp_path: Path, scene: Any) -> Path:
    scene(tmp_path / "scene.tif", CARS, size=(600, 500), gsd=0.3)
    return tmp_path / "scene.tif"


def test_simple_detector_finds_bright_cars(geotiff: Path) -> None:
    from sitewatch.detect.slicing import detect_raster

    found = detect_raster(geotiff, SimpleDetector())
    assert len(found) == len(CARS)
    assert {d.cls for d in found} == {"car"}


def test_detect_geotiff_to_geojson(geotiff: Path, tmp_path: Path) -> None:
    out = tmp_path / "d.geojson"
    res = CliRunner().invoke(app, ["detect", str(geotiff), "--out", str(out), "--model", "simple"])
    assert res.exit_code == 0, res.output
    fc = json.loads(out.read_text())
    assert len(fc["features"]) == len(CARS)
    lon, lat = fc["features"][0]["geometry"]["coordinates"][0][0]
    assert 127 < lon < 128 and 39 < lat < 39.2  # EPSG:4326, near the generated UTM origin
    assert fc["features"][0]["properties"]["detector"] == "simple-tophat@1"


def test_detect_geotiff_to_geoparquet_in_scene_crs(geotiff: Path, tmp_path: Path) -> None:
    import geopandas as gpd

    out = tmp_path / "d.parquet"
    res = CliRunner().invoke(app, ["detect", str(geotiff), "-o", str(out), "-f", "parquet", "--model", "simple"])
    assert res.exit_code == 0, res.output
    frame = gpd.read_parquet(out)
    assert frame.crs.to_epsg() == 32652 and len(frame) == len(CARS)
    xs = sorted(frame.geometry.bounds.minx - 350_000.0)
    assert xs[0] == pytest.approx(20.0, abs=0.6)


def test_detect_files_keep_boxes_at_the_threshold_of_their_imagery_domain(tmp_path: Path, scene: Any) -> None:
    """A file whose metadata says SIMULATED is kept at the model's simulated threshold; the
    files say which threshold each image's boxes were kept at."""
    from sitewatch.detect import model_path

    model = tmp_path / "m.onnx"
    model.write_bytes(model_path().read_bytes())
    meta = json.loads(model_path().with_suffix(".json").read_text())
    meta |= {"score_threshold": 0.6, "score_thresholds": {"simulated": {"threshold": 0.2, "picked_on": "test"}}}
    model.with_suffix(".json").write_text(json.dumps(meta))
    images = tmp_path / "images"
    images.mkdir()
    for name, simulated in (("real", False), ("sim", True)):
        scene(images / f"{name}.tif", CARS, size=(600, 500), gsd=0.3)
        (images / f"{name}.json").write_text(json.dumps({"acquired": "2024-03-01T02:00:00Z", "simulated": simulated}))
    for extra, expected in (([], {"real.tif": 0.6, "sim.tif": 0.2}), (["--score-threshold", "0.3"], None)):
        out = tmp_path / "d.json"
        res = CliRunner().invoke(
            app, ["detect", str(images), "-o", str(out), "-f", "coco", "--model", str(model), *extra]
        )
        assert res.exit_code == 0, res.output
        coco = json.loads(out.read_text())
        kept = {Path(i["file_name"]).name: i["score_threshold"] for i in coco["images"]}
        assert kept == (expected or {"real.tif": 0.3, "sim.tif": 0.3})
        by_id = {i["id"]: i["score_threshold"] for i in coco["images"]}
        assert all(a["score"] >= by_id[a["image_id"]] for a in coco["annotations"])
        found = Counter(Path(coco["images"][a["image_id"] - 1]["file_name"]).name for a in coco["annotations"])
        if expected:  # the same cars: the simulated image's lower threshold keeps more of them
            assert found["sim.tif"] > found["real.tif"]


def test_plain_png_gives_pixel_coordinates_with_a_warning(tmp_path: Path) -> None:
    img = np.full((200, 300, 3), 40, dtype=np.uint8)
    img[50:55, 60:72] = 250
    cv2.imwrite(str(tmp_path / "plain.png"), img)
    out = tmp_path / "d.json"
    res = CliRunner().invoke(
        app, ["detect", str(tmp_path / "plain.png"), "-o", str(out), "-f", "coco", "--model", "simple"]
    )
    assert res.exit_code == 0, res.output
    assert "not georeferenced" in res.output
    coco = json.loads(out.read_text())
    (ann,) = coco["annotations"]
    assert ann["bbox"][0] == pytest.approx(60, abs=1.5) and ann["bbox"][1] == pytest.approx(50, abs=1.5)


def test_bad_files_are_skipped_with_a_reason(tmp_path: Path, geotiff: Path) -> None:
    (tmp_path / "broken.tif").write_bytes(b"nope")
    out = tmp_path / "d.geojson"
    res = CliRunner().invoke(app, ["detect", str(tmp_path), "-o", str(out), "--model", "simple"])
    assert res.exit_code == 0, res.output
    assert "broken.tif" in res.output and "1 skipped" in res.output
    only_bad = tmp_path / "bad"
    only_bad.mkdir()
    (only_bad / "x.tif").write_bytes(b"")
    res = CliRunner().invoke(app, ["detect", str(only_bad), "-o", str(out), "--model", "simple"])
    assert res.exit_code == 1 and "empty file" in res.output


def test_evaluate_detector_json(tmp_path: Path) -> None:
    img = np.full((300, 300, 3), 40, dtype=np.uint8)
    anns = []
    for k in range(5):
        x, y = 30 + 50 * k, 40 + 40 * k
        img[y : y + 5, x : x + 12] = 250
        anns.append({"id": k + 1, "image_id": 1, "category_id": 1, "bbox": [x, y, 12, 5], "area": 60, "iscrowd": 0})
    cv2.imwrite(str(tmp_path / "a.png"), img)
    gt = {
        "images": [{"id": 1, "file_name": "a.png", "width": 300, "height": 300}],
        "annotations": anns,
        "categories": [{"id": 1, "name": "car"}, {"id": 2, "name": "truck"}],
    }
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    res = CliRunner().invoke(
        app,
        [
            "evaluate-detector",
            "--coco",
            str(tmp_path / "gt.json"),
            "--images",
            str(tmp_path),
            "--gsd",
            "0.4",
            "--model",
            "simple",
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    metrics = json.loads(res.output)
    assert {"map50", "map50_95", "per_class", "count_mae", "count_error"} <= set(metrics)
    assert metrics["per_class"]["car"] > 0.5 and metrics["count_mae"] <= 1


def test_evaluate_detector_degrades_quietly_and_scores_in_original_pixels(tmp_path: Path) -> None:
    """``--degrade-to`` detects on a coarser copy; its boxes come back in the image's pixels."""
    import warnings

    from sitewatch.detect.evaluate import evaluate_coco

    img = np.full((600, 600, 3), 40, dtype=np.uint8)  # 0.2 m: cars 24 x 10 px, 12 x 5 at 0.4 m
    anns = []
    for k in range(5):
        x, y = 60 + 100 * k, 80 + 80 * k
        img[y : y + 10, x : x + 24] = 250
        anns.append({"id": k + 1, "image_id": 1, "category_id": 1, "bbox": [x, y, 24, 10], "area": 240})
    cv2.imwrite(str(tmp_path / "a.png"), img)
    gt = {
        "images": [{"id": 1, "file_name": "a.png", "width": 600, "height": 600}],
        "annotations": anns,
        "categories": [{"id": 1, "name": "car"}],
    }
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        metrics = evaluate_coco(tmp_path / "gt.json", tmp_path, SimpleDetector(), gsd=0.2, degrade_to=0.4)
    assert metrics["per_class"]["car"] > 0.9 and metrics["count_mae"] == 0
    assert not [w for w in caught if w.category.__name__ == "NotGeoreferencedWarning"]


def test_evaluate_detector_reports_each_image_source_apart(tmp_path: Path) -> None:
    """A source that boxes one car in five must not hide how the detector does on one that boxes all."""
    img = np.full((300, 300, 3), 40, dtype=np.uint8)
    boxes = [(30 + 50 * k, 40 + 40 * k) for k in range(5)]
    for x, y in boxes:
        img[y : y + 5, x : x + 12] = 250
    cv2.imwrite(str(tmp_path / "a.png"), img)
    x, y = boxes[0]
    img[y : y + 5, x : x + 12] = 140  # the one car boxed in the sparse image scores lowest
    cv2.imwrite(str(tmp_path / "b.png"), img)
    images = [
        {"id": 1, "file_name": "a.png", "width": 300, "height": 300, "source": "complete"},
        {"id": 2, "file_name": "b.png", "width": 300, "height": 300, "source": "sparse"},
    ]
    anns = [
        {"id": len(boxes) * (i - 1) + k + 1, "image_id": i, "category_id": 1, "bbox": [x, y, 12, 5], "area": 60}
        for i in (1, 2)
        for k, (x, y) in enumerate(boxes)
        if i == 1 or k == 0
    ]
    gt = {"images": images, "annotations": anns, "categories": [{"id": 1, "name": "car"}]}
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    args = ["evaluate-detector", "--coco", str(tmp_path / "gt.json"), "--images", str(tmp_path)]
    res = CliRunner().invoke(app, [*args, "--gsd", "0.4", "--model", "simple", "--json"])
    assert res.exit_code == 0, res.output
    metrics = json.loads(res.output)
    complete, sparse = (metrics["per_source"][s]["per_class"]["car"] for s in ("complete", "sparse"))
    assert complete > 0.9 and sparse < 0.5 and sparse < metrics["per_class"]["car"] < complete
    assert metrics["per_source"]["sparse"]["objects"] == 1
    table = CliRunner().invoke(app, [*args, "--gsd", "0.4", "--model", "simple"])
    assert table.exit_code == 0 and "per image source" in table.output


def test_evaluate_detector_labels_gsd_of_an_image_with_few_cars_comes_from_the_others(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An image with too few car boxes to measure takes its set's GSD, not the model's.

    Sparsely boxed 0.1 m crops read as 0.4 m once showed every truck 4x too small (AP50 0).
    """
    import sitewatch.detect.slicing as slicing
    from sitewatch.detect.evaluate import evaluate_coco

    seen: dict[str, float] = {}

    def record(ds: Any, detector: Any, *, gsd: float, tile_size: int | None = None) -> Boxes:
        seen[Path(ds.name).name] = gsd
        return Boxes.empty()

    monkeypatch.setattr(slicing, "detect_pixels", record)
    images: list[dict[str, Any]] = []
    anns: list[dict[str, Any]] = []
    for i, cars in ((1, 4), (2, 5), (3, 1)):  # 4.6 m cars 46 and 23 px long; image 3 has one car
        cv2.imwrite(str(tmp_path / f"{i}.png"), np.zeros((60, 60, 3), np.uint8))
        images.append({"id": i, "file_name": f"{i}.png", "width": 60, "height": 60})
        size = 23 if i == 2 else 46
        box = {"image_id": i, "category_id": 1, "bbox": [0, 0, size, 9], "area": 9 * size}
        anns += [dict(box, id=len(anns) + k + 1) for k in range(cars)]
    coco = tmp_path / "gt.json"
    coco.write_text(json.dumps({"images": images, "annotations": anns, "categories": [{"id": 1, "name": "car"}]}))
    evaluate_coco(coco, tmp_path, SimpleDetector(), gsd="labels")
    assert seen["1.png"] == pytest.approx(0.1, rel=0.01) and seen["2.png"] == pytest.approx(0.2, rel=0.01)
    assert seen["3.png"] == pytest.approx(0.15, rel=0.01)  # the median of the others, not the model's 0.4
    coco.write_text(json.dumps({"images": images, "annotations": [], "categories": [{"id": 1, "name": "car"}]}))
    args = ["evaluate-detector", "--coco", str(coco), "--images", str(tmp_path), "--model", "simple"]
    res = CliRunner().invoke(app, [*args, "--gsd", "labels"])
    assert res.exit_code == 1 and "enough car boxes" in res.output and "--gsd" in res.output


def test_unknown_model_is_a_clear_error() -> None:
    with pytest.raises(ModelError, match="no model named"):
        load_detector("nope")
    res = CliRunner().invoke(app, ["detect", "x.tif", "-o", "y.json", "--model", "/tmp/missing.onnx"])
    assert res.exit_code == 1 and "model file not found" in res.output


def test_nms_is_class_aware() -> None:
    b = Boxes(
        np.array([[0, 0, 10, 10], [1, 0, 11, 10], [0, 0, 10, 10], [50, 50, 60, 60]], dtype=np.float32),
        np.array([0.9, 0.8, 0.7, 0.6], dtype=np.float32),
        np.array([0, 0, 1, 0]),
    )
    kept = nms(b, 0.5)
    assert kept.scores.tolist() == pytest.approx([0.9, 0.7, 0.6])


@pytest.mark.parametrize("seed", range(4))
def test_nms_keeps_what_opencv_keeps_over_all_boxes(seed: int) -> None:
    # nms hands OpenCV only boxes with an overlapping same-class partner: the result must
    # be that of greedy NMS over every box, chains of overlaps included.
    rng = np.random.default_rng(seed)
    n = 3000
    xy = rng.uniform(0, 600, (n, 2))
    wh = rng.uniform(4, 14, (n, 2))
    k = n // 4  # near-duplicates of other boxes, as at tile seams
    xy[:k] = xy[k : 2 * k] + rng.normal(0, 1.5, (k, 2))
    wh[:k] = wh[k : 2 * k] * rng.uniform(0.8, 1.2, (k, 2))
    b = Boxes(
        np.concatenate([xy, xy + wh], axis=1).astype(np.float32),
        rng.uniform(0.4, 1.0, n).astype(np.float32),
        rng.integers(0, 3, n),
    )
    kept = nms(b, 0.5)
    reference = b.take(_opencv_nms(b, 0.5))
    assert 0 < len(reference) < n
    np.testing.assert_array_equal(kept.boxes, reference.boxes)
    np.testing.assert_array_equal(kept.labels, reference.labels)


def test_the_evaluation_ranks_every_class_of_a_box_and_detection_keeps_one() -> None:
    from sitewatch.detect.boxes import SAME_OBJECT_IOU

    assert getattr(load_detector(), "same_object_iou", None) == SAME_OBJECT_IOU
    assert getattr(load_detector(ranking=True), "same_object_iou", 1.0) is None
