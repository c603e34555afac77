"""The activity process: ramps before events, persistent objects, decoys, construction cranes."""

from __future__ import annotations

import datetime as dt
import itertools

import numpy as np
import pytest

from sitewatch.simulate.activity import expected_counts, schedule_episodes, simulate_history
from sitewatch.simulate.layout import SITE_SPECS, generate_layout

START = dt.date(2024, 3, 1)


@pytest.fixture(scope="module")
def layout():  # type: ignore[no-untyped-def]
    return generate_layout(SITE_SPECS[0], np.random.default_rng(3))


def test_every_slot_is_inside_the_aoi_and_its_zone(layout) -> None:  # type: ignore[no-untyped-def]
    from shapely.geometry import Point

    zones = {z.id: z.geometry for z in layout.zones}
    assert len(layout.slots) > 100
    for s in layout.slots:
        assert 0 <= s.x <= layout.size and 0 <= s.y <= layout.size
        assert zones[s.zone_id].buffer(3).contains(Point(s.x, s.y)), s


def test_ramps_raise_the_mean_before_each_event(layout) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(0)
    events, episodes = schedule_episodes(layout, START, 365, rng)
    assert 2 <= len(events) <= 4
    means = expected_counts(layout, episodes, START, 365, np.random.default_rng(1))
    for ep in (e for e in episodes if e.kind == "pre_event_ramp"):
        last = (ep.end - START).days
        before = (ep.start - START).days - 1
        zid, cls, _, _ = ep.impact[0]
        assert means[(zid, cls)][last] > means[(zid, cls)][before] + 1.0, ep


def test_vehicles_persist_and_decoys_are_static(layout) -> None:  # type: ignore[no-untyped-def]
    hist = simulate_history(layout, START, 90, np.random.default_rng(5), deception="static_decoys")
    days = sorted(hist.days)
    ids = [{v.id for v in hist.days[d]} for d in days]
    kept = np.mean([len(a & b) / max(len(a), 1) for a, b in itertools.pairwise(ids)])
    assert 0.3 < kept < 0.98  # parked vehicles stay, some come and go
    (dec,) = [e for e in hist.episodes if e.kind == "deception"]
    decoy_days = [d for d in days if any(v.decoy for v in hist.days[d])]
    assert decoy_days[0] == dec.start and decoy_days[-1] == dec.end
    first = {v for v in hist.days[dec.start] if v.decoy}
    assert len(first) >= 4 and len({v.look for v in first}) == 1  # identical look
    assert all({v for v in hist.days[d] if v.decoy} == first for d in decoy_days)


def test_construction_crane_stays_for_the_whole_job(layout) -> None:  # type: ignore[no-untyped-def]
    hist = simulate_history(layout, START, 120, np.random.default_rng(9))
    (job,) = [e for e in hist.episodes if e.kind == "construction"]
    cranes = [
        {v.id for v in hist.days[d] if v.cls == "crane" and v.zone_id == job.zones[0]}
        for d in sorted(hist.days)
        if job.start <= d <= job.end
    ]
    assert all(len(c) == 1 for c in cranes) and len(set.union(*cranes)) == 1
    after = job.end + dt.timedelta(days=1)
    if after in hist.days:
        assert not any(v.cls == "crane" and v.zone_id == job.zones[0] for v in hist.days[after])


def test_pass_timing_deception_works_only_on_unobserved_days(layout) -> None:  # type: ignore[no-untyped-def]
    _, episodes = schedule_episodes(layout, START, 120, np.random.default_rng(4), deception="pass_timing")
    (dec,) = [e for e in episodes if e.kind == "deception"]
    passes = frozenset(START + dt.timedelta(days=i) for i in range(0, 120, 3))
    with_passes = expected_counts(layout, episodes, START, 120, np.random.default_rng(1), pass_dates=passes)
    key = (dec.zones[0], "truck")
    no_episode = expected_counts(
        layout, tuple(e for e in episodes if e is not dec), START, 120, np.random.default_rng(1), pass_dates=passes
    )[key]
    inside = [i for i in range(120) if dec.start <= START + dt.timedelta(days=i) <= dec.end]
    extra = with_passes[key] - no_episode
    assert all(extra[i] == 0 for i in inside if START + dt.timedelta(days=i) in passes)
    assert all(extra[i] >= 5.9 for i in inside if START + dt.timedelta(days=i) not in passes)
    assert np.all(extra[[i for i in range(120) if i not in inside]] == 0)
