"""Box arrays: decoding CenterNet outputs and class-aware NMS (numpy + OpenCV, no torch).

Boxes travel as plain arrays between the model and the slicer: ``boxes`` (N, 4) float
x0, y0, x1, y1 in pixels, ``scores`` (N,), ``labels`` (N,) int class indices.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import cv2
import numpy as np

from sitewatch.model import PixelBox


class Boxes(NamedTuple):
    boxes: np.ndarray
    scores: np.ndarray
    labels: np.ndarray

    @classmethod
    def empty(cls) -> Boxes:
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64))

    def __len__(self) -> int:  # type: ignore[override]
        return len(self.scores)

    def take(self, keep: np.ndarray) -> Boxes:
        return Boxes(self.boxes[keep], self.scores[keep], self.labels[keep])

    def shifted(self, dx: float, dy: float, scale: float = 1.0) -> Boxes:
        """Boxes scaled by ``scale`` then moved by (dx, dy)."""
        offset = np.array([dx, dy, dx, dy], dtype=np.float32)
        return Boxes(self.boxes * np.float32(scale) + offset, self.scores, self.labels)

    @staticmethod
    def concat(parts: Sequence[Boxes]) -> Boxes:
        if not parts:
            return Boxes.empty()
        return Boxes(*(np.concatenate(a) for a in zip(*parts, strict=True)))

    def to_pixel_boxes(self, classes: Sequence[str]) -> list[PixelBox]:
        return [
            PixelBox(float(b[0]), float(b[1]), float(b[2]), float(b[3]), classes[int(c)], float(s))
            for b, s, c in zip(self.boxes, self.scores, self.labels, strict=True)
        ]


def decode_centernet(
    peaks: np.ndarray, reg: np.ndarray, *, stride: int, threshold: float, max_dets: int = 2000
) -> Boxes:
    """Boxes from one image's peak map (C, h, w) and regression (4, h, w) in output cells."""
    c, y, x = np.nonzero(peaks > threshold)
    scores = peaks[c, y, x]
    if len(scores) > max_dets:
        top = np.argpartition(-scores, max_dets)[:max_dets]
        c, y, x, scores = c[top], y[top], x[top], scores[top]
    dx, dy, lw, lh = reg[:, y, x]
    cx, cy = (x + dx) * stride, (y + dy) * stride
    hw, hh = np.exp(lw) * stride / 2, np.exp(lh) * stride / 2
    boxes = np.stack([cx - hw, cy - hh, cx + hw, cy + hh], axis=1).astype(np.float32)
    return Boxes(boxes, scores.astype(np.float32), c.astype(np.int64))


def nms(boxes: Boxes, iou: float = 0.5) -> Boxes:
    """Class-aware non-maximum suppression (OpenCV)."""
    if len(boxes) < 2:
        return boxes
    xywh = np.concatenate([boxes.boxes[:, :2], boxes.boxes[:, 2:] - boxes.boxes[:, :2]], axis=1)
    keep = cv2.dnn.NMSBoxesBatched(
        xywh.astype(np.float64).tolist(), boxes.scores.tolist(), boxes.labels.tolist(), 0.0, iou
    )
    return boxes.take(np.sort(np.asarray(keep, dtype=np.int64).reshape(-1)))
