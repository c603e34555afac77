"""The training loop (torch): sampling, optimisation, validation, checkpoints, export.

Reproducible from the config's seed when it is bounded by ``steps`` (a ``minutes``
budget makes the step count depend on machine load; the log records both).
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from sitewatch.detect.boxes import Boxes, decode_centernet
from sitewatch.detect.evaluate import COUNT_THRESHOLDS, coco_metrics, image_counts, to_results
from sitewatch.detect.train.config import SourceConfig, TrainConfig
from sitewatch.detect.train.data import (
    STRIDE,
    LabelledImage,
    background_weight,
    class_counts,
    encode_targets,
    load_coco,
    sample_crop,
    sampling_weights,
)
from sitewatch.detect.train.export import export_onnx, load_onnx_weights, write_int8_onnx, write_metadata
from sitewatch.detect.train.net import (
    CenterNetLite,
    ExportWrapper,
    count_parameters,
    focal_loss,
    freeze_batch_norms,
    normalise,
    regression_loss,
)
from sitewatch.errors import InputError
from sitewatch.model import CLASSES

log = logging.getLogger(__name__)

#: Source GSDs the validation is run at besides native resolution (m/px).
VAL_GSDS: tuple[float, ...] = (0.5,)


def load_sources(sources: Sequence[SourceConfig]) -> tuple[list[LabelledImage], list[float]]:
    images: list[LabelledImage] = []
    weights: list[float] = []
    for src in sources:
        part = load_coco(src) if src.kind == "coco" else load_simulator(src)
        images += part
        weights += [src.weight] * len(part)
    return images, weights


def load_simulator(src: SourceConfig) -> list[LabelledImage]:
    """SIMULATED tiles from :func:`sitewatch.simulate.training.generate_training_set`.

    ``options`` are passed to it (``out_dir`` is where the tiles go); tiles already
    generated with the same options are reused.
    """
    try:
        from sitewatch.simulate.training import generate_training_set
    except ImportError as exc:
        raise InputError(
            "the simulator training-set generator is not available",
            fix="remove the 'simulator' source from the config",
        ) from exc
    options = dict(src.options)
    out = Path(options.pop("out_dir", "simulated"))
    split = options.get("split", "train")
    stamp = out / f"{split}.options.json"
    ann = out / f"{split}.json"
    if not (ann.is_file() and stamp.is_file() and json.loads(stamp.read_text()) == options):
        ann = generate_training_set(out, **options)
        stamp.write_text(json.dumps(options))
    return load_coco(replace(src, kind="coco", annotations=ann, images=out / split, synthetic=True))


def make_batch(
    images: Sequence[LabelledImage],
    probs: np.ndarray,
    rng: np.random.Generator,
    cfg: TrainConfig,
    class_index: Sequence[int],
) -> tuple[torch.Tensor, ...]:
    """Crops, heatmaps, box regression targets, centre masks and background weights."""
    tiles, heats, regs, masks, backgrounds = [], [], [], [], []
    for i in rng.choice(len(images), size=cfg.batch, p=probs):
        tile, boxes, labels = sample_crop(images[i], rng, crop=cfg.crop, model_gsd=cfg.gsd, aug=cfg.augment)
        heat, reg, mask = encode_targets(boxes, labels, class_index, cfg.crop)
        tiles.append(tile)
        heats.append(heat)
        regs.append(reg)
        masks.append(mask)
        backgrounds.append(background_weight(boxes, cfg.crop, images[i].sparse))
    return tuple(torch.from_numpy(np.stack(a)) for a in (tiles, heats, regs, masks, backgrounds))


def resample_for_eval(im: LabelledImage, model_gsd: float, source_gsd: float | None) -> tuple[np.ndarray, float]:
    """The image as the slicer would see it: optionally degraded to ``source_gsd``, then at the model GSD.

    Returns the image and the factor from its pixels back to the original image's pixels.
    """
    img, gsd = im.image, im.gsd
    if source_gsd is not None and source_gsd > gsd:
        f = gsd / source_gsd
        img = cv2.resize(img, None, fx=f, fy=f, interpolation=cv2.INTER_AREA)
        gsd = source_gsd
    f = gsd / model_gsd
    interp = cv2.INTER_AREA if f < 1 else cv2.INTER_LINEAR
    out = cv2.resize(img, None, fx=f, fy=f, interpolation=interp)
    return out, im.image.shape[1] / out.shape[1]


def _gt_coco(images: Sequence[LabelledImage], classes: Sequence[str]) -> dict[str, Any]:
    anns: list[dict[str, Any]] = []
    for i, im in enumerate(images):
        for b, c in zip(im.boxes, im.labels, strict=True):
            name = CLASSES[int(c)]
            if name not in classes:
                continue
            w, h = float(b[2] - b[0]), float(b[3] - b[1])
            anns.append(
                {
                    "id": len(anns) + 1,
                    "image_id": i,
                    "category_id": classes.index(name) + 1,
                    "bbox": [float(b[0]), float(b[1]), w, h],
                    "area": w * h,
                    "iscrowd": 0,
                }
            )
    return {
        "images": [{"id": i, "width": im.image.shape[1], "height": im.image.shape[0]} for i, im in enumerate(images)],
        "categories": [{"id": k + 1, "name": n} for k, n in enumerate(classes)],
        "annotations": anns,
    }


#: uint8 NHWC tiles -> (class scores N x C x H/4 x W/4, regression N x 4 x H/4 x W/4).
Forward = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


def torch_forward(wrapper: ExportWrapper) -> Forward:
    """The network being trained, in eval mode (the caller restores train mode)."""

    @torch.no_grad()
    def forward(tiles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        wrapper.eval()
        heat, reg = wrapper(torch.from_numpy(tiles))
        return heat.numpy(), reg.numpy()

    return forward


def onnx_forward(path: Path, threads: int) -> Forward:
    """The exported graph as shipped (int8 included), so its card reports what it computes."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])

    def forward(tiles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        heat, reg = session.run(None, {"images": tiles})
        return heat, reg

    return forward


def predict(forward: Forward, image: np.ndarray, threshold: float) -> Boxes:
    h, w = image.shape[:2]
    ph, pw = -h % 32, -w % 32  # the backbone needs multiples of 16; 32 keeps the heads aligned
    padded = np.pad(image, ((0, ph), (0, pw), (0, 0)))
    heat, reg = forward(padded[None])
    # Every class's box, ranked for mAP; counts merge them (``image_counts``).
    return decode_centernet(heat[0], reg[0], stride=STRIDE, threshold=threshold, same_object_iou=None)


def validate(
    forward: Forward,
    images: Sequence[LabelledImage],
    classes: Sequence[str],
    real: Sequence[str],
    model_gsd: float,
    source_gsd: float | None = None,
    count_threshold: float = 0.3,
    count_images: Collection[int] | None = None,
) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
    """COCO metrics over the real classes, plus the ground truth and raw results used."""
    results: list[dict[str, Any]] = []
    for i, im in enumerate(images):
        tile, back = resample_for_eval(im, model_gsd, source_gsd)
        found = predict(forward, tile, threshold=0.03).shifted(0, 0, back)
        results += to_results(i, found, category_of=lambda c: c + 1)
    gt = _gt_coco(images, classes)
    metrics = coco_metrics(gt, results, count_threshold=count_threshold, classes=real, count_images=count_images)
    return metrics, gt, results


def pick_count_threshold(
    gt: dict[str, Any],
    results: list[dict[str, Any]],
    cat_ids: Sequence[int],
    image_ids: Collection[int] | None = None,
) -> float:
    """The score threshold that minimises the per-image count error on validation data.

    ``image_ids``: the images to count on. Images with sparse labels must be left out: their
    unboxed objects would make every true detection look like an overcount.
    """
    errors = [np.abs(np.subtract(*image_counts(gt, results, t, cat_ids, image_ids))).sum() for t in COUNT_THRESHOLDS]
    return COUNT_THRESHOLDS[int(np.argmin(errors))]


def _fit(
    cfg: TrainConfig,
    net: CenterNetLite,
    wrapper: ExportWrapper,
    train_images: Sequence[LabelledImage],
    probs: np.ndarray,
    rng: np.random.Generator,
    class_index: Sequence[int],
    val_images: Sequence[LabelledImage],
    out_classes: tuple[str, ...],
    real: tuple[str, ...],
    say: Callable[[str], None],
    frozen_norms: bool = False,
) -> dict[str, Any]:
    """The optimisation loop: checkpoints ``best.pt`` (by real-val score) and ``last.pt``.

    ``frozen_norms``: batch norms stay in eval mode (a network loaded from an exported model).
    """
    out = Path(cfg.out_dir)
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    budget = cfg.minutes * 60 if cfg.minutes else None
    start = time.monotonic()
    best: dict[str, Any] = {"score": -1.0, "step": 0}
    step = 0
    logfile = (out / "train.jsonl").open("a")

    def progress() -> float:
        p = step / cfg.steps
        if budget:
            p = max(p, (time.monotonic() - start) / budget)
        return min(p, 1.0)

    def evaluate_and_checkpoint() -> None:
        if not val_images:
            torch.save({"state": net.state_dict(), "step": step}, out / "best.pt")
            return
        scores = {}
        forward = torch_forward(wrapper)
        native, *_ = validate(forward, val_images, out_classes, real, cfg.gsd)
        scores["native"] = native
        for g in VAL_GSDS:
            scores[f"{g}m"], *_ = validate(forward, val_images, out_classes, real, cfg.gsd, g)
        score = float(np.mean([s["map50"] for s in scores.values()]))
        rec = {
            "step": step,
            "minutes": (time.monotonic() - start) / 60,
            "score": score,
            **{k: {"map50": v["map50"], "per_class": v["per_class"]} for k, v in scores.items()},
        }
        logfile.write(json.dumps(rec) + "\n")
        logfile.flush()
        say(
            f"step {step}: val mAP50 native {native['map50']:.3f} "
            + " ".join(f"{k} {v['map50']:.3f}" for k, v in scores.items() if k != "native")
            + f" per-class {json.dumps({k: round(v, 3) for k, v in native['per_class'].items()})}"
        )
        torch.save({"state": net.state_dict(), "step": step}, out / "last.pt")
        if score > best["score"]:
            best.update(score=score, step=step)
            torch.save({"state": net.state_dict(), "step": step}, out / "best.pt")
        train_mode()

    def train_mode() -> None:
        net.train()
        if frozen_norms:
            freeze_batch_norms(net)

    if cfg.init is not None and val_images:
        evaluate_and_checkpoint()  # the starting point is a candidate: fine-tuning may not beat it
    train_mode()
    ema = None
    while progress() < 1.0:
        lr = cfg.lr * (min(1.0, (step + 1) / 200) * 0.5 * (1 + math.cos(math.pi * progress())))
        for group in opt.param_groups:
            group["lr"] = lr
        tiles, heat, reg, mask, background = make_batch(train_images, probs, rng, cfg, class_index)
        logits, pred = net(normalise(tiles))
        loss_h = focal_loss(logits, heat, background=background)
        loss_r = regression_loss(pred, reg, mask)
        loss = loss_h + loss_r
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 10.0)
        opt.step()
        step += 1
        ema = loss.item() if ema is None else 0.98 * ema + 0.02 * loss.item()
        if step % 50 == 0:
            say(
                f"step {step} loss {ema:.3f} (heat {loss_h.item():.3f} reg {loss_r.item():.3f}) lr {lr:.2e} "
                f"{(time.monotonic() - start) / 60:.1f} min"
            )
        if step % cfg.val_every == 0:
            evaluate_and_checkpoint()
    evaluate_and_checkpoint()
    logfile.close()

    return {"best_step": best["step"], "steps": step, "minutes": round((time.monotonic() - start) / 60, 1)}


