"""Walk-forward back-test: scoring of alarms, and no look-ahead."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from sitewatch.analytics.backtest import backtest, event_targets, score_alarms, walk_forward_alarms
from sitewatch.analytics.series import with_zone_totals
from sitewatch.analytics.synthetic import Uptick, synthetic_observations
from sitewatch.model import Event


def test_score_alarms_counts_hits_leads_and_false_alarms() -> None:
    events = [
        Event("e1", dt.date(2024, 3, 20), "missile_test", "sim", site_id="a"),
        Event("e2", dt.date(2024, 6, 1), "missile_test", "sim", site_id="b"),
        Event("e3", dt.date(2024, 9, 1), "missile_test", "sim", site_id="a"),
    ]
    targets = event_targets(events, horizon_days=21)
    alarms = pd.DataFrame(
        [("a", "2024-03-10"), ("a", "2024-03-15"), ("a", "2024-05-01"), ("b", "2024-05-31"), ("b", "2024-07-01")],
        columns=["site_id", "date"],
    ).assign(date=lambda d: pd.to_datetime(d["date"]))
    r = score_alarms("rule", alarms, targets, years=2.0)
    assert (r.alarms, r.true_alarms, r.false_alarms) == (5, 3, 2)
    assert (r.targets, r.detected) == (3, 2)
    assert r.recall == pytest.approx(2 / 3) and r.precision == pytest.approx(3 / 5)
    assert r.median_lead_days == pytest.approx((10 + 1) / 2)  # e1 first alarm 10 days ahead, e2 1 day
    assert r.false_alarms_per_site_year == pytest.approx(1.0)


def test_episode_windows_replace_the_horizon() -> None:
    events = [Event("e1", dt.date(2024, 3, 20), "missile_test", "sim", site_id="a")]
    episodes = pd.DataFrame({"event_id": ["e1"], "kind": ["pre_event_ramp"], "start": ["2024-03-14"]})
    t = event_targets(events, horizon_days=21, episodes=episodes)
    assert t["window_start"].iloc[0] == pd.Timestamp("2024-03-14")


def _data() -> tuple[pd.DataFrame, list[Event]]:
    start = pd.Timestamp("2022-01-01")
    ups = tuple(
        Uptick(
            f"sim-{s:03d}",
            start + pd.Timedelta(days=120 + 40 * s),
            ramp_days=14,
            factor=4.0,
            zones=("z0", "z1"),
            classes=("truck", "bus"),
        )
        for s in range(4)
    )
    obs = with_zone_totals(
        synthetic_observations(n_sites=4, n_zones=3, classes=("car", "truck", "bus"), days=330, upticks=ups, seed=8)
    )
    events = [Event(f"e{i}", u.event_date.date(), "missile_test", "sim", site_id=u.site_id) for i, u in enumerate(ups)]
    return obs, events


def test_walk_forward_refits_give_the_same_alarms_as_one_causal_pass() -> None:
    obs, _ = _data()
    kinds = {(f"sim-{s:03d}", f"z{z}"): k for s in range(4) for z, k in enumerate(("pad", "assembly_hall", "road"))}
    one = walk_forward_alarms(obs, zone_kinds=kinds)
    cut = walk_forward_alarms(obs, zone_kinds=kinds, step_days=60)
    assert set(one) == set(cut) == {"nb_cusum", "nb_cusum+precursor", "zscore"}
    for name in one:
        a = one[name].sort_values(["site_id", "date"]).reset_index(drop=True)
        b = cut[name].sort_values(["site_id", "date"]).reset_index(drop=True)
        pd.testing.assert_frame_equal(a, b, check_dtype=False)


def test_nb_rule_beats_the_z_score_on_false_alarms() -> None:
    obs, events = _data()
    scores = {s.rule: s for s in backtest(obs, events)}
    nb, z = scores["nb_cusum"], scores["zscore"]
    assert nb.recall >= 0.75
    assert nb.false_alarms_per_site_year < z.false_alarms_per_site_year
    assert nb.precision > z.precision
