"""Training pieces: config, augmentation geometry, targets, and a smoke train -> ONNX round trip."""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from sitewatch.detect.boxes import decode_centernet
from sitewatch.detect.evaluate import image_counts, to_results
from sitewatch.detect.train.config import AugmentConfig, SourceConfig, load_config
from sitewatch.detect.train.data import (
    STRIDE,
    LabelledImage,
    background_weight,
    encode_targets,
    estimate_gsd,
    load_coco,
    sample_crop,
)
from sitewatch.errors import InputError
from sitewatch.model import CLASSES

CAR, TRUCK, OTHER = CLASSES.index("car"), CLASSES.index("truck"), CLASSES.index("other_vehicle")


def _image_with_box(box: tuple[int, int, int, int], size: int = 200, gsd: float = 0.4) -> LabelledImage:
    img = np.full((size, size, 3), 40, dtype=np.uint8)
    x0, y0, x1, y1 = box
    img[y0:y1, x0:x1] = 250
    return LabelledImage("t", img, np.array([box], dtype=np.float32), np.array([CAR]), gsd)


def test_geometric_augmentation_moves_boxes_with_pixels() -> None:
    im = _image_with_box((50, 80, 62, 86))
    aug = AugmentConfig(source_gsd=(0.4, 0.4), scale_jitter=0.0, colour=0, haze=0, blur=0, noise=0)
    for seed in range(12):
        tile, boxes, labels = sample_crop(im, np.random.default_rng(seed), crop=128, model_gsd=0.4, aug=aug)
        if not len(boxes):
            continue
        ys, xs = np.nonzero(tile[..., 0] > 150)
        assert labels.tolist() == [CAR]
        np.testing.assert_allclose(boxes[0], [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], atol=1.0)


def test_crops_are_resampled_to_the_model_gsd() -> None:
    im = _image_with_box((100, 100, 145, 118), size=400, gsd=0.1)  # a 4.5 m car at 0.1 m
    tile, boxes, _ = sample_crop(im, np.random.default_rng(0), crop=128, model_gsd=0.4, aug=None)
    assert tile.shape == (128, 128, 3)
    w = boxes[0, 2] - boxes[0, 0]
    assert w == pytest.approx(45 * 0.1 / 0.4, rel=0.05)


