"""Export a trained network to ONNX with its metadata JSON and model card."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from sitewatch import __version__
from sitewatch.config import shared_dir
from sitewatch.detect.train.config import TrainConfig
from sitewatch.detect.train.data import STRIDE
from sitewatch.detect.train.net import MEAN, STD, ExportWrapper

OPSET = 17
#: Preferred inference tile size (px at the model GSD).
TILE_SIZE = 512


def export_onnx(wrapper: ExportWrapper, path: Path) -> Path:
    """Write the uint8-NHWC-in, peaks/regression-out graph with dynamic batch and size."""
    wrapper.eval()
    dummy = torch.zeros((1, 256, 256, 3), dtype=torch.uint8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            wrapper,
            (dummy,),
            str(path),
            input_names=["images"],
            output_names=["peaks", "reg"],
            opset_version=OPSET,
            dynamic_axes={
                "images": {0: "n", 1: "h", 2: "w"},
                "peaks": {0: "n", 2: "h4", 3: "w4"},
                "reg": {0: "n", 2: "h4", 3: "w4"},
            },
            dynamo=False,
        )
    return path


def export_model(
    wrapper: ExportWrapper,
    cfg: TrainConfig,
    *,
    classes: Sequence[str],
    synthetic_only: Sequence[str],
    score_threshold: float,
    metrics: dict[str, Any],
    params: int,
    config: dict[str, Any],
) -> Path:
    """ONNX file, ``<name>.json`` metadata (read at load time) and ``<name>.md`` model card."""
    out = Path(cfg.export_dir or cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    onnx_path = export_onnx(wrapper, out / f"{cfg.name}.onnx")
    meta = {
        "sitewatch_detector": 1,
        "name": cfg.name,
        # The date alone named two different models exported on one day alike; the weights'
        # digest tells them apart wherever detections and calibrations record name@version.
        "version": f"{dt.date.today().isoformat()}.{hashlib.sha256(onnx_path.read_bytes()).hexdigest()[:6]}",
        "architecture": "CenterNet-lite (depthwise-separable backbone, stride-4 heads)",
        "classes": list(classes),
        "synthetic_only_classes": list(synthetic_only),
        "gsd": cfg.gsd,
        "gsd_range": list(cfg.augment.source_gsd),
        "stride": STRIDE,
        "tile_size": TILE_SIZE,
        "input": {"name": "images", "layout": "NHWC", "dtype": "uint8", "channels": "RGB"},
        "normalisation": {"mean": list(MEAN), "std": list(STD), "in_graph": True},
        "score_threshold": score_threshold,
        "parameters": params,
        "metrics": _jsonable(metrics),
        "training": {"seed": cfg.seed, "command": cfg.command, "sitewatch": __version__, "config": _jsonable(config)},
    }
    (out / f"{cfg.name}.json").write_text(json.dumps(meta, indent=1))
    (out / f"{cfg.name}.md").write_text(model_card(meta))
    return onnx_path


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return _portable(obj)
    if isinstance(obj, float) and obj != obj:  # NaN is not JSON
        return None
    return obj


def _portable(path: Path) -> str:
    """A path as written in configs: ``shared:...`` or relative to the repository, else absolute."""
    repo = Path(__file__).resolve().parents[4]
    for root, prefix in ((shared_dir(), "shared:"), (repo, "")):
        if path.is_relative_to(root):
            return prefix + str(path.relative_to(root))
    return str(path)


def _metric_rows(metrics: dict[str, Any]) -> list[str]:
    rows = []
    labels = (
        ("val_native", "native"),
        ("val_0.3m", "0.3 m"),
        ("val_0.5m", "0.5 m"),
        ("val_simulated", "SIMULATED tiles (synthetic classes)"),
    )
    for key, label in labels:
        m = metrics.get(key)
        if not m:
            continue
        per = ", ".join(f"{k} {v:.3f}" if v is not None else f"{k} n/a" for k, v in m["per_class"].items())
        share = "n/a" if m.get("count_error") is None else f"{100 * m['count_error']:.1f} %"
        rows.append(f"| {label} | {m['map50']:.3f} | {m['map50_95']:.3f} | {per} | {m['count_mae']:.2f} | {share} |")
    return rows


def model_card(meta: dict[str, Any]) -> str:
    """Markdown model card from the metadata (the numbers are the ones measured in training)."""
    synthetic = meta["synthetic_only_classes"]
    cfg = meta["training"]["config"]
    sources = "\n".join(
        f"- `{s['kind']}` {s.get('annotations') or s.get('options')}"
        + (" (**synthetic**)" if s.get("synthetic") else "")
        + (f" (sparse labels, background only near boxes: {s['sparse_labels']})" if s.get("sparse_labels") else "")
        for s in cfg["train"]
    )
    caveat = (
        f"**Trained on synthetic data only, not validated on real imagery: {', '.join(synthetic)}.** "
        "Counts of these classes are indicative at best and every report that shows them must say so."
        if synthetic
        else "Every output class has real training labels."
    )
    rows = _metric_rows(meta["metrics"])
    table = (
        "\n".join(
            [
                "| val GSD | mAP50 | mAP50:95 | AP50 per class | count MAE | count error |",
                "|---|---|---|---|---|---|",
                *rows,
            ]
        )
        if rows
        else "No validation data was configured; no metrics were measured."
    )
    return f"""# {meta["name"]} — sitewatch small-vehicle detector

