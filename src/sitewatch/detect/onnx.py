"""The trained detector, run with onnxruntime (no torch).

A model is ``<name>.onnx`` plus ``<name>.json`` metadata (classes, working GSD, tile size,
score threshold) written by :mod:`sitewatch.detect.train.export`.

The counting threshold is picked where labelled data of the imagery lets it be: real
validation images for real scenes (``score_threshold``), a held-out simulation for simulated
scenes (``score_thresholds``, set by ``sitewatch calibrate-counts --pick-threshold``), as the
simulator's vehicles score differently from real ones.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from sitewatch.detect.base import Tiles
from sitewatch.detect.boxes import SAME_OBJECT_IOU, decode_centernet
from sitewatch.errors import ModelError
from sitewatch.model import CLASSES, PixelBox

#: Sidecar key of the counting thresholds per imagery domain other than real:
#: ``{"simulated": {"threshold": 0.34, "picked_on": "..."}}``.
DOMAIN_THRESHOLDS_KEY = "score_thresholds"

#: Tile sides must be multiples of this (backbone stride 16, heads aligned at 32).
SIZE_MULTIPLE = 32


@dataclass
class OnnxDetector:
    """A CenterNet-lite ONNX model with its metadata; satisfies :class:`~sitewatch.detect.base.Detector`."""

    name: str
    classes: tuple[str, ...]
    gsd: float
    tile_size: int
    score_threshold: float
    stride: int
    #: Source GSDs (m/px) the model was trained to handle.
    gsd_range: tuple[float, float]
    #: Classes learnt only from simulator data (not validated on real imagery).
    synthetic_only_classes: tuple[str, ...]
    path: Path
    metadata: dict[str, Any] = field(repr=False)
    session: Any = field(repr=False)
    #: Batches that may run at once, each on one thread of the shared single-threaded session
    #: (see :func:`sitewatch.detect.slicing.run_tiles`).
    batch_workers: int = 1
    #: Boxes of any classes overlapping this much are one object (None: keep every class's box).
    same_object_iou: float | None = SAME_OBJECT_IOU
    #: Counting thresholds for other imagery domains ("simulated"), each picked on held-out
    #: labelled data of that domain; ``score_threshold`` is the one for real imagery.
    domain_thresholds: Mapping[str, float] = field(default_factory=dict)

    def for_domain(self, domain: str) -> OnnxDetector:
        """This detector counting at its threshold for ``domain`` ("real" or "simulated").

        The same session and name: the threshold is part of the model's version, recorded
        with each detection run.
        """
        threshold = self.domain_thresholds.get(domain)
        return self if threshold is None else replace(self, score_threshold=threshold, domain_thresholds={})

    @classmethod
    def load(
        cls,
        path: str | Path,
        *,
        score_threshold: float | None = None,
        threads: int | None = None,
        same_object_iou: float | None = SAME_OBJECT_IOU,
    ) -> OnnxDetector:
        """Load ``path`` (.onnx) and the ``.json`` metadata beside it.

        ``score_threshold`` overrides the model's thresholds for every imagery domain.
        """
        import onnxruntime as ort

        path = Path(path)
        meta_path = path.with_suffix(".json")
        if not path.is_file():
            raise ModelError("model file not found", path=path, fix="give a .onnx file or use --model simple")
        try:
            meta = json.loads(meta_path.read_text())
            classes = tuple(meta["classes"])
            gsd = float(meta["gsd"])
            domains = counting_thresholds(meta)
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ModelError(
                f"missing or invalid model metadata {meta_path.name} ({exc})",
                path=meta_path,
                fix="export the model with `sitewatch train`, which writes the .json beside the .onnx",
            ) from exc
        unknown = [c for c in classes if c not in CLASSES]
        if unknown:
            raise ModelError(f"model outputs unknown classes {unknown}", path=meta_path, fix="re-export the model")
        opts = ort.SessionOptions()
        # Parallel across batches, not inside one: N threads each running a whole batch on
        # one core beat one batch split over N cores (measured 11 vs 14.5 ms per tile on 2
        # cores), as no barrier waits for the slowest thread when the tile reader takes a core.
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        try:
            session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise ModelError(f"cannot load ONNX model ({exc})", path=path, fix="re-export or re-download it") from exc
        real = domains.pop("real")
        if score_threshold is not None:  # one threshold everywhere
            real, domains = score_threshold, {}
        return cls(
            name=f"{meta['name']}@{meta.get('version', '0')}",
            classes=classes,
            gsd=gsd,
            tile_size=int(meta.get("tile_size", 512)),
            score_threshold=real,
            stride=int(meta.get("stride", 4)),
            gsd_range=tuple(meta.get("gsd_range", (gsd, gsd))),  # type: ignore[arg-type]
            synthetic_only_classes=tuple(meta.get("synthetic_only_classes", ())),
            path=path,
            metadata=meta,
            session=session,
            batch_workers=threads or default_threads(),
            same_object_iou=same_object_iou,
            domain_thresholds=domains,
        )

    def detect_batch(self, tiles: Tiles) -> list[list[PixelBox]]:
        """Boxes per tile (tile pixel coordinates); tiles are padded to multiples of 32."""
        batch = tiles if isinstance(tiles, np.ndarray) else np.stack(tiles)
        if batch.ndim != 4 or batch.shape[-1] != 3 or batch.dtype != np.uint8:
            raise ValueError(f"tiles must be uint8 (N, H, W, 3), got {batch.dtype} {batch.shape}")
        h, w = batch.shape[1:3]
        ph, pw = -h % SIZE_MULTIPLE, -w % SIZE_MULTIPLE
        if ph or pw:
            batch = np.pad(batch, ((0, 0), (0, ph), (0, pw), (0, 0)))
        heat, reg = self.session.run(None, {"images": np.ascontiguousarray(batch)})
        out = []
        for p, r in zip(heat, reg, strict=True):
            found = decode_centernet(
                p, r, stride=self.stride, threshold=self.score_threshold, same_object_iou=self.same_object_iou
            )
            out.append(found.to_pixel_boxes(self.classes))
        return out


def counting_thresholds(meta: Mapping[str, Any]) -> dict[str, float]:
    """A model's counting threshold per imagery domain, from its sidecar: ``real`` and those
    picked for other domains."""
    found = {"real": float(meta.get("score_threshold", 0.3))}
    return found | {str(k): float(v["threshold"]) for k, v in meta.get(DOMAIN_THRESHOLDS_KEY, {}).items()}


def default_threads() -> int:
    """Inference threads (batches at once): ``OMP_NUM_THREADS`` when set, else every core.

    onnxruntime ignores that variable, but process pools set it to share the cores out
    (Dask's nanny sets 1 per single-threaded worker): two workers each spinning up one
    thread per core would fight over the same cores.
    """
    try:
        return max(1, int(os.environ["OMP_NUM_THREADS"]))
    except (KeyError, ValueError):
        return os.cpu_count() or 1
