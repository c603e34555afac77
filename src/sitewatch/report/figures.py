"""Report figures: pure functions from data to encoded images (matplotlib, Agg).

Figures are built on :class:`matplotlib.figure.Figure` directly, never through pyplot, so
no global state is touched and no window is ever opened. Every figure made from
simulated data carries a SIMULATED watermark.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
from collections.abc import Sequence
from dataclasses import dataclass

import matplotlib
import matplotlib.dates as mdates
import numpy as np
import shapely
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle
from matplotlib.patches import Polygon as PolygonPatch
from shapely.geometry.base import BaseGeometry

from sitewatch.analytics.series import ALL_CLASSES
from sitewatch.model import CLASSES, Alert, Count, Event, PixelBox

#: One colour per class (tab10 order), shared by the figures and the OpenCV chips.
CLASS_COLOURS: dict[str, str] = dict(
    zip(
        CLASSES,
        ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#bcbd22", "#17becf"),
        strict=True,
    )
)
SEVERITY_COLOURS: dict[str, str] = {"low": "#f2d16b", "medium": "#f0a04b", "high": "#d9534f"}
_ZONE_COLOUR = "#ffffff"
_AOI_COLOUR = "#ffd400"
_INSUFFICIENT_COLOUR = "#7f7f7f"
DPI = 90


@dataclass(frozen=True)
class InlineImage:
    """Encoded image bytes ready to inline in HTML as a ``data:`` URI."""

    mime: str
    data: bytes

    @property
    def uri(self) -> str:
        return f"data:{self.mime};base64,{base64.b64encode(self.data).decode('ascii')}"


@dataclass(frozen=True)
class Band:
    """A baseline band: expected level per date with its [lo, hi] range."""

    dates: tuple[dt.date, ...]
    lo: tuple[float, ...]
    centre: tuple[float, ...]
    hi: tuple[float, ...]


@dataclass(frozen=True)
class TimelinePanel:
    """Counts of one class in one zone, with an optional baseline band."""

    zone_id: str
    label: str
    counts: tuple[Count, ...]
    baseline: Band | None = None


def class_rgb(cls: str) -> tuple[int, int, int]:
    """The class colour as an (R, G, B) 0-255 tuple (for OpenCV drawing on RGB arrays)."""
    hex_ = CLASS_COLOURS.get(cls, "#ffffff").lstrip("#")
    return (int(hex_[0:2], 16), int(hex_[2:4], 16), int(hex_[4:6], 16))


def mark_simulated(fig: Figure) -> None:
    """Watermark ``fig`` as SIMULATED (diagonal text and a corner label), as every output of simulated data must be."""
    fig.text(
        0.5,
        0.5,
        "SIMULATED",
        ha="center",
        va="center",
        rotation=25,
        fontsize=54,
        color="#d62728",
        alpha=0.18,
        weight="bold",
        zorder=100,
    )
    fig.text(
        0.005,
        0.995,
        "SIMULATED DATA",
        ha="left",
        va="top",
        fontsize=9,
        color="white",
        weight="bold",
        bbox={"facecolor": "#d62728", "edgecolor": "none", "pad": 2},
        zorder=101,
    )


def encode_figure(fig: Figure, *, simulated: bool, fmt: str = "png", dpi: float = DPI) -> bytes:
    """``fig`` as PNG or JPEG bytes (JPEG for photographs: about a fifth of the PNG), SIMULATED-marked if so."""
    if simulated:
        mark_simulated(fig)
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    if fmt == "jpeg":
        fig.savefig(buf, format="jpeg", dpi=dpi, pil_kwargs={"quality": 82, "optimize": True})
    else:
        fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def _encode(fig: Figure, *, simulated: bool, fmt: str = "png") -> InlineImage:
    return InlineImage(f"image/{fmt}", encode_figure(fig, simulated=simulated, fmt=fmt))


def _polygon_patches(geom: BaseGeometry, **style: object) -> list[PolygonPatch]:
    """Outlines of every polygon part of ``geom`` (exteriors only: holes do not help a map read)."""
    patches = []
    for part in shapely.get_parts(geom):
        if isinstance(part, shapely.Polygon) and not part.is_empty:
            patches.append(PolygonPatch(np.asarray(part.exterior.coords)[:, :2], closed=True, **style))  # type: ignore[arg-type]
    return patches


def site_map(
    image: np.ndarray,
    aoi_px: BaseGeometry,
    zones_px: Sequence[tuple[str, str, BaseGeometry]],
    boxes: Sequence[PixelBox],
    *,
    title: str,
    simulated: bool,
) -> InlineImage:
    """The AOI and zones (``(name, kind, pixel geometry)``) with detection boxes over ``image``.

    All geometries and boxes are in the pixel grid of ``image`` (x right, y down). Encoded
    as JPEG: it is mostly photograph.
    """
    h, w = image.shape[:2]
    height = 9 * h / max(w, 1) + 0.4
    fig = Figure(figsize=(9, height))
    fig.subplots_adjust(left=0.01, right=0.99, bottom=0.01, top=1 - 0.4 / height)
    ax = fig.add_subplot()
    ax.imshow(image, interpolation="nearest")
    for patch in _polygon_patches(aoi_px, fill=False, edgecolor=_AOI_COLOUR, linewidth=2, linestyle="--"):
        ax.add_patch(patch)
    for name, kind, geom in zones_px:
        for patch in _polygon_patches(geom, fill=False, edgecolor=_ZONE_COLOUR, linewidth=1.4):
            ax.add_patch(patch)
        if not geom.is_empty:
            p = geom.representative_point()
            ax.annotate(
                f"{name}\n({kind})",
                (p.x, p.y),
                ha="center",
                va="center",
                fontsize=8,
                color="black",
                bbox={"facecolor": "white", "alpha": 0.7, "edgecolor": "none", "pad": 1.5},
            )
    for b in boxes:
        ax.add_patch(
            Rectangle(
                (b.x0, b.y0),
                b.x1 - b.x0,
                b.y1 - b.y0,
                fill=False,
                edgecolor=CLASS_COLOURS.get(b.cls, "white"),
                linewidth=1.0,
            )
        )
    present = sorted({b.cls for b in boxes}, key=_class_order)
    handles: list[Artist] = [Line2D([], [], color=_AOI_COLOUR, linestyle="--", label="site AOI")]
    handles += [Patch(facecolor="none", edgecolor=CLASS_COLOURS.get(c, "white"), label=c) for c in present]
    ax.legend(handles=handles, loc="lower right", fontsize=8, framealpha=0.8)
    ax.set_xlim(0, w)
    ax.set_ylim(h, 0)
    ax.set_axis_off()
    ax.set_title(title, fontsize=10)
    return _encode(fig, simulated=simulated, fmt="jpeg")


def _class_order(cls: str) -> int:
    return CLASSES.index(cls) if cls in CLASSES else len(CLASSES)


def alert_involves(alert: Alert, zone_id: str, cls: str) -> bool:
    """Whether ``alert`` concerns the series (``zone_id``, ``cls``); empty zones/classes mean all."""
    classes = set(alert.classes) - {ALL_CLASSES}  # "all": the zone total rose
    return (not alert.zones or zone_id in alert.zones) and (not classes or cls in classes)


def timeline(
    cls: str,
    panels: Sequence[TimelinePanel],
    events: Sequence[Event],
    alerts: Sequence[Alert],
    *,
    simulated: bool,
) -> InlineImage:
    """Counts of ``cls`` over time, one panel per zone.

    Each panel shows the corrected estimate with its [lo, hi] interval, the raw detector
    count, the baseline band when given, events as labelled vertical lines and the alerts
    that involve this zone and class as shaded spans. Observations with insufficient
    coverage are marked along the top of the panel, never plotted as values.
    """
    n = max(len(panels), 1)
    # Fixed margins in inches: the constrained layout engine doubles the drawing time.
    top_in, bottom_in, height = 0.85, 0.95, 0.85 + 0.95 + 1.7 * n
    fig = Figure(figsize=(10, height))
    fig.subplots_adjust(left=0.09, right=0.98, top=1 - top_in / height, bottom=bottom_in / height, hspace=0.15)
    axes = fig.subplots(n, 1, sharex=True, squeeze=False)[:, 0]
    locator = mdates.AutoDateLocator(maxticks=10)
    axes[-1].xaxis.set_major_locator(locator)
    axes[-1].xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    colour = CLASS_COLOURS.get(cls, "#333333")
    for ax, panel in zip(axes, panels, strict=False):
        ok = sorted((c for c in panel.counts if c.sufficient), key=lambda c: c.date)
        bad = sorted((c for c in panel.counts if not c.sufficient), key=lambda c: c.date)
        if panel.baseline is not None and panel.baseline.dates:
            b = panel.baseline
            ax.fill_between(b.dates, b.lo, b.hi, color="#999999", alpha=0.25, linewidth=0, label="baseline range")
            ax.plot(b.dates, b.centre, color="#666666", linewidth=1, linestyle=":", label="baseline")
        if ok:
            dates = [c.date for c in ok]
            est = np.array([c.estimate for c in ok])
            err = np.array([[c.estimate - c.lo for c in ok], [c.hi - c.estimate for c in ok]]).clip(min=0)
            ax.errorbar(
                dates,
                est,
                yerr=err,
                color=colour,
                marker="o",
                markersize=3.5,
                linewidth=1.2,
                elinewidth=0.7,
                capsize=2,
                label="estimate [lo, hi]",
            )
            ax.plot(
                dates,
                [c.raw for c in ok],
                linestyle="none",
                marker=".",
                markersize=4,
                color="#333333",
                label="raw detections",
            )
        if bad:
            # Axis-fraction y: these dates have no usable value, so they get no height.
            ax.plot(
                [c.date for c in bad],
                [0.94] * len(bad),
                transform=ax.get_xaxis_transform(),
                linestyle="none",
                marker="x",
                markersize=6,
                color=_INSUFFICIENT_COLOUR,
                label="insufficient coverage (not zero)",
            )
        for alert in alerts:
            if alert_involves(alert, panel.zone_id, cls):
                ax.axvspan(
                    alert.start,
                    alert.end + dt.timedelta(days=1),
                    color=SEVERITY_COLOURS.get(alert.severity, "#f0a04b"),
                    alpha=0.3,
                    linewidth=0,
                )
        for event in events:
            ax.axvline(event.date, color="#444444", linewidth=0.9, linestyle="--")
        ax.set_ylabel(f"{panel.label}\ncount", fontsize=8)
        # Headroom keeps the top strip (insufficient-coverage marks) clear of the data.
        ax.set_ylim(0, max(ax.get_ylim()[1], 1.0) * 1.12)
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=8)
    if not panels:
        axes[0].text(0.5, 0.5, "no counts", transform=axes[0].transAxes, ha="center", va="center")
    top = axes[0]
    for event in _spaced(sorted(events, key=lambda e: e.date), top):
        top.annotate(
            event.kind,
            (event.date, 1.0),
            xycoords=("data", "axes fraction"),
            xytext=(2, 2),
            textcoords="offset points",
            rotation=60,
            fontsize=7,
            color="#444444",
            va="bottom",
        )
    legend: dict[str, Artist] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            legend.setdefault(label, handle)
    legend["event"] = Line2D([], [], color="#444444", linestyle="--")
    shown = {a.severity for a in alerts for p in panels if alert_involves(a, p.zone_id, cls)}
    for s in sorted(shown):
        legend[f"alert ({s})"] = Patch(color=SEVERITY_COLOURS.get(s, "#f0a04b"), alpha=0.3)
    fig.legend(list(legend.values()), list(legend), loc="lower center", ncols=4, fontsize=8, frameon=False)
    fig.suptitle(f"{cls}: counts per zone", fontsize=11, y=1 - 0.1 / height, va="top")
    return _encode(fig, simulated=simulated)


def _spaced(events: Sequence[Event], ax: Axes, min_fraction: float = 0.025) -> list[Event]:
    """Events whose labels would not overprint the previous one (lines are drawn for all)."""
    lo, hi = ax.get_xlim()
    min_gap = (hi - lo) * min_fraction
    out: list[Event] = []
    for event in events:
        x = mdates.date2num(event.date)
        if not out or x - mdates.date2num(out[-1].date) >= min_gap:
            out.append(event)
    return out


def coverage(
    dates: Sequence[dt.date],
    zone_labels: Sequence[str],
    fractions: np.ndarray,
    sufficient: np.ndarray,
    *,
    simulated: bool,
) -> InlineImage:
    """Observed fraction per zone (rows) and scene (columns); NaN = no count stored.

    Scenes whose observation was insufficient are crossed out, so a low fraction that was
    still used and one that was rejected read differently.
    """
    n_zones, n_scenes = fractions.shape
    # Fixed margins in inches (zone labels left, dates below), as in :func:`timeline`.
    height = 1.6 + 0.3 * n_zones
    fig = Figure(figsize=(10, height))
    fig.subplots_adjust(left=0.22, right=0.99, top=1 - 0.4 / height, bottom=1.15 / height)
    ax = fig.add_subplot()
    cmap = matplotlib.colormaps["viridis"].with_extremes(bad="#e0e0e0")
    mesh = ax.imshow(np.ma.masked_invalid(fractions), aspect="auto", cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
    rows, cols = np.nonzero(~sufficient & np.isfinite(fractions))
    ax.plot(cols, rows, linestyle="none", marker="x", color="#d62728", markersize=5)
    ax.set_yticks(range(n_zones), list(zone_labels), fontsize=8)
    step = max(1, n_scenes // 16)
    ax.set_xticks(
        range(0, n_scenes, step),
        [dates[i].isoformat() for i in range(0, n_scenes, step)],
        rotation=45,
        ha="right",
        fontsize=7,
    )
    fig.colorbar(mesh, ax=ax, label="observed fraction", pad=0.01, fraction=0.04)
    ax.set_xlabel("scene (in time order, not to scale)", fontsize=8)
    ax.set_title("observed fraction per zone and scene (grey: no count stored; x: insufficient)", fontsize=10)
    return _encode(fig, simulated=simulated)
