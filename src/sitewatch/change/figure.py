"""Before/after figures of a change result (matplotlib, headless, no pyplot state).

Every figure made from simulated data carries a SIMULATED watermark.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import matplotlib

matplotlib.use("Agg")

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from sitewatch.change.regions import ChangeRegion
from sitewatch.report.figures import encode_figure

DPI = 100
#: Colour of each region kind's outline.
KIND_COLOURS: dict[str, str] = {
    "crane": "#e377c2",
    "new_structure": "#d62728",
    "removed_structure": "#1f77b4",
    "ground_scarring": "#ff7f0e",
    "vehicle_size": "#ffd400",
    "other": "#17becf",
}


def _png(fig: Figure, simulated: bool, fmt: Literal["png", "jpeg"] = "png") -> bytes:
    return encode_figure(fig, simulated=simulated, fmt=fmt, dpi=DPI)


def _stride(shape: tuple[int, ...], max_px: int) -> int:
    return max(1, int(np.ceil(max(shape[:2]) / max_px)))


def before_after(
    before: np.ndarray,
    after: np.ndarray,
    mask: np.ndarray,
    valid: np.ndarray,
    regions: Sequence[ChangeRegion],
    *,
    titles: tuple[str, str],
    simulated: bool,
    max_px: int = 900,
    fmt: Literal["png", "jpeg"] = "png",
) -> bytes:
    """PNG (or JPEG): before, after and change (magenta over after; darkened where not compared), regions boxed."""
    s = _stride(before.shape, max_px)
    fig = Figure(figsize=(15, 5.4))
    axes = fig.subplots(1, 3)
    overlay = after[::s, ::s].copy()
    overlay[~valid[::s, ::s]] //= 3  # cloud, nodata: nothing can be said there
    overlay[mask[::s, ::s]] = (255, 0, 255)
    for ax, img, title in zip(
        axes, (before[::s, ::s], after[::s, ::s], overlay), (*titles, "change (dark: not compared)"), strict=True
    ):
        ax.imshow(img, interpolation="nearest")
        ax.set_title(title, fontsize=10)
        ax.set_axis_off()
    for r in regions:
        if r.kind == "vehicle_size":
            continue  # vehicles are shown by object change; boxes would hide the image
        r0, c0, r1, c1 = r.window
        axes[2].add_patch(
            Rectangle(
                (c0 / s, r0 / s),
                (c1 - c0) / s,
                (r1 - r0) / s,
                fill=False,
                lw=1.2,
                edgecolor=KIND_COLOURS.get(r.kind, "white"),
            )
        )
    fig.tight_layout()
    return _png(fig, simulated, fmt)


def chip(before: np.ndarray, after: np.ndarray, region: ChangeRegion, *, simulated: bool, pad: int = 16) -> bytes:
    """PNG: before/after chips around one region."""
    r0, c0, r1, c1 = region.window
    h, w = before.shape[:2]
    sl = (slice(max(r0 - pad, 0), min(r1 + pad, h)), slice(max(c0 - pad, 0), min(c1 + pad, w)))
    fig = Figure(figsize=(6, 3.2))
    axes = fig.subplots(1, 2)
    for ax, img, title in zip(axes, (before[sl], after[sl]), ("before", "after"), strict=True):
        ax.imshow(img, interpolation="nearest")
        ax.set_title(f"{title}: {region.kind} {region.area_m2:.0f} m²", fontsize=8)
        ax.set_axis_off()
    fig.tight_layout()
    return _png(fig, simulated)