def recorded_run(out: Path) -> dict[str, Any]:
    """Steps, minutes and best step of the last run recorded in ``out`` (``train.jsonl``)."""
    if not (out / "best.pt").is_file():
        raise InputError("no trained checkpoint (best.pt) here", path=out, fix="train first, without --export-only")
    log_path = out / "train.jsonl"
    try:
        lines = log_path.read_text().splitlines() if log_path.is_file() else []
        records = [json.loads(line) for line in lines if line.strip()]
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read the training log ({exc})", path=log_path, fix="train again") from exc
    # The log is appended to: the last run starts where the step count drops.
    for k in range(len(records) - 1, 0, -1):
        if records[k]["step"] < records[k - 1]["step"]:
            records = records[k:]
            break
    if not records:  # trained without validation data: only the checkpoint knows its step
        step = int(torch.load(out / "best.pt")["step"])
        return {"best_step": step, "steps": step, "minutes": None}
    best = max(records, key=lambda r: r["score"])  # the first of equal scores, as the loop keeps
    return {"best_step": best["step"], "steps": records[-1]["step"], "minutes": round(records[-1]["minutes"], 1)}


def train(cfg: TrainConfig, on_log: Callable[[str], None] | None = None, *, export_only: bool = False) -> Path:
    """Train, validate, checkpoint and export; returns the path of the exported ONNX file.

    ``export_only`` skips training and exports the best checkpoint already in ``cfg.out_dir``
    (e.g. after a change to the export or to how the count threshold is picked).
    """
    say = on_log or log.info
    torch.manual_seed(cfg.seed)
    torch.set_num_threads(cfg.threads)
    rng = np.random.default_rng(cfg.seed)
    out = Path(cfg.out_dir)
    recorded = recorded_run(out) if export_only else None  # fails before the slow data loading
    out.mkdir(parents=True, exist_ok=True)

    train_images, src_weights = load_sources(cfg.train)
    val_all, _ = load_sources(cfg.val) if cfg.val else ([], [])
    # Model selection uses real imagery only; simulated val tiles are reported apart.
    val_images = [im for im in val_all if not im.synthetic]
    val_simulated = [im for im in val_all if im.synthetic]
    counts = class_counts(train_images)
    present = {CLASSES[c] for c in counts}
    classes = cfg.classes or tuple(c for c in CLASSES if c in present)
    real_counts = class_counts([im for im in train_images if not im.synthetic])
    real = tuple(c for c in classes if CLASSES.index(c) in real_counts)
    synthetic_only = tuple(c for c in classes if c not in real and CLASSES.index(c) in counts)
    class_index = [CLASSES.index(c) for c in classes]
    probs = sampling_weights(train_images, src_weights, cfg.crop * cfg.gsd)
    summary = ", ".join(f"{CLASSES[k]}: {v}" for k, v in sorted(counts.items()))
    say(f"train: {len(train_images)} images, boxes per class {{{summary}}}")
    say(f"classes {classes}; trained only on synthetic data: {synthetic_only or 'none'}")

    net = CenterNetLite(len(classes), cfg.widths)
    frozen_norms = False
    if cfg.init is not None and recorded is None:
        if cfg.init.suffix == ".onnx":
            load_onnx_weights(net, cfg.init, classes, cfg.widths, seed=cfg.seed)
            frozen_norms = True  # folded into the convolutions: batch statistics would undo it
            say(f"initialised from the exported model {cfg.init} (batch norms frozen)")
        else:
            net.load_state_dict(torch.load(cfg.init)["state"])
            say(f"initialised from {cfg.init}")
    # Classes listed in the config but absent from the data stay in the network (so a later
    # fine-tune can add them) but are not exported or evaluated.
    trained = [i for i, c in enumerate(classes) if CLASSES.index(c) in counts]
    out_classes = tuple(classes[i] for i in trained)
    wrapper = ExportWrapper(net, trained if len(trained) < len(classes) else None)
    say(f"model: {count_parameters(net):,} parameters")
    if recorded is not None:
        metrics = recorded
        say(f"exporting the best checkpoint of {out} (step {metrics['best_step']}), no training")
    else:
        metrics = _fit(
            cfg, net, wrapper, train_images, probs, rng, class_index, val_images, out_classes, real, say, frozen_norms
        )
    net.load_state_dict(torch.load(out / "best.pt")["state"])
    export_dir = Path(cfg.export_dir or cfg.out_dir)
    export_dir.mkdir(parents=True, exist_ok=True)
    onnx_path = export_dir / f"{cfg.name}.onnx"
    # Written aside and validated there: a run that fails midway leaves the model already in
    # ``export_dir`` (with the .json that matches it) untouched.
    partial = export_dir / f".{cfg.name}.partial.onnx"
    try:
        quantization = None
        if cfg.precision == "int8":
            tiles = calibration_tiles(train_images, cfg)
            say(f"quantizing to int8, activation ranges from {len(tiles)} training tiles")
            quantization = write_int8_onnx(wrapper, partial, tiles)
        else:
            export_onnx(wrapper, partial)
        # Every figure below is of the graph as written (int8 rounding included), not of the network.
        forward = onnx_forward(partial, cfg.threads)
        threshold = _measure(forward, cfg, val_images, val_simulated, out_classes, real, synthetic_only, metrics, say)
        say(f"best step {metrics['best_step']}; count threshold {threshold}")
        partial.replace(onnx_path)
    finally:
        partial.unlink(missing_ok=True)
    return write_metadata(
        onnx_path,
        cfg,
        classes=out_classes,
        synthetic_only=synthetic_only,
        score_threshold=threshold,
        metrics=metrics,
        params=count_parameters(net),
        config=asdict(cfg),
        quantization=quantization,
    )


