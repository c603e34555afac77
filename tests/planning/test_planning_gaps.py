"""Coverage gaps and the sentence alerts state."""

from __future__ import annotations

import datetime as dt

import pytest

from sitewatch.errors import PlanningError
from sitewatch.planning.gaps import coverage_gaps, gap_sentence, unseen_before

T0 = dt.datetime(2024, 3, 1, tzinfo=dt.UTC)


def _t(days: float) -> dt.datetime:
    return T0 + dt.timedelta(days=days)


def test_gaps_between_observations_and_range_edges() -> None:
    scenes = [_t(d) for d in (10, 12, 13, 25, 27)]
    gaps = coverage_gaps(reversed(scenes), T0, _t(40), min_gap=dt.timedelta(days=7))
    assert [(g.start, g.end) for g in gaps] == [(T0, _t(10)), (_t(13), _t(25)), (_t(27), _t(40))]
    assert [g.days for g in gaps] == [10, 12, 13]
    assert gaps[0].starts_at_range and not gaps[0].ends_at_range and gaps[2].ends_at_range
    assert coverage_gaps(scenes, T0, _t(40), min_gap=dt.timedelta(days=20)) == []


def test_no_scene_is_one_gap_and_outside_scenes_ignored() -> None:
    (gap,) = coverage_gaps([_t(-5), _t(50)], T0, _t(30))
    assert gap.start == T0 and gap.end == _t(30) and gap.starts_at_range and gap.ends_at_range


def test_unseen_before_and_sentence() -> None:
    scenes = [_t(d) + dt.timedelta(hours=2, minutes=13) for d in (1, 4, 12)]
    gap = unseen_before(scenes, _t(12))
    assert gap is not None and gap.start == scenes[1] and gap.end == scenes[2]
    assert gap_sentence(gap) == (
        "activity could have happened unseen between 2024-03-05 02:13 UTC and 2024-03-13 02:13 UTC "
        "(8.0 days without a usable image)"
    )
    assert unseen_before(scenes, _t(0)) is None and unseen_before(scenes, _t(20)) is None
    edge = coverage_gaps([], T0, _t(10))[0]
    assert "the start of the record and the end of the record" in gap_sentence(edge)


def test_bad_ranges_and_naive_times() -> None:
    with pytest.raises(PlanningError, match="backwards"):
        coverage_gaps([], _t(5), T0)
    with pytest.raises(PlanningError, match="naive"):
        coverage_gaps([dt.datetime(2024, 3, 2)], T0, _t(5))
