"""Export a trained network to ONNX with its metadata JSON and model card, and read an
exported model's weights back into a network (to fine-tune a model whose checkpoint is gone)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sitewatch import __version__
from sitewatch.config import shared_dir
from sitewatch.detect.evaluate import format_share
from sitewatch.detect.train.config import TrainConfig
from sitewatch.detect.train.data import STRIDE
from sitewatch.detect.train.net import (
    MEAN,
    STD,
    CenterNetLite,
    ExportWrapper,
    conv_norm_pairs,
    identity_norm,
    widen,
)
from sitewatch.detect.train.quantize import conv_weights, is_int8, quantize_int8
from sitewatch.errors import ModelError

OPSET = 17
#: Preferred inference tile size (px at the model GSD).
TILE_SIZE = 512


def export_onnx(wrapper: ExportWrapper, path: Path) -> Path:
    """Write the uint8-NHWC-in, scores/regression-out graph with dynamic batch and size."""
    wrapper.eval()
    dummy = torch.zeros((1, 256, 256, 3), dtype=torch.uint8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            wrapper,
            (dummy,),
            str(path),
            input_names=["images"],
            output_names=["heat", "reg"],
            opset_version=OPSET,
            dynamic_axes={
                "images": {0: "n", 1: "h", 2: "w"},
                "heat": {0: "n", 2: "h4", 3: "w4"},
                "reg": {0: "n", 2: "h4", 3: "w4"},
            },
            dynamo=False,
        )
    return path


#: Largest difference between the network and the ONNX graph it was loaded from (scores and
#: regression) for the load to be accepted.
IMPORT_TOLERANCE = 1e-3
#: The same for an int8 model, on the mean difference: its rounding noise measured 0.0017
#: (scores) and 0.013 (regression, whose mean magnitude is 0.7) on the bundled model.
INT8_IMPORT_TOLERANCE = 0.03
#: Spread of the noise added to widened copies' weights, relative to their layer's: enough to
#: let copies learn apart (the experiment of 2026-12-04: native val mAP50 0.234 -> 0.230 at step 0).
WIDEN_NOISE = 0.01
#: What to do when an exported model does not fit the configured network.
FIT_FIX = "set the config's widths and classes to the model's (see its .json and model card)"


def load_onnx_weights(
    net: CenterNetLite,
    path: Path,
    classes: Sequence[str],
    widths: Sequence[int] | None = None,
    *,
    seed: int = 0,
) -> None:
    """Load the weights of an exported model into ``net`` (same ``classes``).

    The export folds each batch norm into the convolution before it, so every such
    convolution gets the folded weights and its batch norm becomes the identity plus the
    folded bias (mean 0, variance 1 - eps, scale 1): ``net`` in eval mode then computes what
    the graph computes, which is checked on a random tile. Its batch norms must stay frozen
    while fine-tuning (:func:`~sitewatch.detect.train.net.freeze_batch_norms`): batch
    statistics would undo the folding. When ``net``'s ``widths`` are wider than the model's
    (its ``.json`` records them), the model is loaded at its own widths and widened into
    ``net`` (:func:`~sitewatch.detect.train.net.widen`, checked the same way before the
    copies get :data:`WIDEN_NOISE`). Raises :class:`ModelError` when the model does not fit.
    """
    exported = _exported_widths(path)
    if widths is not None and exported is not None and tuple(widths) != exported:
        narrow = CenterNetLite(len(classes), exported)  # type: ignore[arg-type]
        load_onnx_weights(narrow, path, classes)
        try:
            widen(narrow, net, (exported, widths), np.random.default_rng(seed))
        except ValueError as exc:
            raise ModelError(str(exc), path=path, fix=FIT_FIX) from exc
        _check_import(net, path, classes)
        widen(narrow, net, (exported, widths), np.random.default_rng(seed), noise=WIDEN_NOISE)
        return
    import onnx

    try:
        graph = onnx.load(str(path)).graph
    except Exception as exc:  # protobuf and onnx raise their own untyped errors
        raise ModelError(
            f"cannot read ONNX model ({exc})", path=path, fix="give an .onnx file exported by sitewatch"
        ) from exc
    convs = {_module_name(name): (name, w, b) for name, w, b in conv_weights(graph, path=path)}
    targets = conv_norm_pairs(net)
    if len(convs) != len(targets):
        raise ModelError(
            f"the model has {len(convs)} convolutions, the configured network {len(targets)}", path=path, fix=FIT_FIX
        )
    names = {id(m): f"net.{n}" for n, m in net.named_modules()}
    with torch.no_grad():
        for conv, bn in targets:
            name = names[id(conv)]
            if name not in convs:
                raise ModelError(f"the model has no convolution for the network's {name}", path=path, fix=FIT_FIX)
            node, w, b = convs[name]
            if tuple(w.shape) != tuple(conv.weight.shape):
                raise ModelError(
                    f"convolution {node}: weights {tuple(w.shape)}, network {tuple(conv.weight.shape)}",
                    path=path,
                    fix=FIT_FIX,
                )
            conv.weight.copy_(torch.tensor(w))
            bias = torch.tensor(b) if b is not None else torch.zeros(w.shape[0])
            if bn is not None:
                identity_norm(bn, bias)
            elif conv.bias is not None:
                conv.bias.copy_(bias)
    _check_import(net, path, classes)


def _module_name(node: str) -> str:
    """The module a torch-exported node belongs to, as ``ExportWrapper.named_modules`` names it.

    Scopes nest as ``/net/heat/heat.0/pw/pw.0/Conv``; a scope extending its parent's
    (``heat`` -> ``heat.0``) is that parent's child, so this is ``net.heat.0.pw.0``. Matching
    by name, not node order, survives the int8 quantizer reordering the heads' nodes.
    """
    path: list[str] = []
    for scope in node.split("/")[1:-1]:
        if path and scope.startswith(path[-1] + "."):
            path[-1] = scope
        else:
            path.append(scope)
    return ".".join(path)


def _exported_widths(path: Path) -> tuple[int, ...] | None:
    """The widths an exported model was trained with, from its ``.json`` (None if unrecorded)."""
    try:
        widths = json.loads(path.with_suffix(".json").read_text())["training"]["config"]["widths"]
        return tuple(int(w) for w in widths)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _check_import(net: CenterNetLite, path: Path, classes: Sequence[str]) -> None:
    """``net`` computes what the graph at ``path`` computes, on a random tile (on average, for
    an int8 graph)."""
    import onnx
    import onnxruntime as ort

    try:
        exported = json.loads(path.with_suffix(".json").read_text())["classes"]
    except (OSError, ValueError, KeyError):
        exported = list(classes)
    if not set(exported) <= set(classes):
        raise ModelError(
            f"the model's classes {exported} are not all in the config's {list(classes)}",
            path=path,
            fix="set the config's classes to the model's (see its .json)",
        )
    channels = [list(classes).index(c) for c in exported]
    wrapper = ExportWrapper(net, channels if len(channels) < len(classes) else None)
    was_training = net.training
    wrapper.eval()
    tile = np.random.default_rng(0).integers(0, 256, (1, 96, 96, 3), dtype=np.uint8)
    with torch.no_grad():
        heat, reg = (t.numpy() for t in wrapper(torch.from_numpy(tile)))
    net.train(was_training)
    int8 = is_int8(onnx.load(str(path)).graph)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    their_heat, their_reg = session.run(None, {"images": tile})
    if heat.shape != their_heat.shape or reg.shape != their_reg.shape:
        raise ModelError(f"outputs {heat.shape}, model {their_heat.shape}", path=path, fix=FIT_FIX)
    # Models exported until 2026-12-04 zero every score but 3x3 local maxima in the graph
    # (their ``peaks``): scores are compared where the model has them, the regression everywhere.
    kept = their_heat > 0
    if int8:  # rounding noise in every activation: compare on average, not at the worst cell
        worst = max(float(np.abs(reg - their_reg).mean()), float(np.abs(heat - their_heat)[kept].mean()))
    else:
        worst = max(float(np.abs(reg - their_reg).max()), float(np.abs(heat - their_heat)[kept].max(initial=0.0)))
    if worst > (INT8_IMPORT_TOLERANCE if int8 else IMPORT_TOLERANCE) or not kept.any():
        raise ModelError(f"the loaded network differs from the model (by up to {worst:.3g})", path=path, fix=FIT_FIX)


def write_int8_onnx(wrapper: ExportWrapper, path: Path, tiles: Sequence[np.ndarray]) -> dict[str, Any]:
    """Export, then quantize to int8 at ``path`` (:mod:`~sitewatch.detect.train.quantize`);
    returns how, for the metadata."""
    with tempfile.TemporaryDirectory() as tmp:
        fp32 = export_onnx(wrapper, Path(tmp) / "fp32.onnx")
        return quantize_int8(fp32, path, tiles)


def write_metadata(
    onnx_path: Path,
    cfg: TrainConfig,
    *,
    classes: Sequence[str],
    synthetic_only: Sequence[str],
    score_threshold: float,
    metrics: dict[str, Any],
    params: int,
    config: dict[str, Any],
    quantization: dict[str, Any] | None = None,
) -> Path:
    """``<name>.json`` metadata (read at load time) and ``<name>.md`` model card beside the
    exported ``onnx_path``, which is returned."""
    out = onnx_path.parent
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
        "precision": "int8" if quantization else "fp32",
        **({"quantization": quantization} if quantization else {}),
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
        share = format_share(m.get("count_error"))
        rows.append(f"| {label} | {m['map50']:.3f} | {m['map50_95']:.3f} | {per} | {m['count_mae']:.2f} | {share} |")
    return rows


def _precision_text(meta: dict[str, Any]) -> str:
    q = meta.get("quantization")
    if not q:
        return "Weights and arithmetic are float32."
    return (
        f"**int8**: post-training quantization ({q['method']}), on {q['calibration_tiles']} training "
        f"tiles; the normalisation is {q['normalisation']} and pixels enter the int8 graph as they are "
        f"(zero point {q['input_zero_point']}). Every metric below was measured on this int8 graph."
    )


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
Exported to ONNX opset {OPSET}; inference needs only onnxruntime. {_precision_text(meta)}

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
- Outputs at stride {meta["stride"]}: `heat` (N, C, H/4, W/4) sigmoid scores of an object centre
  per class and cell, `reg` (N, 4, H/4, W/4) = (dx, dy, log w, log h) in output cells. Boxes
  from cells above the threshold that overlap at IoU >= 0.5 are one object (the best-scoring
  is kept; `sitewatch.detect.boxes.decode_centernet`), no 3x3 local-maximum filter.
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
