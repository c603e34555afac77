"""The activity process: events, episodes and the vehicles present each day.

Each (zone, class) has a baseline with weekday and seasonal cycles, a shared AR(1) site
mood and negative-binomial noise. Episodes change it: ramps of several shapes before
scheduled events, quiet periods, a construction job (a crane that stays for weeks) and a
deception episode (identical static decoys on the pad, marked as such, or work done only
on days when no satellite passes). Vehicles persist
in parking slots from day to day with arrivals and departures, so object-level change
between two dates is real truth. All functions are pure given the ``Generator``.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from sitewatch.simulate.chips import CLASS_SIZE
from sitewatch.simulate.layout import SiteLayout, Slot

#: Mean count per (zone kind, class) on an ordinary weekday.
BASELINE: dict[str, dict[str, float]] = {
    "car_park": {"car": 22.0, "bus": 1.2, "truck": 1.2, "other_vehicle": 1.5},
    "assembly_hall": {"truck": 4.0, "car": 6.0, "other_vehicle": 1.5, "bus": 0.5},
    "pad": {"truck": 1.0, "other_vehicle": 0.8},
    "rail_yard": {"rail_car": 6.0, "locomotive": 0.5},
    "road": {"car": 3.0, "truck": 2.0, "bus": 0.4, "tanker": 0.3},
    "storage": {"truck": 3.0, "tanker": 1.0, "other_vehicle": 1.0},
    "construction": {"construction_vehicle": 0.3},
}

#: Event kinds and, per zone kind and class, the ramp's (relative gain, added vehicles).
RAMP_IMPACT: dict[str, dict[tuple[str, str], tuple[float, float]]] = {
    "satellite_launch": {
        ("pad", "truck"): (1.0, 5.0),
        ("pad", "tanker"): (0.0, 3.0),
        ("pad", "crane"): (0.0, 1.0),
        ("pad", "other_vehicle"): (1.0, 3.0),
        ("assembly_hall", "truck"): (1.0, 3.0),
        ("assembly_hall", "car"): (0.8, 0.0),
        ("rail_yard", "rail_car"): (0.3, 4.0),
        ("car_park", "car"): (0.4, 0.0),
    },
    "missile_test": {
        ("assembly_hall", "truck"): (1.0, 5.0),
        ("assembly_hall", "car"): (0.8, 0.0),
        ("assembly_hall", "bus"): (0.0, 2.0),
        ("rail_yard", "rail_car"): (0.4, 5.0),
        ("rail_yard", "locomotive"): (0.0, 1.0),
        ("car_park", "car"): (0.5, 0.0),
        ("car_park", "bus"): (0.0, 2.0),
        ("storage", "tanker"): (0.0, 2.0),
    },
    "engine_test": {
        ("pad", "truck"): (1.0, 3.0),
        ("pad", "tanker"): (0.0, 3.0),
        ("pad", "other_vehicle"): (0.5, 2.0),
        ("car_park", "car"): (0.3, 0.0),
        ("storage", "tanker"): (0.0, 1.0),
    },
}
EVENT_KINDS_BY_SITE: dict[str, tuple[tuple[str, ...], tuple[float, ...]]] = {
    "launch_station": (("satellite_launch", "engine_test", "missile_test"), (0.45, 0.4, 0.15)),
    "research_centre": (("missile_test", "engine_test"), (0.8, 0.2)),
}
RAMP_SHAPES = ("linear", "step", "late_surge")
#: Deception episodes: identical static decoys, or activity only between satellite passes.
DECEPTIONS = ("static_decoys", "pass_timing")
#: Daily probability that a parked vehicle of a class leaves.
TURNOVER: dict[str, float] = {
    "car": 0.25,
    "truck": 0.35,
    "bus": 0.4,
    "tanker": 0.4,
    "rail_car": 0.15,
    "locomotive": 0.5,
    "crane": 0.03,
    "construction_vehicle": 0.1,
    "other_vehicle": 0.3,
}
NB_DISPERSION = 10.0


@dataclass(frozen=True)
class SimEvent:
    id: str
    site_id: str
    date: dt.date
    kind: str
    description: str


@dataclass(frozen=True)
class Episode:
    id: str
    site_id: str
    kind: str  # pre_event_ramp | construction | quiet | deception
    start: dt.date
    end: dt.date
    zones: tuple[str, ...]
    classes: tuple[str, ...]
    event_id: str | None = None
    shape: str = ""
    #: Per (zone_id, class): (relative gain, added vehicles) at full strength.
    impact: tuple[tuple[str, str, float, float], ...] = ()


@dataclass(frozen=True)
class Vehicle:
    """One physical vehicle at a fixed place; ``look`` picks its appearance."""

    id: str
    cls: str
    zone_id: str
    x: float
    y: float
    heading: float
    length: float
    width: float
    height: float
    look: int
    decoy: bool = False


@dataclass(frozen=True)
class SiteHistory:
    events: tuple[SimEvent, ...]
    episodes: tuple[Episode, ...]
    #: Vehicles present on each day (decoys included, flagged).
    days: dict[dt.date, tuple[Vehicle, ...]]


def _dates(start: dt.date, days: int) -> list[dt.date]:
    return [start + dt.timedelta(days=i) for i in range(days)]


def _ramp(shape: str, frac: np.ndarray) -> np.ndarray:
    """Ramp strength in [0, 1] at ``frac`` of the way from ramp start to the event."""
    if shape == "step":
        return (frac >= 0).astype(float)
    if shape == "late_surge":
        return np.clip(frac, 0, 1) ** 3
    return np.clip(frac, 0, 1)


def schedule_episodes(
    layout: SiteLayout, start: dt.date, days: int, rng: np.random.Generator, *, deception: str | None = None
) -> tuple[tuple[SimEvent, ...], tuple[Episode, ...]]:
    """Events (2-4 a year, at least one) with their ramps, plus quiet, construction and deception episodes."""
    site = layout.spec
    zones_by_kind: dict[str, list[str]] = defaultdict(list)
    for z in layout.zones:
        zones_by_kind[z.kind].append(z.id)
    end = start + dt.timedelta(days=days - 1)
    first = min(20, days // 2)
    n_events = max(1, round(days / 365 * rng.uniform(2, 4)))
    chosen: list[int] = []
    for _ in range(200):
        if len(chosen) == n_events:
            break
        d = int(rng.integers(first, max(first + 1, days - 2)))
        if all(abs(d - c) >= 30 for c in chosen):
            chosen.append(d)
    kinds, weights = EVENT_KINDS_BY_SITE[site.kind]
    events: list[SimEvent] = []
    episodes: list[Episode] = []
    for i, d in enumerate(sorted(chosen)):
        kind = str(rng.choice(kinds, p=weights))
        date = start + dt.timedelta(days=d)
        lead = min(int(rng.integers(5, 21)), d)
        shape = str(rng.choice(RAMP_SHAPES))
        ev = SimEvent(
            f"{site.id}-ev{i + 1}",
            site.id,
            date,
            kind,
            f"SIMULATED {kind.replace('_', ' ')} at {site.name}; {shape} ramp over {lead} days",
        )
        impact = tuple(
            (zid, cls, gain, add)
            for (zk, cls), (gain, add) in RAMP_IMPACT[kind].items()
            for zid in zones_by_kind.get(zk, [])
        )
        events.append(ev)
        episodes.append(
            Episode(
                f"{site.id}-ep{len(episodes) + 1}",
                site.id,
                "pre_event_ramp",
                date - dt.timedelta(days=lead),
                date,
                tuple(sorted({z for z, *_ in impact})),
                tuple(sorted({c for _, c, *_ in impact})),
                ev.id,
                shape,
                impact,
            )
        )

    def free_window(length: int) -> tuple[dt.date, dt.date] | None:
        busy = [(e.start, e.end + dt.timedelta(days=4)) for e in episodes if e.kind == "pre_event_ramp"]
        for _ in range(50):
            s = start + dt.timedelta(days=int(rng.integers(0, max(1, days - length))))
            e = min(s + dt.timedelta(days=length - 1), end)
            if all(e < b0 or s > b1 for b0, b1 in busy):
                return s, e
        return None

    all_zones = tuple(z.id for z in layout.zones)
    if days >= 60 and (w := free_window(int(rng.integers(7, 15)))):
        episodes.append(Episode(f"{site.id}-ep{len(episodes) + 1}", site.id, "quiet", *w, all_zones, ()))
    if days >= 21 and zones_by_kind["construction"]:
        length = min(int(rng.integers(21, 57)), days - 5)
        s = start + dt.timedelta(days=int(rng.integers(0, max(1, days - length))))
        zc = zones_by_kind["construction"][0]
        episodes.append(
            Episode(
                f"{site.id}-ep{len(episodes) + 1}",
                site.id,
                "construction",
                s,
                s + dt.timedelta(days=length - 1),
                (zc,),
                ("crane", "construction_vehicle", "truck"),
                None,
                "",
                ((zc, "construction_vehicle", 0.0, 2.5), (zc, "truck", 0.0, 1.0)),
            )
        )
    if deception is not None and zones_by_kind["pad"] and zones_by_kind["assembly_hall"]:
        if deception not in DECEPTIONS:
            raise ValueError(f"unknown deception {deception!r}; use one of {', '.join(DECEPTIONS)}")
        length = min(int(rng.integers(20, 41)), max(days - 2, 1))
        s = start + dt.timedelta(days=int(rng.integers(0, max(1, days - length))))
        classes: tuple[str, ...]
        extra: tuple[tuple[str, str, float, float], ...]
        if deception == "static_decoys":  # identical vehicles that never move, on the pad
            where, classes, extra = zones_by_kind["pad"][0], ("truck",), ()
        else:  # real work on the apron, but only on days no satellite is expected overhead
            where, classes = zones_by_kind["assembly_hall"][0], ("truck", "other_vehicle")
            extra = ((where, "truck", 0.0, 6.0), (where, "other_vehicle", 0.0, 3.0))
        episodes.append(
            Episode(
                f"{site.id}-ep{len(episodes) + 1}",
                site.id,
                "deception",
                s,
                s + dt.timedelta(days=length - 1),
                (where,),
                classes,
                None,
                deception,
                extra,
            )
        )
    return tuple(events), tuple(episodes)


def expected_counts(
    layout: SiteLayout,
    episodes: tuple[Episode, ...],
    start: dt.date,
    days: int,
    rng: np.random.Generator,
    *,
    pass_dates: frozenset[dt.date] = frozenset(),
) -> dict[tuple[str, str], np.ndarray]:
    """Mean number of (real) vehicles per (zone_id, class) for each day.

    ``pass_dates`` are the days a satellite images the site, which a ``pass_timing``
    deception avoids.
    """
    dates = _dates(start, days)
    t = np.arange(days)
    weekday = np.array([{5: 0.85, 6: 0.55}.get(d.weekday(), 1.0) for d in dates])
    doy = np.array([d.timetuple().tm_yday for d in dates])
    season = 1.0 + 0.12 * np.sin(2 * np.pi * (doy - 100) / 365.25)
    mood = np.zeros(days)
    for i in range(1, days):
        mood[i] = 0.6 * mood[i - 1] + rng.normal(0, 0.12)
    out: dict[tuple[str, str], np.ndarray] = {}
    for z in layout.zones:
        scale = rng.uniform(0.6, 1.2) if z.kind == "car_park" else 1.0
        for cls, base in BASELINE.get(z.kind, {}).items():
            out[(z.id, cls)] = base * scale * weekday * season * np.exp(mood)
    for ep in episodes:
        i0, i1 = (ep.start - start).days, (ep.end - start).days
        if ep.kind == "quiet":
            for key in out:
                if key[0] in ep.zones:
                    out[key][max(i0, 0) : i1 + 1] *= 0.35
            continue
        if ep.kind == "pre_event_ramp":
            strength = np.where((t >= i0) & (t <= i1), _ramp(ep.shape, (t - i0) / max(i1 - i0, 1)), 0.0)
            lull = (t > i1) & (t <= i1 + 4)
        elif ep.kind == "construction":
            strength, lull = ((t >= i0) & (t <= i1)).astype(float), np.zeros(days, bool)
        elif ep.kind == "deception" and ep.shape == "pass_timing":
            unseen = np.array([d not in pass_dates for d in dates])
            strength, lull = ((t >= i0) & (t <= i1) & unseen).astype(float), np.zeros(days, bool)
        else:
            continue
        for zid, cls, gain, add in ep.impact:
            mean = out.setdefault((zid, cls), np.zeros(days))
            mean[:] = mean * (1 + gain * strength) + add * strength
            mean[lull] *= 0.7
    return out


def _place(slots: list[Slot], occupied: set[int], cls: str, rng: np.random.Generator) -> tuple[int, float] | None:
    """A free slot index for a new ``cls`` vehicle and the vehicle's length, or None if full."""
    (lmin, lmax), _, _ = CLASS_SIZE[cls]
    length = float(rng.uniform(lmin, lmax))
    free = [i for i, s in enumerate(slots) if i not in occupied and cls in s.classes and s.max_length >= length]
    if not free:
        return None
    return int(free[int(rng.integers(len(free)))]), length


