"""iCalendar (RFC 5545) export of predicted passes, one VEVENT per pass."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path

from sitewatch.planning.passes import Pass

_PRODID = "-//sitewatch//passes//EN"


def _stamp(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")


def _text(value: str) -> str:
    """Escape a TEXT value (RFC 5545 §3.3.11)."""
    return value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


def _fold(line: str) -> str:
    """Fold a content line at 75 octets without splitting a UTF-8 character (§3.1)."""
    out: list[str] = []
    chunk, size, limit = "", 0, 75
    for ch in line:
        n = len(ch.encode("utf-8"))
        if size + n > limit:
            out.append(chunk)
            chunk, size, limit = " ", 1, 75  # continuation lines start with one space
        chunk += ch
        size += n
    out.append(chunk)
    return "\r\n".join(out)


def _event(p: Pass, label: str, stamp: str) -> list[str]:
    status = "feasible" if p.feasible else f"not feasible: {p.reason}"
    description = (
        f"{p.satellite} ({p.sensor}) over {label}\n"
        f"closest approach {p.time:%Y-%m-%d %H:%M:%S} UTC\n"
        f"off-nadir {p.off_nadir:.1f}°, elevation {p.elevation:.1f}°, azimuth {p.azimuth:.0f}°\n"
        f"sun elevation {p.sun_elevation:.1f}°, GSD ~{p.gsd:.2f} m\n"
        f"{status}; TLE age {p.tle_age_days:.1f} days"
    )
    return [
        "BEGIN:VEVENT",
        f"UID:{p.norad_id}-{_stamp(p.time)}@sitewatch",
        f"DTSTAMP:{stamp}",
        f"DTSTART:{_stamp(p.rise)}",
        f"DTEND:{_stamp(max(p.set, p.rise + dt.timedelta(seconds=1)))}",
        f"SUMMARY:{_text(f'{p.satellite} over {label} ({p.off_nadir:.0f}° off-nadir, {status})')}",
        f"DESCRIPTION:{_text(description)}",
        f"CATEGORIES:{'FEASIBLE' if p.feasible else 'NOT FEASIBLE'}",
        "TRANSP:TRANSPARENT",
        "END:VEVENT",
    ]


def passes_to_ics(passes: Sequence[Pass], label: str, *, now: dt.datetime | None = None) -> str:
    """An iCalendar document (CRLF line ends, folded) with one event per pass over ``label``."""
    stamp = _stamp(now or dt.datetime.now(dt.UTC))
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", f"PRODID:{_PRODID}", "CALSCALE:GREGORIAN", "METHOD:PUBLISH"]
    lines.append(f"X-WR-CALNAME:{_text(f'Satellite passes over {label}')}")
    for p in passes:
        lines.extend(_event(p, label, stamp))
    lines.append("END:VCALENDAR")
    return "".join(_fold(line) + "\r\n" for line in lines)


def write_ics(passes: Sequence[Pass], label: str, path: str | Path) -> Path:
    """Write :func:`passes_to_ics` to ``path`` (bytes, so the CRLF line ends survive)."""
    out = Path(path)
    out.write_bytes(passes_to_ics(passes, label).encode("utf-8"))
    return out
