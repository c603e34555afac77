"""The HTML report: banner, alerts, provenance, coverage, self-containment."""

from __future__ import annotations

import dataclasses
import itertools
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from sitewatch.errors import NotFoundError
from sitewatch.model import Alert, Hypothesis
from sitewatch.report.html import write_report
from sitewatch.store.base import Store


class _Tags(HTMLParser):
    """Collects start tags with their attributes, and table rows per table id."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.rows: dict[str, int] = {}
        self._table: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.tags.append((tag, a))
        if tag == "table":
            self._table = a.get("id")
        elif tag == "tr" and self._table:
            self.rows[self._table] = self.rows.get(self._table, 0) + 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self._table = None


def _parse(html: str) -> _Tags:
    p = _Tags()
    p.feed(html)
    return p


def _report(store: Store, tmp_path: Path) -> str:
    return write_report(store, "test-site", tmp_path / "out" / "site.html").read_text(encoding="utf-8")


def test_simulated_report_has_banner_and_watermarked_title(sim_report) -> None:
    html = sim_report[1]
    assert 'id="simulated-banner"' in html
    assert "<title>SIMULATED" in html


def test_real_report_never_says_simulated(real_store, tmp_path: Path) -> None:
    html = _report(real_store, tmp_path)
    assert "SIMULATED" not in html and "simulated-banner" not in html


def test_one_simulated_scene_is_enough_for_the_banner(real_store, tmp_path: Path) -> None:
    scene = real_store.scenes["scene-0"]
    real_store.scenes["scene-0"] = dataclasses.replace(scene, simulated=True)
    assert 'id="simulated-banner"' in _report(real_store, tmp_path)


def test_every_image_is_inline_and_nothing_points_to_the_network(sim_report) -> None:
    html = sim_report[1]
    tags = _parse(html).tags
    imgs = [a for t, a in tags if t == "img"]
    # map + 2 class timelines + coverage + before/after of the one alert zone
    assert len(imgs) >= 6
    assert all((a.get("src") or "").startswith("data:image/") for a in imgs)
    for _, attrs in tags:
        for key in ("src", "href"):
            assert not re.match(r"\s*(https?:)?//", attrs.get(key) or ""), attrs
    assert "<script" not in html.lower() and "<link" not in html.lower()
    assert not re.search(r"url\(\s*['\"]?(https?:)?//", html)


def test_every_alert_has_its_section(sim_store, tmp_path: Path) -> None:
    first = sim_store.alerts["test-site"][0]
    second = Alert(
        "alert-2",
        "test-site",
        first.start,
        first.end,
        2.5,
        "low",
        ("pad",),
        ("car",),
        "Cars on the pad rose slightly.",
        hypotheses=(Hypothesis("visitors", 0.4, "weekend"),),
        caveats=("Only one scene in the window.",),
    )
    sim_store.replace_alerts("test-site", [first, second])
    html = _report(sim_store, tmp_path)
    for alert in (first, second):
        start = html.index(f'id="alert-{alert.id}"')
        section = html[start : html.index("</div>\n", html.index('class="pair"', start))]
        assert alert.explanation in section
        assert f"score {alert.score:.2f}" in section
        for h in alert.hypotheses:
            assert h.name in section and f"{100 * h.confidence:.0f}%" in section
        for c in alert.caveats:
            assert c in section
        pair = _parse(section[section.index('class="pair"') :]).tags
        assert sum(t == "img" for t, _ in pair) == 2, "before/after pair"


def test_alert_chips_quote_the_stored_counts(sim_report) -> None:
    sim_store, html = sim_report
    alert = sim_store.alerts["test-site"][0]
    stored = next(
        c
        for c in sim_store.counts["test-site"]
        if c.date == alert.start and c.zone_id == "car_park" and c.cls == "truck"
    )
    assert f"truck: raw {stored.raw}, estimate {stored.estimate:.1f}" in html


def test_provenance_lists_every_scene_run_and_detector(sim_report) -> None:
    sim_store, html = sim_report
    rows = _parse(html).rows
    assert rows["provenance-scenes"] == len(sim_store.scenes) + 1  # + header
    assert rows["provenance-runs"] == len(sim_store.runs) + 1
    for scene in sim_store.scenes.values():
        assert scene.content_hash[:12] in html and scene.uri in html
    assert "fake@1" in html
    assert "unfinished" in html  # the detect run has no end time


def test_insufficient_coverage_is_flagged_not_zero(sim_report) -> None:
    sim_store, html = sim_report
    bad = [c for c in sim_store.counts["test-site"] if not c.sufficient]
    assert len(bad) == 1
    assert html.count('class="num bad"') == len(bad)
    assert f"{len(bad)} observation(s) with insufficient coverage" in html


def test_map_draws_the_detections_of_the_latest_clear_scene(sim_report) -> None:
    sim_store, html = sim_report
    latest = max(sim_store.scenes.values(), key=lambda s: s.acquired)
    n = len(sim_store.list_detections(scene_id=latest.id))
    assert f"Latest clear scene: {latest.acquired:%Y-%m-%d}" in html
    assert f"{n} detections shown" in html


def test_missing_image_degrades_to_a_note(sim_store, tmp_path: Path) -> None:
    latest = max(sim_store.scenes.values(), key=lambda s: s.acquired)
    Path(latest.uri).unlink()
    html = _report(sim_store, tmp_path)
    assert "Image unavailable" in html and "file not found" in html


def test_unknown_site_is_not_found(sim_store, tmp_path: Path) -> None:
    with pytest.raises(NotFoundError):
        write_report(sim_store, "nowhere", tmp_path / "x.html")


def test_report_stays_small(sim_report) -> None:
    assert len(sim_report[1].encode()) < 10_000_000


def test_coverage_gaps_are_stated(sim_report) -> None:
    sim_store, html = sim_report
    scenes = sorted(sim_store.scenes.values(), key=lambda s: s.acquired)
    longest = max(itertools.pairwise(scenes), key=lambda ab: ab[1].acquired - ab[0].acquired)
    a, b = (f"{s.acquired:%Y-%m-%d %H:%M} UTC" for s in longest)
    assert f"between {a} and {b}" in html
    assert html.count("could have happened unseen") == 1  # the 5-day revisits are not gaps


def test_series_never_detected_are_named_not_drawn(sim_store, tmp_path: Path) -> None:
    counts = sim_store.counts["test-site"]
    zeros = [dataclasses.replace(c, cls="bus", raw=0, estimate=0.0, lo=0.0, hi=3.0) for c in counts]
    sim_store.replace_counts("test-site", counts + zeros)
    html = _report(sim_store, tmp_path)
    assert "bus (every zone)" in html
    assert re.findall(r"<figcaption>(\w+): \d+ zone", html) == ["car", "truck"]


def test_a_site_with_nothing_stored_still_renders(sim_store, tmp_path: Path) -> None:
    empty = type(sim_store)()  # a fresh, empty FakeStore
    empty.upsert_site(sim_store.get_site("test-site"))
    html = _report(empty, tmp_path)
    assert "no stored scene covers the site" in html
    assert "run <code>sitewatch analyze</code>" in html and "No alerts are stored" in html
    assert "<img" not in html
    assert "nothing is known about its activity" in html and "days or more without" not in html