def test_targets_decode_back_to_the_boxes() -> None:
    boxes = np.array([[10.0, 20.0, 25.0, 26.0], [60.0, 64.0, 70.0, 100.0]], dtype=np.float32)
    heat, reg, mask = encode_targets(boxes, np.array([CAR, TRUCK]), [CAR, TRUCK], 128)
    assert heat.shape == (2, 128 // STRIDE, 128 // STRIDE) and mask.sum() == 2
    assert heat.max() == 1.0 and heat[0].max() == 1.0 and heat[1].max() == 1.0
    found = decode_centernet(heat * (heat == 1.0), reg, stride=STRIDE, threshold=0.5)
    order = np.argsort(found.labels)
    np.testing.assert_allclose(found.boxes[order], boxes, atol=1e-4)


def test_one_object_peaking_in_two_class_maps_is_one_box_unless_ranked() -> None:
    """A car that also peaks, lower, as "other vehicle" is one car; the ranking keeps both (mAP)."""
    boxes = np.array([[10.0, 20.0, 28.0, 28.0], [60.0, 64.0, 70.0, 100.0]], dtype=np.float32)
    heat, reg, _ = encode_targets(boxes, np.array([CAR, TRUCK]), [CAR, TRUCK, OTHER], 128)
    peaks = heat * (heat == 1.0)
    peaks[2] = peaks[0] * 0.6  # the same car, second guess "other vehicle"
    merged = decode_centernet(peaks, reg, stride=STRIDE, threshold=0.3)
    assert sorted(merged.labels.tolist()) == [0, 1] and merged.scores.min() == 1.0
    ranked = decode_centernet(peaks, reg, stride=STRIDE, threshold=0.3, same_object_iou=None)
    assert sorted(ranked.labels.tolist()) == [0, 1, 2]
    gt = {
        "images": [{"id": 1}],
        "annotations": [{"image_id": 1, "category_id": c + 1} for c in (0, 1)],
    }
    results = to_results(1, ranked, category_of=lambda c: c + 1)
    truth, found = image_counts(gt, results, 0.3, [1, 2, 3])
    assert truth.tolist() == [2] and found.tolist() == [2]


def test_cars_parked_in_neighbouring_cells_are_two_boxes_and_a_blob_is_one() -> None:
    """Duplicates go by box overlap: two side-by-side cars one output cell apart both stay (a
    3x3 local-maximum filter kept one), while a car's weaker neighbouring cell is merged into it."""
    s = 16
    heat, reg = np.zeros((2, s, s), np.float32), np.zeros((4, s, s), np.float32)
    # Two cars 5 px (1.25 cells) apart, each 4 px wide and 11 px long: their boxes do not touch.
    for x, score in ((5, 0.9), (6, 0.7)):
        heat[0, 8, x] = score
        reg[:, 8, x] = (0.5 if x == 5 else 0.75, 0.5, np.log(1.0), np.log(2.75))
    heat[0, 9, 5] = 0.6  # the first car's blob spills into the cell below, regressing the same box
    reg[:, 9, 5] = (0.5, -0.5, np.log(1.0), np.log(2.75))
    for same in (0.5, None):
        found = decode_centernet(heat, reg, stride=4, threshold=0.3, same_object_iou=same)
        np.testing.assert_allclose(sorted(found.scores), [0.7, 0.9])


def test_the_exported_graph_scores_every_cell() -> None:
    torch = pytest.importorskip("torch")
    from sitewatch.detect.train.net import CenterNetLite, ExportWrapper

    net = CenterNetLite(2, (4, 8, 8, 16)).eval()
    x = torch.from_numpy(np.random.default_rng(2).integers(0, 255, (1, 64, 64, 3), dtype=np.uint8))
    with torch.no_grad():
        heat, _ = ExportWrapper(net)(x)
        logits, _ = net((x.permute(0, 3, 1, 2).float() - ExportWrapper(net).mean) / ExportWrapper(net).std)
    np.testing.assert_allclose(heat.numpy(), torch.sigmoid(logits).numpy(), atol=1e-6)


@pytest.mark.parametrize("name", ["swdet-v1", "swdet-v1-wide"])
def test_the_bundled_models_load_back_into_their_networks(name: str) -> None:
    """``init: NAME``: each bundled model (swdet-v1 has a 3x3 filter in its graph) loads and checks."""
    pytest.importorskip("torch")
    import onnx

    from sitewatch.detect import model_path
    from sitewatch.detect.train.export import load_onnx_weights
    from sitewatch.detect.train.net import CenterNetLite
    from sitewatch.detect.train.quantize import is_int8

    path = model_path(name)
    meta = json.loads(path.with_suffix(".json").read_text())
    widths = tuple(meta["training"]["config"]["widths"])
    load_onnx_weights(CenterNetLite(len(meta["classes"]), widths), path, tuple(meta["classes"]))
    # Its .json says what arithmetic the graph does (the default is int8, swdet-v1 float32).
    assert meta.get("precision", "fp32") == ("int8" if is_int8(onnx.load(str(path)).graph) else "fp32")
    assert meta.get("precision", "fp32") == {"swdet-v1": "fp32", "swdet-v1-wide": "int8"}[name]


def test_gsd_is_estimated_from_car_boxes() -> None:
    boxes = np.array([[0, 0, 46, 18], [0, 0, 18, 46], [0, 0, 44, 20], [0, 0, 80, 25]], dtype=np.float32)
    labels = np.array([CAR, CAR, CAR, TRUCK])
    assert estimate_gsd(boxes, labels) == pytest.approx(4.6 / 46, rel=0.01)
    assert estimate_gsd(boxes[:2], labels[:2]) is None


def test_config_errors_name_the_file_and_the_fix(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nepochs: 3\ntrain: [{kind: coco, annotations: a.json}]\n")
    with pytest.raises(InputError, match="unknown config keys: epochs"):
        load_config(bad)
    bad.write_text("name: x\nclasses: [car, tank]\ntrain: [{kind: coco, annotations: a.json}]\n")
    with pytest.raises(InputError, match="unknown classes"):
        load_config(bad)
    with pytest.raises(InputError, match="not found"):
        load_config(tmp_path / "missing.yaml")
    bad.write_text("name: x\ninit: runs/x/best.ckpt\ntrain: [{kind: coco, annotations: a.json}]\n")
    with pytest.raises(InputError, match=r"neither a checkpoint nor a model.*\.onnx"):
        load_config(bad)
    bad.write_text("name: x\nprecision: fp16\ntrain: [{kind: coco, annotations: a.json}]\n")
    with pytest.raises(InputError, match=r"bad\.yaml: unknown precision 'fp16'.*fp32, int8"):
        load_config(bad)


def test_init_default_is_the_committed_model(tmp_path: Path) -> None:
    from sitewatch.detect import model_path

    good = tmp_path / "tune.yaml"
    good.write_text("name: x\ninit: default\ntrain: [{kind: coco, annotations: a.json}]\n")
    init = load_config(good).init
    assert init == model_path("default") and init is not None and init.is_file()
    good.write_text("name: x\ninit: swdet-v1\ntrain: [{kind: coco, annotations: a.json}]\n")
    assert load_config(good).init == model_path("swdet-v1")  # any bundled model, by name
    good.write_text("name: x\ninit: swdet-v0\ntrain: [{kind: coco, annotations: a.json}]\n")
    with pytest.raises(InputError, match=r"tune.yaml: init 'swdet-v0': no model named .*available: .*swdet-v1"):
        load_config(good)


def test_repository_configs_load() -> None:
    root = Path(__file__).resolve().parents[2] / "configs"
    cfg = load_config(root / "detector.yaml")
    assert cfg.classes == CLASSES and cfg.gsd == 0.4 and len(cfg.train) >= 2
    assert all(s.annotations is not None and s.annotations.name.endswith(".json") for s in cfg.train)
    for path in root.glob("*.yaml"):
        load_config(path)
    # The fine-tuning template starts from the committed model and must never overwrite it.
    from sitewatch.detect import MODELS_DIR, model_path

    tune = load_config(root / "detector-tune.yaml")
    assert tune.init == model_path("default") and (tune.export_dir or tune.out_dir).resolve() != MODELS_DIR.resolve()


def _write_coco(folder: Path, n: int, rng: np.random.Generator) -> Path:
    """A tiny COCO set: grey images with bright 'cars' (12x5 px) and 'trucks' (24x7 px) at 0.4 m."""
    folder.mkdir()
    images: list[dict[str, Any]] = []
    anns: list[dict[str, Any]] = []
    for i in range(n):
        img = np.full((96, 96, 3), 60, dtype=np.uint8)
        for k in range(4):
            w, h, cat = (12, 5, 1) if k % 2 else (24, 7, 2)
            x, y = int(rng.integers(2, 96 - w - 2)), 4 + 22 * k
            img[y : y + h, x : x + w] = 230
            anns.append(
                {
                    "id": len(anns) + 1,
                    "image_id": i + 1,
                    "category_id": cat,
                    "bbox": [x, y, w, h],
                    "area": w * h,
                    "iscrowd": 0,
                }
            )
        cv2.imwrite(str(folder / f"im{i}.png"), img)
        images.append({"id": i + 1, "file_name": f"im{i}.png", "width": 96, "height": 96})
    path = folder.with_suffix(".json")
    path.write_text(
        json.dumps(
            {
                "images": images,
                "annotations": anns,
                "categories": [{"id": 1, "name": "car"}, {"id": 2, "name": "truck"}],
            }
        )
    )
    return path


def test_sparsely_labelled_images_teach_background_only_near_their_boxes(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    from sitewatch.detect.train.net import focal_loss

    box = np.array([[40.0, 40.0, 52.0, 45.0]], dtype=np.float32)  # 3 x 1.25 cells at stride 4
    dense, sparse = background_weight(box, 128, False), background_weight(box, 128, True)
    assert dense.shape == sparse.shape == (32, 32) and dense.min() == 1.0
    assert sparse[11, 11] == 1.0 and sparse[10, 9] == 1.0  # the box and a cell around it
    assert sparse[:8].sum() == 0 and sparse[:, 15:].sum() == 0 and sparse.sum() < 40
    # A confident detection far from any box: penalised on a dense crop, not on a sparse one.
    heat, _, _ = encode_targets(box, np.array([CAR]), [CAR], 128)
    logits = torch.full((1, 1, 32, 32), -6.0)
    logits[0, 0, 2, 2] = 4.0
    target = torch.from_numpy(heat[None])
    on_dense = focal_loss(logits, target, background=torch.from_numpy(dense[None]))
    on_sparse = focal_loss(logits, target, background=torch.from_numpy(sparse[None]))
    assert on_dense.item() > on_sparse.item() + 1.0
    assert on_dense.item() == pytest.approx(focal_loss(logits, target).item())

    # Which images are sparse: every image of the source, or those of the named COCO sources.
    ann = _write_coco(tmp_path / "data", 2, np.random.default_rng(0))
    coco = json.loads(ann.read_text())
    coco["images"][0]["source"] = "SIMD"
    ann.write_text(json.dumps(coco))
    src = SourceConfig(kind="coco", annotations=ann, images=tmp_path / "data", gsd=0.4)
    assert [im.sparse for im in load_coco(replace(src, sparse_labels=("SIMD",)))] == [True, False]
    assert [im.sparse for im in load_coco(replace(src, sparse_labels=True))] == [True, True]
    assert [im.sparse for im in load_coco(src)] == [False, False]
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"name: x\ntrain: [{{kind: coco, annotations: {ann}, sparse_labels: SIMD}}]\nval: []\n")
    with pytest.raises(InputError, match="sparse_labels"):
        load_config(bad)


def test_count_error_is_a_share_of_the_true_count() -> None:
    from sitewatch.detect.evaluate import coco_metrics

    gt = {
        "images": [{"id": 0}, {"id": 1}],
        "categories": [{"id": 1, "name": "car"}],
        "annotations": [
            {"id": i + 1, "image_id": i // 3, "category_id": 1, "bbox": [20 * i, 10, 10, 5], "area": 50, "iscrowd": 0}
            for i in range(6)
        ],
    }

    def box(k: int, image_id: int, score: float) -> dict:
        return {"category_id": 1, "bbox": [20 * k, 10, 10, 5], "image_id": image_id, "score": score}

    # Image 0: all 3 cars found plus one false positive; image 1: 1 of its 3 found, 1 below the threshold.
    results = [box(k, 0, 0.9) for k in range(4)] + [box(3, 1, 0.9), box(4, 1, 0.1)]
    m = coco_metrics(gt, results, count_threshold=0.5)
    assert m["count_mae"] == pytest.approx((1 + 2) / 2)
    assert m["count_error"] == pytest.approx((1 + 2) / 6)
    assert coco_metrics(gt, results, count_threshold=0.5, count_images=[0])["count_error"] == pytest.approx(1 / 3)


def test_count_threshold_ignores_sparsely_labelled_images() -> None:
    from sitewatch.detect.train.loop import pick_count_threshold

    # Image 0: every car boxed and found at 0.6. Image 1: one car boxed among ten found at 0.6.
    gt = {
        "images": [{"id": 0}, {"id": 1}],
        "annotations": [{"image_id": 0, "category_id": 1}] * 3 + [{"image_id": 1, "category_id": 1}],
    }
    results = [
        {"image_id": i, "category_id": 1, "score": 0.6, "bbox": [20 * k, 0, 10, 5]}
        for i, n in ((0, 3), (1, 10))
        for k in range(n)
    ]
    # Counted on both, the unboxed cars push the threshold above every true detection.
    assert pick_count_threshold(gt, results, [1]) > 0.6
    assert pick_count_threshold(gt, results, [1], image_ids=[0]) <= 0.6


def _tiny_config(tmp_path: Path, name: str, extra: str) -> Path:
    """A 3-step training config of a tiny network on three generated images (train = val)."""
    ann = _write_coco(tmp_path / "data", 3, np.random.default_rng(0))
    path = tmp_path / f"{name}.yaml"
    path.write_text(
        f"name: {name}\nseed: 3\ngsd: 0.4\nwidths: [4, 8, 8, 16]\ncrop: 64\nbatch: 2\nsteps: 3\nval_every: 100\n"
        f"threads: 1\n{extra}"
        f"train: [{{kind: coco, annotations: {ann}, gsd: 0.4}}]\n"
        f"val: [{{kind: coco, annotations: {ann}, gsd: 0.4}}]\n"
        f"out_dir: {tmp_path / 'run'}\n"
    )
    return path


def test_smoke_training_exports_a_model_onnxruntime_can_run(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    from sitewatch.detect.onnx import OnnxDetector
    from sitewatch.detect.train import train

    cfg = load_config(_tiny_config(tmp_path, "tiny", "classes: [car, truck, crane]\n"))
    onnx_path = train(cfg)

    det = OnnxDetector.load(onnx_path, score_threshold=0.0)
    assert det.classes == ("car", "truck")  # crane had no data: not exported
    assert det.gsd == 0.4 and det.name.startswith("tiny@")
    tiles = np.zeros((2, 64, 96, 3), dtype=np.uint8)
    out = det.detect_batch(tiles)
    assert len(out) == 2
    meta = json.loads(onnx_path.with_suffix(".json").read_text())
    assert set(meta["metrics"]["val_native"]) >= {"map50", "map50_95", "per_class", "count_mae", "count_error"}
    card = onnx_path.with_suffix(".md").read_text()
    assert "Every output class has real training labels" in card and "| native |" in card
    assert onnx_path.stat().st_size < 10_000_000

    # Same seed and config: same weights (reproducible).
    again = train(replace(cfg, out_dir=tmp_path / "run2"))
    a, b = OnnxDetector.load(onnx_path), OnnxDetector.load(again)
    x = np.random.default_rng(1).integers(0, 255, (1, 64, 64, 3), dtype=np.uint8)
    for ya, yb in zip(a.session.run(None, {"images": x}), b.session.run(None, {"images": x}), strict=True):
        np.testing.assert_allclose(ya, yb, atol=1e-5)

    # --export-only: the same best checkpoint and run record, exported again without training.
    again_dir = tmp_path / "reexport"
    re_path = train(replace(cfg, export_dir=again_dir), export_only=True)
    assert re_path.parent == again_dir
    c = OnnxDetector.load(re_path)
    for ya, yc in zip(a.session.run(None, {"images": x}), c.session.run(None, {"images": x}), strict=True):
        np.testing.assert_allclose(ya, yc, atol=1e-6)
    re_meta = json.loads(re_path.with_suffix(".json").read_text())
    for key in ("best_step", "steps"):
        assert re_meta["metrics"][key] == meta["metrics"][key] == 3
    # The version is the export date and the weights' digest: the same weights, the same version.
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}\.[0-9a-f]{6}", meta["version"])
    assert re_meta["version"] == meta["version"]
    with pytest.raises(InputError, match=r"best\.pt"):
        train(replace(cfg, out_dir=tmp_path / "empty"), export_only=True)
    assert not (tmp_path / "empty").exists()  # refused before anything is written


def test_an_exported_model_can_be_fine_tuned_without_its_checkpoint(tmp_path: Path) -> None:
    """``init: model.onnx``: the folded weights load back exactly, batch norms stay frozen."""
    torch = pytest.importorskip("torch")
    from sitewatch.detect.onnx import OnnxDetector
    from sitewatch.detect.train import train
    from sitewatch.detect.train.export import export_onnx, load_onnx_weights
    from sitewatch.detect.train.net import CenterNetLite, ExportWrapper
    from sitewatch.errors import ModelError

    ann = _write_coco(tmp_path / "data", 3, np.random.default_rng(0))
    base = (
        "seed: 3\ngsd: 0.4\nwidths: [4, 8, 8, 16]\ncrop: 64\nbatch: 2\nval_every: 100\n"
        "classes: [car, truck]\nthreads: 1\n"
        f"train: [{{kind: coco, annotations: {ann}, gsd: 0.4}}]\n"
        f"val: [{{kind: coco, annotations: {ann}, gsd: 0.4}}]\n"
    )
    (tmp_path / "first.yaml").write_text(f"name: first\nsteps: 4\n{base}out_dir: {tmp_path / 'first'}\n")
    first = train(load_config(tmp_path / "first.yaml"))
    (tmp_path / "first" / "best.pt").unlink(missing_ok=True)  # the checkpoint is gone: only the model is left

    # Round trip: weights read back from the graph and exported again give the same outputs.
    net = CenterNetLite(2, (4, 8, 8, 16))
    load_onnx_weights(net, first, ("car", "truck"))
    again = export_onnx(ExportWrapper(net), tmp_path / "again.onnx")
    shutil.copy(first.with_suffix(".json"), again.with_suffix(".json"))
    x = np.random.default_rng(5).integers(0, 255, (1, 64, 96, 3), dtype=np.uint8)
    a, b = OnnxDetector.load(first), OnnxDetector.load(again)
    for ya, yb in zip(a.session.run(None, {"images": x}), b.session.run(None, {"images": x}), strict=True):
        np.testing.assert_allclose(ya, yb, atol=1e-4)
    with pytest.raises(ModelError, match="widths and classes"):
        load_onnx_weights(CenterNetLite(2, (4, 8, 16, 16)), first, ("car", "truck"))

    # A wider network starts from the model's function (checked inside), then its copies drift apart.
    wide = CenterNetLite(2, (6, 12, 12, 24))
    load_onnx_weights(wide, first, ("car", "truck"), (6, 12, 12, 24), seed=1)
    with torch.no_grad():
        out_wide = [t.numpy() for t in ExportWrapper(wide).eval()(torch.from_numpy(x))]
    for ya, yw in zip(a.session.run(None, {"images": x}), out_wide, strict=True):
        np.testing.assert_allclose(ya, yw, atol=0.05)  # only the copies' small noise apart
    for bad in ((4, 8, 8, 8), (6, 12, 16, 24)):  # narrower; one width widened two ways
        with pytest.raises(ModelError, match="cannot become"):
            load_onnx_weights(CenterNetLite(2, bad), first, ("car", "truck"), bad)

    (tmp_path / "tune.yaml").write_text(f"name: tuned\nsteps: 2\ninit: {first}\n{base}out_dir: {tmp_path / 'tune'}\n")
    tuned = train(load_config(tmp_path / "tune.yaml"))
    state = torch.load(tmp_path / "tune" / "last.pt")["state"]
    norms = [k.removesuffix(".running_var") for k in state if k.endswith(".running_var")]
    assert norms and all(float(state[f"{k}.running_mean"].abs().max()) == 0.0 for k in norms)
    assert OnnxDetector.load(tuned).detect_batch(x) is not None
    assert "Fine-tuned from" in tuned.with_suffix(".md").read_text()


def test_an_int8_export_feeds_pixels_to_int8_convolutions_and_loads_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``precision: int8``: no float work before the first int8 convolution; the card's figures
    are the int8 graph's; its weights read back to what the fp32 network holds."""
    pytest.importorskip("torch")
    import onnx
    import onnxruntime as ort

    from sitewatch.detect.onnx import OnnxDetector
    from sitewatch.detect.train import train
    from sitewatch.detect.train.export import load_onnx_weights
    from sitewatch.detect.train.net import CenterNetLite
    from sitewatch.detect.train.quantize import conv_weights, fold_input_normalisation

    cfg = load_config(_tiny_config(tmp_path, "q", "classes: [car, truck]\nprecision: int8\n"))
    int8 = train(cfg)
    fp32 = train(replace(cfg, precision="fp32", export_dir=tmp_path / "fp32"), export_only=True)

    meta = json.loads(int8.with_suffix(".json").read_text())
    assert meta["precision"] == "int8" and meta["quantization"]["calibration_tiles"] == 3
    assert json.loads(fp32.with_suffix(".json").read_text())["precision"] == "fp32"
    assert "**int8**" in int8.with_suffix(".md").read_text()
    graph = onnx.load(str(int8)).graph
    ops = [n.op_type for n in graph.node]
    assert not {"Cast", "Sub", "Div"} & set(ops)
    first = next(n for n in graph.node if n.input[0] == graph.input[0].name)
    assert first.op_type == "Transpose"
    assert {n.op_type for n in graph.node if first.output[0] in n.input} == {"DequantizeLinear"}

    # Outputs: int8 rounding apart from the fp32 graph of the same checkpoint.
    x = np.random.default_rng(5).integers(0, 255, (2, 96, 128, 3), dtype=np.uint8)
    a = OnnxDetector.load(fp32).session.run(None, {"images": x})
    b = OnnxDetector.load(int8).session.run(None, {"images": x})
    for ya, yb in zip(a, b, strict=True):
        assert float(np.abs(ya - yb).mean()) < 0.03 * max(float(np.abs(ya).mean()), 0.1)

    # Weights read back: dequantized, the first convolution's folded normalisation undone.
    ref = conv_weights(onnx.load(str(fp32)).graph)
    got = conv_weights(graph)
    assert sorted(n for n, *_ in got) == sorted(n for n, *_ in ref)  # every convolution, any order
    by_name = {n: (w, bias) for n, w, bias in got}
    for name, w, bias in ref:
        wq, bq = by_name[name]
        step = np.abs(w).reshape(len(w), -1).max(axis=1) / 64  # 7-bit range per output channel
        assert np.all(np.abs(wq - w).reshape(len(w), -1).max(axis=1) <= step * 0.51 + 1e-7), name
        assert bias is not None and bq is not None
        np.testing.assert_allclose(bq, bias, atol=0.01 + 0.01 * float(np.abs(bias).max()))
    load_onnx_weights(CenterNetLite(2, (4, 8, 8, 16)), int8, ("car", "truck"))  # checks itself
    # Weights stay within +-64, so CPUs without VNNI cannot saturate their int16 pair sums
    # (255 * 64 * 2 = 32,640 fits; 255 * 127 * 2 does not).
    inits = {t.name: onnx.numpy_helper.to_array(t) for t in graph.initializer}
    dq_inputs = {n.output[0]: n.input[0] for n in graph.node if n.op_type == "DequantizeLinear"}
    weights = [inits[dq_inputs[n.input[1]]] for n in graph.node if n.op_type == "Conv"]
    assert weights and all(q.dtype == np.int8 and int(np.abs(q.astype(np.int32)).max()) <= 64 for q in weights)

    # The fold alone is exact wherever the zero padding cannot reach.
    model = onnx.load(str(fp32))
    fold_input_normalisation(model)
    folded = tmp_path / "folded.onnx"
    onnx.save(model, str(folded))
    big = np.random.default_rng(6).integers(0, 255, (1, 512, 512, 3), dtype=np.uint8)
    heat, reg = ort.InferenceSession(str(fp32)).run(None, {"images": big})
    heat_f, reg_f = ort.InferenceSession(str(folded)).run(None, {"images": big})
    inner = (..., slice(48, 80), slice(48, 80))  # 192 px from every edge
    np.testing.assert_allclose(heat_f[inner], heat[inner], atol=1e-4)
    np.testing.assert_allclose(reg_f[inner], reg[inner], atol=1e-3)
    assert float(np.abs(heat_f - heat).max()) > 0  # the edges do see the new padding

    # An export that fails while validating leaves the model already there as it was.
    from sitewatch.detect.train import loop

    before = {p.name: p.read_bytes() for p in int8.parent.iterdir() if p.is_file()}

    def broken(*args: object, **kwargs: object) -> float:
        raise RuntimeError("validation failed")

    monkeypatch.setattr(loop, "_measure", broken)
    with pytest.raises(RuntimeError, match="validation failed"):
        train(replace(cfg, precision="fp32"), export_only=True)
    assert {p.name: p.read_bytes() for p in int8.parent.iterdir() if p.is_file()} == before
