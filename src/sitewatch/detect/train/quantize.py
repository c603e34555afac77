"""Post-training int8 quantization of an exported model, and reading its weights back.

The fp32 graph starts ``uint8 NHWC -> Transpose -> Cast -> Sub(mean) -> Div(std) -> Conv``.
Quantized as it stands, those float steps cost as much as all the int8 convolutions after
them (measured 7.8 of 19 ms per 512 px tile). So the per-channel normalisation is first
folded into the first convolution, leaving ``x - Z`` with one integer ``Z``: a uint8 pixel
*is* that value quantized with scale 1 and zero point ``Z``, so the int8 graph feeds the
transposed pixels straight to its first ``DequantizeLinear`` and nothing float is left
before the first int8 convolution.

The fold changes what the first convolution's zero padding means (a border pixel of ``Z``
instead of each channel's mean, within 0.2 standard deviations), which the evaluation of
the quantized model accounts for: its metrics are measured on the quantized graph itself.

Weights are int8 per output channel within a 7-bit range (see ``quantize_int8``),
activations uint8 per tensor, ranges from MinMax calibration over tiles at the model GSD
(onnxruntime's static QDQ quantization).
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from onnxruntime.quantization import CalibrationDataReader

from sitewatch.detect.train.net import MEAN, STD
from sitewatch.errors import ModelError

#: The integer subtracted from every pixel once the normalisation is folded: about the mean
#: of the channel means, so the padding it stands for is near what the network was trained on.
INPUT_ZERO_POINT = round(sum(MEAN) / len(MEAN))
#: The int8 graph's initialiser holding ``Z``.
PIXELS_ZERO_POINT = "pixels_zero_point"

_FIX = "export it again with `sitewatch train --export-only`"


def _initialisers(graph: Any) -> dict[str, np.ndarray]:
    from onnx import numpy_helper

    return {t.name: numpy_helper.to_array(t) for t in graph.initializer}


def fold_input_normalisation(model: Any, zero_point: int = INPUT_ZERO_POINT, *, path: Path | None = None) -> None:
    """Rewrite ``Sub(mean) -> Div(std) -> Conv`` at the graph's input as ``Sub(Z) -> Conv'`` in place."""
    from onnx import numpy_helper

    graph = model.graph
    nodes = list(graph.node)
    ops = [n.op_type for n in nodes[:5]]
    if ops != ["Transpose", "Cast", "Sub", "Div", "Conv"]:
        raise ModelError(f"unexpected graph input {ops}: not a sitewatch fp32 export", path=path, fix=_FIX)
    _, _, sub, div, conv = nodes[:5]
    inits = {t.name: t for t in graph.initializer}
    mean = numpy_helper.to_array(inits[sub.input[1]]).reshape(-1).astype(np.float64)
    std = numpy_helper.to_array(inits[div.input[1]]).reshape(-1).astype(np.float64)
    w = numpy_helper.to_array(inits[conv.input[1]]).astype(np.float64)
    b = numpy_helper.to_array(inits[conv.input[2]]).astype(np.float64)
    # conv(W, (x - m) / s) + b == conv(W / s, x - Z) + b - sum W (m - Z) / s, away from the padding.
    w_folded = w / std[None, :, None, None]
    b_folded = b - (w_folded * (mean - zero_point)[None, :, None, None]).sum(axis=(1, 2, 3))
    inits[conv.input[1]].CopyFrom(numpy_helper.from_array(w_folded.astype(np.float32), conv.input[1]))
    inits[conv.input[2]].CopyFrom(numpy_helper.from_array(b_folded.astype(np.float32), conv.input[2]))
    inits[sub.input[1]].CopyFrom(numpy_helper.from_array(np.full((1, 1, 1, 1), zero_point, np.float32), sub.input[1]))
    conv.input[0] = sub.output[0]
    graph.node.remove(div)
    graph.initializer.remove(inits[div.input[1]])


def _feed_pixels_directly(model: Any, zero_point: int) -> None:
    """Replace ``Cast -> Sub(Z) -> QuantizeLinear`` by the uint8 pixels (scale 1, zero point Z)."""
    from onnx import numpy_helper

    graph = model.graph
    consumers = {i: n for n in graph.node for i in n.input}
    transpose = consumers.get(graph.input[0].name)
    cast = consumers.get(transpose.output[0]) if transpose is not None else None
    sub = consumers.get(cast.output[0]) if cast is not None else None
    if transpose is None or cast is None or sub is None or (cast.op_type, sub.op_type) != ("Cast", "Sub"):
        raise ModelError("unexpected quantized graph input: no Transpose -> Cast -> Sub", fix=_FIX)
    quant = [n for n in graph.node if n.op_type == "QuantizeLinear" and n.input[0] == sub.output[0]]
    if len(quant) != 1:
        raise ModelError("the quantizer left the first convolution's input in float", fix=_FIX)
    scale, zero = "pixels_scale", PIXELS_ZERO_POINT
    graph.initializer.extend(
        [
            numpy_helper.from_array(np.array(1.0, np.float32), scale),
            numpy_helper.from_array(np.array(zero_point, np.uint8), zero),
        ]
    )
    for node in graph.node:
        if node.op_type == "DequantizeLinear" and node.input[0] == quant[0].output[0]:
            node.input[0], node.input[1], node.input[2] = cast.input[0], scale, zero
    used = {*quant[0].input[1:], sub.input[1]}
    for node in (cast, sub, quant[0]):
        graph.node.remove(node)
    still = {i for n in graph.node for i in n.input}
    for t in [t for t in graph.initializer if t.name in used and t.name not in still]:
        graph.initializer.remove(t)


class _Tiles(CalibrationDataReader):
    """onnxruntime's calibration reader over uint8 NHWC tiles, one per call."""

    def __init__(self, tiles: Sequence[np.ndarray]) -> None:
        self._tiles = iter(tiles)

    def get_next(self) -> dict[str, np.ndarray] | None:
        tile = next(self._tiles, None)
        return None if tile is None else {"images": np.ascontiguousarray(tile[None])}


