"""iCalendar export: structure, escaping and line folding per RFC 5545."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sitewatch.planning.ics import passes_to_ics, write_ics
from sitewatch.planning.passes import Pass

T = dt.datetime(2026, 5, 30, 2, 21, 54, tzinfo=dt.UTC)


def _pass(feasible: bool = True, **kw: object) -> Pass:
    base = dict(
        satellite="WORLDVIEW-3 (WV-3)",
        sensor="WorldView-3",
        norad_id=40115,
        rise=T - dt.timedelta(minutes=3),
        time=T,
        set=T + dt.timedelta(minutes=3),
        elevation=69.3,
        azimuth=102.1,
        off_nadir=18.4,
        sun_elevation=65.8,
        gsd=0.35,
        feasible=feasible,
        reason="" if feasible else "sun < 15°",
        tle_age_days=0.5,
    )
    return Pass(**{**base, **kw})  # type: ignore[arg-type]


def _unfold(text: str) -> list[str]:
    return text.replace("\r\n ", "").split("\r\n")


def test_calendar_structure_and_escaping() -> None:
    now = dt.datetime(2026, 5, 29, tzinfo=dt.UTC)
    text = passes_to_ics([_pass(), _pass(False, norad_id=1, time=T + dt.timedelta(hours=12))], "Sohae; pad, A", now=now)
    assert text.endswith("\r\n") and "\n" not in text.replace("\r\n", "")
    lines = _unfold(text)
    assert lines[0] == "BEGIN:VCALENDAR" and lines[-2] == "END:VCALENDAR"
    assert lines.count("BEGIN:VEVENT") == 2 == lines.count("END:VEVENT")
    assert "DTSTART:20260530T021854Z" in lines and "DTEND:20260530T022454Z" in lines
    assert "UID:40115-20260530T022154Z@sitewatch" in lines and "DTSTAMP:20260529T000000Z" in lines
    summary = next(ln for ln in lines if ln.startswith("SUMMARY:WORLDVIEW"))
    assert "Sohae\\; pad\\, A" in summary
    assert any("not feasible: sun < 15°" in ln for ln in lines)
    assert any(ln.startswith("DESCRIPTION:") and "\\n" in ln for ln in lines)


def test_lines_are_folded_to_75_octets(tmp_path: Path) -> None:
    path = write_ics([_pass()], "a site with a very long name " * 6 + "°°°", tmp_path / "p.ics")
    raw = path.read_bytes()
    physical = raw.split(b"\r\n")
    assert max(len(line) for line in physical) <= 75
    assert any(line.startswith(b" ") for line in physical)  # something was folded
    raw.decode("utf-8")  # no multi-byte character was split
