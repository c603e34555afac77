"""Figures are pure: data in, encoded image out, watermarked when simulated."""

from __future__ import annotations

import datetime as dt
import io

import numpy as np
from PIL import Image
from shapely.geometry import box

from sitewatch.model import Alert, Count, Event, PixelBox
from sitewatch.report import figures


def _count(day: int, raw: int, frac: float = 1.0) -> Count:
    d = dt.date(2024, 1, day)
    return Count("s", "z", "truck", d, f"sc{day}", raw, frac, raw / frac, raw, raw / frac + 2, frac >= 0.5)


def _png(img: figures.InlineImage) -> np.ndarray:
    assert img.mime == "image/png" and img.data.startswith(b"\x89PNG")
    return np.asarray(Image.open(io.BytesIO(img.data)).convert("RGB"))


def test_timeline_is_png_and_watermarked_only_when_simulated() -> None:
    panel = figures.TimelinePanel(
        "z",
        "Zone",
        tuple(_count(d, d % 4) for d in range(1, 20, 3)),
        baseline=figures.Band((dt.date(2024, 1, 1), dt.date(2024, 1, 20)), (0, 0), (1, 1), (3, 3)),
    )
    alert = Alert("a", "s", dt.date(2024, 1, 10), dt.date(2024, 1, 12), 3.0, "high", ("z",), ("truck",), "x")
    event = Event("e", dt.date(2024, 1, 15), "missile_test", "test")
    real = _png(figures.timeline("truck", [panel], [event], [alert], simulated=False))
    sim = _png(figures.timeline("truck", [panel], [event], [alert], simulated=True))
    assert real.shape == sim.shape
    red = np.array([214, 39, 40])
    assert (np.abs(sim.astype(int) - red).sum(axis=2) < 30).sum() > 50  # the red corner label
    assert (np.abs(real.astype(int) - red).sum(axis=2) < 30).sum() == 0


def test_timeline_copes_with_only_insufficient_or_no_panels() -> None:
    bad = figures.TimelinePanel("z", "Zone", (_count(1, 0, 0.1), _count(4, 1, 0.2)))
    _png(figures.timeline("truck", [bad], [], [], simulated=False))
    _png(figures.timeline("truck", [], [], [], simulated=False))


def test_site_map_is_jpeg_of_the_image_size_ratio() -> None:
    image = np.full((200, 400, 3), 90, np.uint8)
    out = figures.site_map(
        image,
        box(10, 10, 390, 190),
        [("Pad", "pad", box(20, 20, 100, 100))],
        [PixelBox(30, 30, 40, 35, "car", 0.9)],
        title="t",
        simulated=True,
    )
    assert out.mime == "image/jpeg"
    w, h = Image.open(io.BytesIO(out.data)).size
    assert w > h
    assert out.uri.startswith("data:image/jpeg;base64,")


def test_coverage_handles_unknown_cells() -> None:
    fr = np.array([[1.0, np.nan, 0.2], [0.9, 0.8, np.nan]])
    ok = np.array([[True, True, False], [True, True, True]])
    days = [dt.date(2024, 1, d) for d in (1, 2, 3)]
    _png(figures.coverage(days, ["a", "b"], fr, ok, simulated=False))


def test_class_colours_cover_every_class() -> None:
    from sitewatch.model import CLASSES

    assert set(figures.CLASS_COLOURS) == set(CLASSES)
    assert len(set(figures.CLASS_COLOURS.values())) == len(CLASSES)
    assert figures.class_rgb("car") == (0x1F, 0x77, 0xB4)


def test_event_labels_do_not_overprint() -> None:
    import matplotlib.dates as mdates
    from matplotlib.figure import Figure

    ax = Figure().add_subplot()
    ax.set_xlim(mdates.date2num(dt.date(2024, 1, 1)), mdates.date2num(dt.date(2024, 12, 31)))
    events = [Event(f"e{d}", dt.date(2024, 3, d), "missile_test", "t") for d in (1, 2, 3, 20)]
    assert [e.id for e in figures._spaced(events, ax)] == ["e1", "e20"]
