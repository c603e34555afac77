"""The before/after change section of each alert in the HTML report."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from sitewatch.report.html import MAX_CHANGE_ALERTS, write_report

from .conftest import ALERT, DATES, FakeStore, build_site


def _report(store: FakeStore, tmp_path: Path) -> str:
    return write_report(store, "test-site", tmp_path / "site.html").read_text(encoding="utf-8")


def _section(html: str, alert_id: str) -> str:
    start = html.index(f'id="change-{alert_id}"')
    return html[start : html.index("</div>", start)]


def test_alert_gets_a_change_figure_and_summary(tmp_path: Path) -> None:
    store = build_site(tmp_path, simulated=True, textured=True)
    section = _section(_report(store, tmp_path), "alert-1")
    assert "SIMULATED" in section
    imgs = re.findall(r'<img src="([^"]+)"', section)
    assert len(imgs) == 1 and imgs[0].startswith("data:image/jpeg;base64,")
    # The last usable scene before the alert against the first one in it.
    assert f"scene-{ALERT - 1}" in section and f"scene-{ALERT}" in section
    summary = re.search(r'<p class="change-summary">(.*?)</p>', section, re.S)
    assert summary is not None
    # Trucks in the car park rise from 2 to 6 at the alert; one of the 3 pad cars is gone.
    assert "appeared: 4 truck" in summary.group(1) and "departed: 1 car" in summary.group(1)
    assert "m²" in summary.group(1) and "structures:" in summary.group(1)
    assert "Comparison not possible" not in section


def test_real_change_section_never_says_simulated(tmp_path: Path) -> None:
    html = _report(build_site(tmp_path, simulated=False, textured=True), tmp_path)
    assert 'class="change-summary"' in _section(html, "alert-1")
    assert "SIMULATED" not in html


def test_impossible_comparison_is_one_line_and_the_report_still_renders(tmp_path: Path) -> None:
    store = build_site(tmp_path, simulated=True, textured=True)
    first = store.alerts["test-site"][0]
    early = dataclasses.replace(first, id="alert-early", start=DATES[0], end=DATES[0])
    store.replace_alerts("test-site", [first, early])
    html = write_report(store, "test-site", tmp_path / "site.html", change_alerts=2).read_text(encoding="utf-8")
    section = _section(html, "alert-early")
    lines = re.findall(r'<p class="change-impossible">(.*?)</p>', section, re.S)
    assert len(lines) == 1 and "\n" not in lines[0]
    assert f"no scene before {DATES[0].isoformat()}" in lines[0]
    assert "<img" not in section
    assert 'class="change-summary"' in _section(html, "alert-1")  # the other alert is unaffected


def test_noise_scenes_say_why_they_cannot_be_compared(sim_report) -> None:  # type: ignore[no-untyped-def]
    # The shared fixture's scenes are independent noise: co-registration must refuse them.
    section = _section(sim_report[1], "alert-1")
    assert "Comparison not possible" in section and "co-registered" in section


def test_only_the_strongest_alerts_are_compared_and_the_report_says_so(tmp_path: Path) -> None:
    store = build_site(tmp_path, simulated=True, textured=True)
    first = store.alerts["test-site"][0]
    alerts = [dataclasses.replace(first, id=f"alert-{k}", score=float(k)) for k in range(MAX_CHANGE_ALERTS + 2)]
    store.replace_alerts("test-site", alerts)
    html = _report(store, tmp_path)
    strongest = {a.id for a in alerts[-MAX_CHANGE_ALERTS:]}
    for a in alerts:
        section = _section(html, a.id)
        assert ('class="change-summary"' in section) == (a.id in strongest), a.id
        assert ("Not compared" in section) == (a.id not in strongest), a.id
    assert "The strongest alert also" in html if MAX_CHANGE_ALERTS == 1 else f"{MAX_CHANGE_ALERTS} strongest" in html


def test_more_alerts_are_compared_when_asked(tmp_path: Path) -> None:
    store = build_site(tmp_path, simulated=True, textured=True)
    first = store.alerts["test-site"][0]
    store.replace_alerts("test-site", [dataclasses.replace(first, id=f"alert-{k}", score=float(k)) for k in range(3)])
    html = write_report(store, "test-site", tmp_path / "site.html", change_alerts=2).read_text(encoding="utf-8")
    compared = [k for k in range(3) if 'class="change-summary"' in _section(html, f"alert-{k}")]
    assert compared == [1, 2]
    assert "The 2 strongest alerts also get" in html