{meta["architecture"]}, {meta["parameters"]:,} parameters, trained from scratch with torch (CPU).
Exported to ONNX opset {OPSET}; inference needs only onnxruntime.

## Classes
{", ".join(meta["classes"])}

{caveat}

## Input
- `images`: uint8, NHWC, RGB, any batch size, height and width multiples of 32.
- Normalisation is inside the graph: (x - mean) / std with mean {meta["normalisation"]["mean"]},
  std {meta["normalisation"]["std"]} (0..255 scale).
- Working GSD **{meta["gsd"]} m/px**: the slicer resamples every tile to it (or to within 5 % of it
  when JPEG tiles can be decoded straight to that size). Trained on imagery
  degraded to source GSDs {meta["gsd_range"][0]}–{meta["gsd_range"][1]} m/px (then resampled), with
  ±{cfg["augment"]["scale_jitter"]:.0%} scale jitter. Preferred tile {meta["tile_size"]} px.
- Outputs at stride {meta["stride"]}: `peaks` (N, C, H/4, W/4) sigmoid scores kept only at 3x3
  local maxima, `reg` (N, 4, H/4, W/4) = (dx, dy, log w, log h) in output cells.
- Score threshold for counting: {meta["score_threshold"]} (minimises per-image count error on val).

## Data
{sources}

Validation: {", ".join(f"`{s.get('annotations') or s.get('options')}`" for s in cfg["val"]) or "none"}. GSD of the
shared sets is estimated per image from the median car-box length (4.6 m car), since neither
states it. Licences: SIMD and FAIR1M unknown (research/evaluation only), KIT AIS CC-BY 3.0.

Augmentation: 90° rotations, flips, GSD degradation and scale jitter, colour, haze, blur,
noise. Class imbalance: focal loss and rarity-weighted image sampling.

## Validation metrics (measured at the end of training, best checkpoint)
COCO AP via pycocotools on the val splits, over classes with real labels only.
"native" = each val image resampled straight to the working GSD; "0.3 m"/"0.5 m" = first
degraded to that GSD, then resampled. Count MAE: mean per-image error of the count at the
counting threshold, over {meta["metrics"].get("count_images", "all")} val images (those not marked `sparse_labels`,
if any: their unboxed objects would count as false positives); count error: those errors summed,
as a share of the true total.

{table}

{"Fine-tuned from `" + str(cfg["init"]) + "`." if cfg.get("init") else ""} {cfg.get("notes", "")}
Training: {meta["metrics"].get("steps")} steps in {meta["metrics"].get("minutes")} min, best checkpoint at step
{meta["metrics"].get("best_step")}, seed {meta["training"]["seed"]}.

## Reproduce
```
{meta["training"]["command"] or "sitewatch train --config configs/" + meta["name"] + ".yaml"}
```
"""