def _measure(
    forward: Forward,
    cfg: TrainConfig,
    val_images: Sequence[LabelledImage],
    val_simulated: Sequence[LabelledImage],
    out_classes: tuple[str, ...],
    real: tuple[str, ...],
    synthetic_only: tuple[str, ...],
    metrics: dict[str, Any],
    say: Callable[[str], None],
) -> float:
    """Validate the exported graph into ``metrics`` and return the counting threshold it picks."""
    threshold = 0.3
    if val_images:
        _, gt, results = validate(forward, val_images, out_classes, real, cfg.gsd)
        complete = [i for i, im in enumerate(val_images) if not im.sparse]
        if not complete:
            say("every val image has sparse labels: the count threshold is picked on them all, biased high")
        counted = complete or None
        threshold = pick_count_threshold(gt, results, [out_classes.index(c) + 1 for c in real], counted)
        metrics["val_native"] = coco_metrics(gt, results, count_threshold=threshold, classes=real, count_images=counted)
        for g in (0.3, 0.5):
            metrics[f"val_{g}m"], *_ = validate(
                forward, val_images, out_classes, real, cfg.gsd, g, count_threshold=threshold, count_images=counted
            )
        metrics["count_images"] = len(complete) or len(val_images)
    if val_simulated and synthetic_only:
        metrics["val_simulated"], *_ = validate(
            forward, val_simulated, out_classes, synthetic_only, cfg.gsd, count_threshold=threshold
        )
    return threshold


#: How many training tiles set an int8 model's activation ranges.
CALIBRATION_TILES = 64
#: Their largest side (px at the model GSD).
CALIBRATION_SIZE = 384


def calibration_tiles(images: Sequence[LabelledImage], cfg: TrainConfig) -> list[np.ndarray]:
    """Training images as the slicer would see them (at the model GSD), one window each,
    chosen from the config's seed; sides are multiples of 32."""
    rng = np.random.default_rng(cfg.seed)
    picked = rng.choice(len(images), size=min(CALIBRATION_TILES, len(images)), replace=False)
    tiles = []
    for i in sorted(int(k) for k in picked):
        img, _ = resample_for_eval(images[i], cfg.gsd, None)
        h, w = (min(CALIBRATION_SIZE, s) for s in img.shape[:2])
        y, x = int(rng.integers(0, img.shape[0] - h + 1)), int(rng.integers(0, img.shape[1] - w + 1))
        tile = img[y : y + h, x : x + w]
        tiles.append(np.pad(tile, ((0, -h % 32), (0, -w % 32), (0, 0))))
    return tiles