def simulate_history(
    layout: SiteLayout,
    start: dt.date,
    days: int,
    rng: np.random.Generator,
    *,
    deception: str | None = None,
    pass_dates: frozenset[dt.date] = frozenset(),
) -> SiteHistory:
    """Events, episodes and the vehicles present on every day of the period.

    ``deception`` adds one episode of that kind (see :data:`DECEPTIONS`); ``pass_dates``
    are the acquisition days it can dodge.
    """
    events, episodes = schedule_episodes(layout, start, days, rng, deception=deception)
    means = expected_counts(layout, episodes, start, days, rng, pass_dates=pass_dates)
    slots_by_zone: dict[str, list[Slot]] = defaultdict(list)
    for s in layout.slots:
        slots_by_zone[s.zone_id].append(s)
    serial = iter(range(1, 10**9))

    def new_vehicle(
        zone_id: str,
        cls: str,
        slot: Slot,
        length: float,
        decoy: bool = False,
        look: int | None = None,
        heading_jitter: float = 4.0,
    ) -> Vehicle:
        (_, _), (wmin, wmax), height = CLASS_SIZE[cls]
        on_rails = cls in ("rail_car", "locomotive")  # aligned with the track, no sideways play
        flip = 180.0 if not on_rails and rng.random() < 0.5 else 0.0
        play = 0.02 if on_rails else 0.25
        return Vehicle(
            f"{layout.spec.id}-v{next(serial):06d}",
            cls,
            zone_id,
            slot.x + float(rng.normal(0, play)),
            slot.y + float(rng.normal(0, play)),
            (slot.heading + flip + float(rng.normal(0, 0.1 if on_rails else heading_jitter))) % 360.0,
            length,
            float(rng.uniform(wmin, wmax)),
            height,
            int(rng.integers(2**31)) if look is None else look,
            decoy,
        )

    # Slot index of each present vehicle, per zone (shared by all classes of the zone).
    present: dict[str, dict[int, Vehicle]] = {z.id: {} for z in layout.zones}
    decoys: dict[str, dict[int, Vehicle]] = {z.id: {} for z in layout.zones}
    cranes = {ep.id: ep for ep in episodes if ep.kind == "construction"}
    history: dict[dt.date, tuple[Vehicle, ...]] = {}
    for i, date in enumerate(_dates(start, days)):
        # Deception: identical decoys appear on the first day and stay, untouched, to the end.
        for ep in episodes:
            if ep.kind != "deception" or ep.shape != "static_decoys":
                continue
            zid = ep.zones[0]
            if date == ep.start:
                look = int(rng.integers(2**31))
                for _ in range(int(rng.integers(4, 7))):
                    got = _place(slots_by_zone[zid], set(present[zid]) | set(decoys[zid]), "truck", rng)
                    if got:
                        decoys[zid][got[0]] = new_vehicle(
                            zid, "truck", slots_by_zone[zid][got[0]], 9.0, True, look, 0.0
                        )
            elif date == ep.end + dt.timedelta(days=1):
                decoys[zid].clear()
        for z in layout.zones:
            zslots = slots_by_zone[z.id]
            here = present[z.id]
            blocked = set(decoys[z.id])
            for cls in sorted({c for (zid, c) in means if zid == z.id} | {"crane"}):
                mine = [k for k, v in here.items() if v.cls == cls]
                if cls == "crane" and z.kind == "construction":
                    target = int(any(ep.start <= date <= ep.end for ep in cranes.values()))
                elif (z.id, cls) in means:
                    mu = float(means[(z.id, cls)][i])
                    target = (
                        int(rng.negative_binomial(NB_DISPERSION, NB_DISPERSION / (NB_DISPERSION + mu)))
                        if mu > 0.01
                        else 0
                    )
                else:
                    target = 0
                # A construction crane stays for the whole job; everything else comes and goes.
                leave = 0.0 if cls == "crane" and z.kind == "construction" else TURNOVER[cls]
                for k in mine:
                    if rng.random() < leave:
                        del here[k]
                mine = [k for k in mine if k in here]
                while len(mine) > target:
                    del here[mine.pop(int(rng.integers(len(mine))))]
                while len(mine) < target:
                    got = _place(zslots, set(here) | blocked, cls, rng)
                    if got is None:
                        break
                    here[got[0]] = new_vehicle(z.id, cls, zslots[got[0]], got[1])
                    mine.append(got[0])
        history[date] = tuple(v for z in layout.zones for v in (*present[z.id].values(), *decoys[z.id].values()))
    return SiteHistory(events, episodes, history)
