"""Event catalogues: importers for the reference formats and the simulator, and site matching.

Formats (``detect_format`` guesses from the name and header):

- ``nk-missile-tests``: nagix ``test.en.json`` with ``facility.en.json`` beside it. Dates
  are UTC (e.g. 2023-05-30 21:28 UTC, 31 May in Korea).
- ``cns``: the CNS missile test CSV (cp1252, ``D-Mon-YY`` dates). Dates are UTC, like the
  nagix file derived from it (2023-04-12 22:22 UTC, 13 April in Korea); 8 rows of 1984
  give only the month and are dated to its first day with a note.
- ``provocations``: the CSIS provocations CSV. Its dates mix conventions (2023-08-23 is
  the UTC date of a launch at 03:50 KST on the 24th, 2023-04-13 the KST date of a
  22:22 UTC launch on the 12th), so they are kept as given: compare with ±1 day.
  It names no facility, so its events stay unmatched to sites.
- ``sim``: a simulation's ``truth/events.csv`` (already tied to site ids; SIMULATED).
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import pandas as pd
import shapely
from pyproj import Geod
from shapely.ops import nearest_points

from sitewatch.errors import CatalogueError
from sitewatch.model import Event, Site

FORMATS: tuple[str, ...] = ("nk-missile-tests", "cns", "provocations", "sim")
SLV_MISSILES = frozenset({"taepodong-1", "unha", "unha-2", "unha-3", "chollima-1"})
_GEOD = Geod(ellps="WGS84")


@dataclass(frozen=True)
class EventImport:
    """Events with the sites they were mapped to, and the facilities no site matched."""

    events: list[Event]
    unmatched: dict[str, int] = field(default_factory=dict)

    @property
    def matched(self) -> int:
        return sum(1 for e in self.events if e.site_id is not None)


def _kind_from_missile(missile: str, missile_type: str = "") -> str:
    if missile.strip().lower() in SLV_MISSILES or missile_type.strip().upper() == "SLV":
        return "satellite_launch"
    return "missile_test"


def read_nk_missile_tests(path: str | Path, facilities: str | Path | None = None) -> list[Event]:
    """nagix ``test.en.json`` (+ ``facility.en.json``, by default in the same folder)."""
    p = Path(path)
    fp = Path(facilities) if facilities else p.with_name("facility.en.json")
    try:
        bins = json.loads(p.read_text(encoding="utf-8"))["timeBins"]
        fac = json.loads(fp.read_text(encoding="utf-8"))["facilities"] if fp.is_file() else {}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CatalogueError(f"not a nk-missile-tests file ({exc})", path=p, fix="give data/test.en.json") from exc
    events: list[Event] = []
    for b in bins:
        for i, r in enumerate(b.get("data", [])):
            key = str(r.get("facility", ""))
            # "unknown" borrows Pyongyang's coordinates upstream: it has no location of its own.
            f = fac.get(key, {}) if key != "unknown" else {}
            text = str(r.get("date", ""))
            try:  # a few 1984 records give only the month
                date, note = (
                    (dt.date.fromisoformat(text), "")
                    if len(text) > 7
                    else (dt.date.fromisoformat(f"{text}-01"), "date known to the month only; ")
                )
            except ValueError as exc:
                raise CatalogueError(f"bad date {text!r} in {b.get('year')}", path=p, fix="use YYYY-MM-DD") from exc
            events.append(
                Event(
                    id=f"nkmt-{date.isoformat()}-{i}",
                    date=date,
                    kind=_kind_from_missile(str(r.get("missile", ""))),
                    source="nk-missile-tests",
                    facility=f.get("name", key) or None,
                    lat=f.get("lat"),
                    lon=f.get("lon"),
                    description=(
                        f"{note}{r.get('missile', 'unknown')} ({r.get('outcome', 'unknown')}), "
                        f"time {r.get('time', 'unknown')}"
                    ),
                )
            )
    return events


def _cns_date(text: str) -> tuple[dt.date, bool]:
    """``D-Mon-YY`` or month-only ``Mon-YY``; two-digit years ≥ 50 are 19xx (the table starts in 1984)."""
    for fmt, exact in (("%d-%b-%y", True), ("%b-%y", False)):
        try:
            d = dt.datetime.strptime(text.strip(), fmt).date()
        except ValueError:
            continue
        if d.year > 2049:
            d = d.replace(year=d.year - 100)
        return d, exact
    raise ValueError(text)


def _float_or_none(text: str | None) -> float | None:
    try:
        return float(text) if text else None
    except ValueError:  # "Unknown"
        return None


def read_cns(path: str | Path) -> list[Event]:
    """The CNS North Korea missile test database CSV (Windows-1252)."""
    p = Path(path)
    try:
        with p.open(encoding="cp1252", newline="") as fh:
            rows = list(csv.DictReader(fh))
    except (OSError, UnicodeDecodeError) as exc:
        raise CatalogueError(
            f"cannot read the CNS CSV ({exc})", path=p, fix="give the file as published (cp1252)"
        ) from exc
    events = []
    for r in rows:
        try:
            date, exact = _cns_date(r["Date"])
        except (KeyError, ValueError) as exc:
            raise CatalogueError(
                f"row F1={r.get('F1')}: bad date {r.get('Date')!r}", path=p, fix="use D-Mon-YY"
            ) from exc
        if not r.get("F1"):
            raise CatalogueError(f"row dated {r['Date']!r} has no F1 id", path=p, fix="give the file as published")
        lat, lon = _float_or_none(r.get("Facility Latitude")), _float_or_none(r.get("Facility Longitude"))
        note = "" if exact else "date known to the month only; "
        events.append(
            Event(
                id=f"cns-{r['F1']}",
                date=date,
                kind=_kind_from_missile(r.get("Missile Name") or "", r.get("Missile Type") or ""),
                source="cns",
                facility=r.get("Facility Name") or None,
                lat=lat,
                lon=lon,
                description=(
                    f"{note}{r.get('Missile Name') or ''} {r.get('Missile Type') or ''}, {r.get('Test Outcome')}"
                ),
            )
        )
    return events


def _provocation_kind(event: str, type_: str) -> str:
    e = event.lower()
    if "satellite" in e:
        return "satellite_launch"
    if "engine" in e:
        return "engine_test"
    if "nuclear test" in e:
        return "nuclear_test"
    return "missile_test" if type_.startswith("Missile") else "provocation"


def read_provocations(path: str | Path) -> list[Event]:
    """The CSIS provocations CSV (stiles/north-korea-provocations, processed)."""
    p = Path(path)
    try:
        df = pd.read_csv(p, dtype=str, keep_default_na=False)
        missing = {"date", "event", "type", "description"} - set(df.columns)
        if missing:
            raise KeyError(f"missing columns {sorted(missing)}")
        dates = pd.to_datetime(df["date"], format="%Y-%m-%d")
    except (OSError, KeyError, ValueError) as exc:
        raise CatalogueError(
            f"not a provocations CSV ({exc})", path=p, fix="give the processed CSV with a 'date' column"
        ) from exc
    seq = df.groupby("date").cumcount()
    return [
        Event(
            id=f"csis-{d.date().isoformat()}-{n}",
            date=d.date(),
            kind=_provocation_kind(ev, ty),
            source="provocations",
            description=f"{ev}: {desc[:300]}",
        )
        for d, n, ev, ty, desc in zip(dates, seq, df["event"], df["type"], df["description"], strict=True)
    ]


def read_sim_events(path: str | Path) -> list[Event]:
    """A simulation's ``truth/events.csv`` (``event_id,site_id,date,kind,description``)."""
    p = Path(path)
    try:
        df = pd.read_csv(p, dtype=str, keep_default_na=False)
        return [
            Event(
                id=r.event_id,
                date=dt.date.fromisoformat(r.date),
                kind=r.kind,
                source="sim",
                site_id=r.site_id or None,
                description=r.description if r.description.startswith("SIMULATED") else f"SIMULATED {r.description}",
                simulated=True,
            )
            for r in df.itertuples()
        ]
    except (OSError, AttributeError, ValueError) as exc:
        raise CatalogueError(f"not a simulation events.csv ({exc})", path=p, fix="give OUT/truth/events.csv") from exc