def quantize_int8(src: Path, dst: Path, tiles: Sequence[np.ndarray]) -> dict[str, Any]:
    """Write the int8 version of the fp32 model at ``src`` to ``dst``; returns its metadata.

    ``tiles``: uint8 (H, W, 3) images at the model GSD, sides multiples of 32, to calibrate
    the activation ranges on.
    """
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    if not tiles:
        raise ModelError("no calibration tiles for int8 quantization", path=src, fix="give the run training images")
    model = onnx.load(str(src))
    fold_input_normalisation(model, path=src)
    with tempfile.TemporaryDirectory() as tmp:
        folded, prepared, quantized = (Path(tmp) / f"{n}.onnx" for n in ("folded", "prepared", "int8"))
        onnx.save(model, str(folded))
        # Constant folding and shape inference first, as onnxruntime advises (the graph's
        # sizes are dynamic, so no symbolic shapes).
        quant_pre_process(str(folded), str(prepared), skip_symbolic_shape=True)
        quantize_static(
            str(prepared),
            str(quantized),
            _Tiles(tiles),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            # 7-bit weights: on AVX2 CPUs without VNNI (Intel before Ice Lake, AMD before Zen 4)
            # onnxruntime multiplies uint8 by int8 in pairs summed into int16 with saturation,
            # which 255 * 127 * 2 overflows and 255 * 64 * 2 does not.
            reduce_range=True,
            calibrate_method=CalibrationMethod.MinMax,
        )
        model = onnx.load(str(quantized))
    _feed_pixels_directly(model, INPUT_ZERO_POINT)
    onnx.checker.check_model(model)
    onnx.save(model, str(dst))
    return {
        "method": "onnxruntime static QDQ: int8 weights per output channel in 7-bit range (no saturation on "
        "CPUs without VNNI), uint8 activations, MinMax ranges",
        "calibration_tiles": len(tiles),
        "input_zero_point": INPUT_ZERO_POINT,
        "normalisation": "folded into the first convolution",
    }


def conv_weights(graph: Any, *, path: Path | None = None) -> list[tuple[str, np.ndarray, np.ndarray | None]]:
    """Every convolution's (name, float weights, bias) in graph order, fp32 or int8 graph alike.

    For an int8 graph the weights are dequantized and the first convolution's folded
    normalisation is undone, so the result is what the fp32 network would hold.
    """
    inits = _initialisers(graph)
    made_by = {o: n for n in graph.node for o in n.output}

    def value(name: str) -> np.ndarray | None:
        if name in inits:
            return inits[name]
        node = made_by.get(name)
        if node is None or node.op_type != "DequantizeLinear" or node.input[0] not in inits:
            return None
        q = inits[node.input[0]].astype(np.float64)
        scale = inits[node.input[1]].astype(np.float64)
        zero = inits[node.input[2]].astype(np.float64) if len(node.input) > 2 else np.zeros_like(scale)
        if scale.ndim == 1:  # per channel along ``axis`` (default 1; weights and biases use 0)
            axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
            shape = [1] * q.ndim
            shape[axis] = -1
            scale, zero = scale.reshape(shape), zero.reshape(shape)
        return ((q - zero) * scale).astype(np.float32)

    out: list[tuple[str, np.ndarray, np.ndarray | None]] = []
    for node in graph.node:
        if node.op_type != "Conv":
            continue
        w = value(node.input[1])
        if w is None:
            raise ModelError(f"convolution {node.name}: weights not found", path=path, fix=_FIX)
        b = value(node.input[2]) if len(node.input) > 2 else None
        out.append((node.name, w, b))
    if out and is_int8(graph):
        name, w, b = out[0]
        std = np.asarray(STD, np.float64)[None, :, None, None]
        zero = float(inits[PIXELS_ZERO_POINT]) if PIXELS_ZERO_POINT in inits else INPUT_ZERO_POINT
        shift = (w.astype(np.float64) * (np.asarray(MEAN) - zero)[None, :, None, None]).sum(axis=(1, 2, 3))
        bias = (np.zeros(w.shape[0]) if b is None else b.astype(np.float64)) + shift
        out[0] = (name, (w * std).astype(np.float32), bias.astype(np.float32))
    return out


def is_int8(graph: Any) -> bool:
    """Whether the graph is a quantized (QDQ) export."""
    return any(n.op_type == "DequantizeLinear" for n in graph.node)
