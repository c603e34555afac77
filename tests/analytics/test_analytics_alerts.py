"""Baselines and uptick alerts on generated series with known upticks."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from sitewatch.analytics.alerts import NB_CUSUM, AlertRule, alarm_days, alert_id, build_alerts
from sitewatch.analytics.baseline import BaselineParams, _rolling_past, capped_cusum, score_observations
from sitewatch.analytics.series import series_observations, with_zone_totals
from sitewatch.analytics.synthetic import Uptick, synthetic_observations

CLASSES = ("car", "truck", "bus")


def test_capped_cusum_matches_the_recursion() -> None:
    rng = np.random.default_rng(0)
    x, restart = rng.normal(0, 1.5, 3000), rng.random(3000) < 0.01
    s, expected = 0.0, []
    for v, r in zip(x, restart, strict=True):
        s = min(4.0, max(0.0, (0.0 if r else s) + v))
        expected.append(s)
    np.testing.assert_allclose(capped_cusum(x, restart, 4.0), expected)


@pytest.mark.parametrize("how", ["median", "sum", "mean", "std", "count"])
def test_fast_rolling_matches_pandas_grouped_rolling(how: str) -> None:
    rng = np.random.default_rng(1)
    frames = []
    for g in range(5):
        days = np.sort(rng.choice(400, 90, replace=False))
        frames.append(
            pd.DataFrame(
                {
                    "gid": g,
                    "date": pd.Timestamp("2023-01-01") + pd.to_timedelta(days, unit="D"),
                    "v": rng.poisson(4, 90).astype(float),
                }
            )
        )
    df = pd.concat(frames, ignore_index=True)
    ours = _rolling_past(df, "v", 30, how, 2)
    theirs = getattr(df.groupby("gid").rolling("30D", on="date", closed="left", min_periods=2)["v"], how)()
    np.testing.assert_allclose(ours.to_numpy(), theirs.to_numpy(), equal_nan=True)


def test_flat_series_raise_few_alerts() -> None:
    """No uptick anywhere: at most about one false alarm per site-year (the design target)."""
    obs = synthetic_observations(n_sites=10, n_zones=3, classes=CLASSES, days=730, seed=11)
    alarms = alarm_days(score_observations(with_zone_totals(obs)))
    assert len(alarms) / (10 * 2) <= 1.2


def test_constant_series_raise_no_alert() -> None:
    dates = pd.Series(pd.date_range("2023-01-01", periods=80, freq="3D"))
    assert build_alerts(score_observations(series_observations(dates, pd.Series([5] * 80)))) == []


def test_known_upticks_are_found_before_their_events() -> None:
    start = pd.Timestamp("2022-01-01")
    upticks = tuple(
        Uptick(
            f"sim-{s:03d}",
            start + pd.Timedelta(days=150 + 17 * s),
            ramp_days=14,
            factor=4.0,
            zones=("z1",),
            classes=("truck", "bus"),
        )
        for s in range(10)
    )
    obs = synthetic_observations(n_sites=10, n_zones=3, classes=CLASSES, days=300, upticks=upticks, seed=3)
    alarms = alarm_days(score_observations(with_zone_totals(obs)))
    hits, leads = 0, []
    for u in upticks:
        mine = alarms[
            (alarms["site_id"] == u.site_id)
            & (alarms["date"] <= u.event_date)
            & (alarms["date"] >= u.event_date - pd.Timedelta(days=u.ramp_days))
        ]
        if len(mine):
            hits += 1
            leads.append((u.event_date - mine["date"].min()).days)
    assert hits / len(upticks) >= 0.8
    assert np.median(leads) >= 2
    false = len(alarms) - hits
    assert false <= 3  # 10 sites × 300 days


def test_site_mixture_finds_moderate_rises_spread_over_a_site() -> None:
    """Nine series each doubling: the site-level mixture CUSUM finds more of them than single series do."""
    start = pd.Timestamp("2022-01-01")
    upticks = tuple(
        Uptick(
            f"sim-{s:03d}",
            start + pd.Timedelta(days=150 + 17 * s),
            ramp_days=14,
            factor=2.0,
            zones=("z0", "z1", "z2"),
            classes=CLASSES,
        )
        for s in range(10)
    )
    obs = synthetic_observations(n_sites=10, n_zones=3, classes=CLASSES, days=300, upticks=upticks, seed=7)
    scored = score_observations(with_zone_totals(obs))

    def hits(rule: AlertRule) -> int:
        alarms = alarm_days(scored, rule)
        return sum(
            bool(
                (
                    (alarms["site_id"] == u.site_id)
                    & (alarms["date"] <= u.event_date)
                    & (alarms["date"] >= u.event_date - pd.Timedelta(days=u.ramp_days))
                ).any()
            )
            for u in upticks
        )

    pooled, single = hits(NB_CUSUM), hits(replace(NB_CUSUM, site_threshold=float("inf")))
    assert pooled >= 6
    assert pooled >= single + 2


def test_scores_never_look_ahead() -> None:
    obs = synthetic_observations(
        n_zones=2, classes=CLASSES, days=300, seed=4, upticks=(Uptick("sim-000", pd.Timestamp("2022-07-01")),)
    )
    full = score_observations(with_zone_totals(obs))
    cut = pd.Timestamp("2022-06-25")
    part = score_observations(with_zone_totals(obs[obs["date"] <= cut]))
    cols = ["mu", "alpha", "p_tail", "llr", "cusum", "site_cusum", "z"]
    a = full[full["date"] <= cut].set_index(["zone_id", "cls", "date"])[cols].sort_index()
    b = part.set_index(["zone_id", "cls", "date"])[cols].sort_index()
    pd.testing.assert_frame_equal(a, b)


def test_alerts_explain_themselves_and_have_stable_ids() -> None:
    rng = np.random.default_rng(5)
    dates = pd.Series(pd.date_range("2023-01-01", periods=200, freq="2D"))
    lam = np.full(200, 9.0)
    lam[150:158] = 40.0
    values = pd.Series(rng.negative_binomial(10, 10 / (10 + lam)))
    scored = score_observations(series_observations(dates, values, name="truck"))
    alerts = build_alerts(scored, zone_names={("series", "all"): "assembly zone"})
    assert len(alerts) == 1
    a = alerts[0]
    assert dates[150] <= pd.Timestamp(a.start) <= dates[153]
    assert a.classes == ("truck",) and a.zones == ("all",)
    assert "trucks in the assembly zone vs" in a.explanation and "p " in a.explanation and "observed" in a.explanation
    assert a.id == alert_id("series", pd.Timestamp(a.start), ("truck",))
    assert [x.id for x in build_alerts(scored, zone_names={("series", "all"): "assembly zone"})] == [a.id]
    assert alert_id("series", pd.Timestamp(a.start), ("car",)) != a.id


def test_partial_coverage_is_tested_on_what_was_seen() -> None:
    """Half the zone seen with half the objects counted is not a drop; a full count on half is a rise."""
    rng = np.random.default_rng(6)
    n = 120
    dates = pd.Series(pd.date_range("2023-01-01", periods=n, freq="3D"))
    obs = series_observations(dates, pd.Series(rng.poisson(10, n)))
    half = obs.index[100:]
    obs.loc[half, "q"] = 0.5
    obs.loc[half, "raw"] = rng.poisson(5, len(half))
    obs.loc[half, "estimate"] = obs.loc[half, "raw"] / 0.5
    assert build_alerts(score_observations(obs)) == []
    obs.loc[half, "raw"] = rng.poisson(20, len(half))  # as many as usual on half the ground: a 2x rise
    obs.loc[half, "estimate"] = obs.loc[half, "raw"] / 0.5
    assert len(build_alerts(score_observations(obs), NB_CUSUM)) >= 1


def test_insufficient_observations_are_ignored_not_zero() -> None:
    rng = np.random.default_rng(7)
    dates = pd.Series(pd.date_range("2023-01-01", periods=100, freq="3D"))
    obs = series_observations(dates, pd.Series(rng.poisson(10, 100)))
    obs.loc[60:70, ["raw", "estimate"]] = 0
    obs.loc[60:70, "sufficient"] = False
    scored = score_observations(obs)
    assert scored.loc[60:70, "mu"].isna().all()
    after = scored.loc[71:75, "mu"]
    assert (after > 7).all()  # the unseen stretch did not drag the baseline down
    assert build_alerts(scored) == []


def test_negative_binomial_helpers_match_scipy() -> None:
    from scipy.stats import nbinom

    from sitewatch.analytics.baseline import nb_logpmf, nb_shift_llr, nb_upper_tail

    rng = np.random.default_rng(9)
    m, r = rng.uniform(0.1, 40, 500), rng.uniform(0.4, 30, 500)
    x = rng.integers(0, 80, 500).astype(float)
    p = r / (r + m)
    np.testing.assert_allclose(nb_logpmf(x, m, r), nbinom.logpmf(x, r, p), rtol=1e-9)
    np.testing.assert_allclose(nb_upper_tail(x, m, r), nbinom.sf(x - 1, r, p), rtol=1e-7, atol=1e-14)
    shifted = nbinom.logpmf(x, r, r / (r + 3 * m)) - nbinom.logpmf(x, r, p)
    np.testing.assert_allclose(nb_shift_llr(x, m, r, 3.0), shifted, rtol=1e-7, atol=1e-9)


def test_guarded_rolling_leaves_out_the_most_recent_days() -> None:
    """With a guard band the window is [t − guard − days, t − guard): compare with pandas on shifted dates."""
    rng = np.random.default_rng(2)
    days = np.sort(rng.choice(300, 80, replace=False))
    df = pd.DataFrame(
        {"gid": 0, "date": pd.Timestamp("2023-01-01") + pd.to_timedelta(days, unit="D"), "v": rng.poisson(5, 80)}
    )
    df["v"] = df["v"].astype(float)
    ours = _rolling_past(df, "v", 20, "sum", 1, guard=6)
    lo, hi = df["date"] - pd.Timedelta(days=26), df["date"] - pd.Timedelta(days=6)
    expected = [df.loc[(df["date"] >= a) & (df["date"] < b), "v"] for a, b in zip(lo, hi, strict=True)]
    np.testing.assert_allclose(ours.to_numpy(), [e.sum() if len(e) else np.nan for e in expected], equal_nan=True)


def test_guard_band_keeps_a_slow_ramp_out_of_its_own_baseline() -> None:
    """Ten days into a ramp, a 10-day guard band still sees the pre-ramp level only; no guard does not."""
    dates = pd.Series(pd.date_range("2023-01-01", periods=120, freq="D"))
    values = np.r_[np.full(100, 10.0), np.linspace(12, 50, 20)]
    obs = series_observations(dates, pd.Series(values))
    plain = score_observations(obs, BaselineParams(guard_days=0))
    guarded = score_observations(obs, BaselineParams(guard_days=10))
    day = obs.index[109]
    assert guarded.loc[day, "mu"] == pytest.approx(10.0, rel=0.05)  # the weekday factor sees the ramp
    assert plain.loc[day, "mu"] > 11.0