def detect_format(path: str | Path) -> str:
    """Guess the catalogue format from the file name and first line."""
    p = Path(path)
    if not p.is_file():
        raise CatalogueError("file not found", path=p, fix="give an events file (see `sitewatch events import --help`)")
    head = p.read_bytes()[:400].decode("cp1252", errors="replace")
    if p.suffix.lower() == ".json" and "timeBins" in head:
        return "nk-missile-tests"
    if head.startswith("F1,Date"):
        return "cns"
    if head.startswith("date,type,event"):
        return "provocations"
    if head.startswith("event_id,site_id,date"):
        return "sim"
    raise CatalogueError("unknown event catalogue format", path=p, fix=f"pass --format (one of {', '.join(FORMATS)})")


def read_events(path: str | Path, fmt: str | None = None) -> list[Event]:
    fmt = fmt or detect_format(path)
    readers = {
        "nk-missile-tests": read_nk_missile_tests,
        "cns": read_cns,
        "provocations": read_provocations,
        "sim": read_sim_events,
    }
    if fmt not in readers:
        raise CatalogueError(f"unknown format {fmt!r}", path=path, fix=f"use one of {', '.join(FORMATS)}")
    return readers[fmt](path)


def _norm(name: str) -> str:
    words = re.sub(r"[^a-z0-9 ]", " ", name.lower()).split()
    return " ".join(w for w in words if w not in {"the", "of"})


def distance_km(site: Site, lat: float, lon: float) -> float:
    """Ground distance from (lat, lon) to the nearest point of the site's AOI (0 inside)."""
    p = shapely.Point(lon, lat)
    if site.aoi.covers(p):
        return 0.0
    near = nearest_points(site.aoi, p)[0]
    return float(_GEOD.inv(lon, lat, near.x, near.y)[2]) / 1000.0


def match_sites(events: Iterable[Event], sites: Sequence[Site], *, max_km: float = 5.0) -> EventImport:
    """Tie events to sites by facility name, else by distance to the AOI (≤ ``max_km``).

    Events that already name a site keep it. Facilities that match no site are counted in
    ``unmatched`` (name → events), never dropped silently.
    """
    names = {_norm(s.name): s.id for s in sites} | {_norm(s.id): s.id for s in sites}
    out: list[Event] = []
    missing: Counter[str] = Counter()
    for e in events:
        site_id = e.site_id
        if site_id is None and e.facility:
            key = _norm(e.facility)
            site_id = names.get(key) or next((sid for n, sid in names.items() if key and (key in n or n in key)), None)
        if site_id is None and e.lat is not None and e.lon is not None and sites:
            best = min(sites, key=lambda s: distance_km(s, float(e.lat), float(e.lon)))  # type: ignore[arg-type]
            if distance_km(best, float(e.lat), float(e.lon)) <= max_km:
                site_id = best.id
        if site_id is None:
            missing[e.facility or f"(no facility: {e.source})"] += 1
        out.append(replace(e, site_id=site_id) if site_id != e.site_id else e)
    return EventImport(out, dict(missing.most_common()))
