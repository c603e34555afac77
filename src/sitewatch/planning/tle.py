"""Two-line element sets: strict parsing, satellite selection and age checks.

A TLE is only good for a few days either side of its epoch (SGP4 errors grow by km per
day), so every prediction carries the age of the elements it used.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path

from sgp4.api import Satrec
from sgp4.conveniences import sat_epoch_datetime

from sitewatch.config import shared_dir
from sitewatch.errors import PlanningError
from sitewatch.planning.sensors import SENSORS, SensorFacts, sensor_for

#: Elements older (or newer) than this relative to a prediction get a warning.
WARN_AGE = dt.timedelta(days=3)
#: Beyond this a prediction is refused unless the caller accepts stale elements.
MAX_AGE = dt.timedelta(days=30)

_FRESH_TLE_FIX = "use recent elements (e.g. CelesTrak GROUP=resource) with --tle FILE"


@dataclass(frozen=True)
class Tle:
    """One element set as published (name line, line 1, line 2)."""

    name: str
    line1: str
    line2: str
    norad_id: int
    epoch: dt.datetime


@dataclass(frozen=True)
class Satellite:
    """An element set paired with the facts of the sensor it carries."""

    tle: Tle
    sensor: SensorFacts

    @property
    def name(self) -> str:
        return self.tle.name


def default_tle_path() -> Path:
    """The shared TLE file (``$SITEWATCH_SHARED/data/reference/tle/resource.tle``)."""
    return shared_dir() / "data" / "reference" / "tle" / "resource.tle"


def _checksum_ok(line: str) -> bool:
    digits = sum(int(c) for c in line[:68] if c.isdigit()) + line[:68].count("-")
    return line[68].isdigit() and digits % 10 == int(line[68])


def _check_line(line: str, number: str, where: str, path: str | None) -> None:
    if len(line) != 69 or not line.startswith(f"{number} "):
        raise PlanningError(
            f"{where}: expected TLE line {number} (69 characters starting '{number} '), got {line[:30]!r}",
            path=path,
            fix="give a file of 2- or 3-line element sets as published by CelesTrak or Space-Track",
        )
    if not _checksum_ok(line):
        raise PlanningError(f"{where}: checksum of line {number} is wrong", path=path, fix="re-download the file")


def parse_tle(text: str, *, path: str | Path | None = None) -> list[Tle]:
    """Parse 2-line or 3-line element sets; any malformed set raises :class:`PlanningError`."""
    where_path = str(path) if path is not None else None
    lines = [ln.rstrip() for ln in text.splitlines()]
    numbered = [(i + 1, ln) for i, ln in enumerate(lines) if ln.strip()]
    sets: list[Tle] = []
    i = 0
    while i < len(numbered):
        lineno, first = numbered[i]
        name = ""
        if not first.startswith("1 "):
            name, i = first.strip().removeprefix("0 "), i + 1
        if i + 1 >= len(numbered):
            raise PlanningError(
                f"line {lineno}: element set {name or '?'} is incomplete",
                path=where_path,
                fix="check the file is whole",
            )
        (n1, l1), (n2, l2) = numbered[i], numbered[i + 1]
        _check_line(l1, "1", f"line {n1}", where_path)
        _check_line(l2, "2", f"line {n2}", where_path)
        if l1[2:7] != l2[2:7]:
            raise PlanningError(
                f"line {n2}: catalogue numbers of lines 1 and 2 differ ({l1[2:7]} vs {l2[2:7]})",
                path=where_path,
                fix="lines of different satellites are mixed; re-download the file",
            )
        try:
            sat = Satrec.twoline2rv(l1, l2)
        except ValueError as exc:
            raise PlanningError(
                f"line {n1}: unreadable elements ({exc})", path=where_path, fix="re-download the file"
            ) from None
        epoch = sat_epoch_datetime(sat).astimezone(dt.UTC)
        sets.append(Tle(name or f"NORAD {sat.satnum}", l1, l2, int(sat.satnum), epoch))
        i += 2
    if not sets:
        raise PlanningError("no element sets found", path=where_path, fix="give a TLE file (name, line 1, line 2)")
    return sets


def read_tle(path: str | Path | None = None) -> list[Tle]:
    """Read a TLE file (default: :func:`default_tle_path`)."""
    p = Path(path) if path is not None else default_tle_path()
    try:
        text = p.read_text(encoding="ascii")
    except FileNotFoundError:
        raise PlanningError("TLE file not found", path=p, fix="pass --tle FILE or set SITEWATCH_SHARED") from None
    except UnicodeDecodeError:
        raise PlanningError("not an ASCII TLE file", path=p, fix="give a text file of element sets") from None
    return parse_tle(text, path=p)


def _wanted(name: str, sat: Satellite) -> bool:
    key = name.strip().upper()
    candidates = (sat.sensor.name.upper(), sat.tle.name.upper(), str(sat.tle.norad_id))
    return any(fnmatchcase(c, key) for c in candidates) or sat.tle.name.upper().startswith(key + " (")


def select_satellites(tles: Iterable[Tle], names: Sequence[str] | None = None) -> list[Satellite]:
    """Satellites with known sensor facts, optionally only those named.

    A name may be a sensor ("WorldView-3", "SkySat"), a TLE name ("SKYSAT-C7"), a glob
    ("PLEIADES*") or a NORAD number. A name that matches nothing raises :class:`PlanningError`.
    """
    known: list[Satellite] = []
    for tle in tles:
        sensor = sensor_for(tle.name)
        if sensor is not None:
            known.append(Satellite(tle, sensor))
    if not names:
        return known
    chosen: dict[int, Satellite] = {}
    for name in names:
        hits = [s for s in known if _wanted(name, s)]
        if not hits:
            raise PlanningError(
                f"unknown satellite {name!r} (not in the TLE file or no sensor facts for it)",
                fix=f"use a sensor name ({', '.join(s.name for s in SENSORS)}), a TLE name or a NORAD number",
            )
        chosen.update((s.tle.norad_id, s) for s in hits)
    return list(chosen.values())


def tle_age(tle: Tle, start: dt.datetime, end: dt.datetime) -> dt.timedelta:
    """Largest distance between the epoch and any time in ``[start, end]``."""
    return max(abs(start - tle.epoch), abs(end - tle.epoch))


def check_ages(
    satellites: Sequence[Satellite], start: dt.datetime, end: dt.datetime, *, allow_stale: bool = False
) -> list[str]:
    """A warning if elements are more than :data:`WARN_AGE` from the range; too old raises unless allowed."""
    aged = [(tle_age(s.tle, start, end), s) for s in satellites]
    aged = [(age, s) for age, s in aged if age > WARN_AGE]
    if not aged:
        return []
    oldest, sat = max(aged, key=lambda a: a[0])
    if oldest > MAX_AGE and not allow_stale:
        raise PlanningError(
            f"TLE of {sat.name} (epoch {sat.tle.epoch:%Y-%m-%d %H:%M}Z) is {oldest.days} days from the requested "
            "range; SGP4 predictions that far from the epoch are wrong by hundreds of km",
            fix=f"{_FRESH_TLE_FIX}, or pass --allow-stale to predict anyway",
        )
    days = sorted(age.total_seconds() / 86400 for age, _ in aged)
    names = ", ".join(s.name for _, s in aged[:3]) + (f" and {len(aged) - 3} more" if len(aged) > 3 else "")
    lo, hi = f"{days[0]:.1f}", f"{days[-1]:.1f}"
    spread = lo if lo == hi else f"{lo}-{hi}"
    return [f"TLEs of {names} are {spread} days from the requested times: pass times may be off by minutes or more"]
