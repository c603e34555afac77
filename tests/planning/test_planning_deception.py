"""Deception statistics find planted patterns (and the simulator's decoys) and stay quiet on clean data."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from sitewatch.errors import SeriesError
from sitewatch.planning.deception import (
    concealment,
    deception_caveats,
    decoy_indicator,
    flag_decoys,
    label_at_passes,
    overpass_correlation,
    post_alert_drop,
    static_objects,
)

T0 = dt.datetime(2024, 1, 1, 2, 0, tzinfo=dt.UTC)
D0 = dt.date(2024, 1, 1)


# -- (a) overpass schedule -------------------------------------------------------------------


def test_label_at_passes() -> None:
    passes = [T0, T0 + dt.timedelta(days=1), T0 + dt.timedelta(days=3)]
    obs = [T0 + dt.timedelta(minutes=20), T0 + dt.timedelta(hours=5), T0 + dt.timedelta(days=3, minutes=-50)]
    assert label_at_passes(obs, passes).tolist() == [True, False, True]
    assert label_at_passes(obs, passes, tolerance=dt.timedelta(minutes=30)).tolist() == [True, False, False]
    assert label_at_passes(obs, []).tolist() == [False, False, False]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_overpass_correlation_planted_and_clean(seed: int) -> None:
    rng = np.random.default_rng(seed)
    at_pass = rng.random(60) < 0.4
    clean = rng.poisson(10, 60)
    hiding = np.where(at_pass, rng.poisson(3, 60), rng.poisson(10, 60))
    found = overpass_correlation(hiding, at_pass, n_resamples=2000)
    quiet = overpass_correlation(clean, at_pass, n_resamples=2000)
    assert found is not None and quiet is not None
    assert found.flagged and found.p_value < 0.01 and found.statistic < 0 and "lower" in found.summary
    assert not quiet.flagged and quiet.p_value > 0.01


def test_overpass_correlation_needs_both_groups() -> None:
    assert overpass_correlation([1, 2, 3, 4], [True, True, True, False]) is None
    with pytest.raises(SeriesError, match="labels"):
        overpass_correlation([1, 2, 3], [True, False])


# -- (b) decoys -----------------------------------------------------------------------------


def _parking(rng: np.random.Generator, n_dates: int = 20, decoys: int = 0, shadows: bool = False) -> pd.DataFrame:
    """40 truck spots 6 m apart, each re-occupied by a different vehicle most days, plus planted decoys."""
    rows = []
    for k in range(n_dates):
        sun = rng.uniform(25, 60)
        for spot in range(40):
            if rng.random() < 0.6:
                length = rng.uniform(6.5, 10.5)
                rows.append((k, "truck", spot * 6.0 + rng.normal(0, 0.3), rng.normal(0, 0.3), length, 2.5, 3.2, sun))
        for j in range(decoys):
            rows.append((k, "truck", j * 6.0 + 3.0, 20.0, 9.0, 2.5, 0.0, sun))  # identical, no height
    df = pd.DataFrame(rows, columns=["k", "cls", "x", "y", "length", "width", "height", "sun_elevation"])
    df["date"] = [D0 + dt.timedelta(days=3 * int(k)) for k in df["k"]]
    df["length"] *= 1 + rng.normal(0, 0.01, len(df))
    if shadows:
        df["shadow"] = df["height"] / np.tan(np.radians(df["sun_elevation"])) * (1 + rng.normal(0, 0.05, len(df)))
    return df.drop(columns=["k", "height"])


def test_decoys_found_by_identity_and_quiet_without() -> None:
    rng = np.random.default_rng(7)
    tracks = static_objects(_parking(rng, decoys=3, shadows=True))
    flagged = flag_decoys(tracks)
    assert len(flagged) == 3 and set(flagged["y"].round()) == {20.0}
    assert (flagged["run"] == 20).all()
    assert all("no position jitter" in r and "no shadow" in r for r in flagged["reasons"])
    indicator = decoy_indicator(tracks)
    assert indicator is not None and indicator.flagged and indicator.statistic == 3 and indicator.p_value < 1e-6

    clean = static_objects(_parking(np.random.default_rng(7), shadows=True))
    assert flag_decoys(clean).empty
    quiet = decoy_indicator(clean)
    assert quiet is not None and not quiet.flagged


def _arrivals(lengths: list[float], seed: int = 11) -> pd.DataFrame:
    """Ordinary traffic, plus trucks of ``lengths`` that arrive together on the pad and stay 4 dates."""
    rng = np.random.default_rng(seed)
    frame = _parking(rng).assign(zone_id="car_park")
    rows = [
        {
            "date": D0 + dt.timedelta(days=3 * k),
            "cls": "truck",
            "x": 40.0 + 6 * j + rng.normal(0, 0.3),
            "y": 60 + rng.normal(0, 0.3),
            "length": length * (1 + rng.normal(0, 0.01)),
            "width": 2.5,
            "zone_id": "pad",
        }
        for k in range(6, 10)
        for j, length in enumerate(lengths)
    ]
    return pd.concat([frame, pd.DataFrame(rows)], ignore_index=True)


def test_lookalikes_arriving_together_are_flagged() -> None:
    tracks = static_objects(_arrivals([9.0] * 5))
    flagged = flag_decoys(tracks)
    assert len(flagged) == 5 and (flagged["zone"] == "pad").all() and (flagged["run"] == 4).all()
    assert all("look-alikes that arrived and stayed together" in r for r in flagged["reasons"])
    # the same arrival of trucks of different makes is ordinary business
    assert flag_decoys(static_objects(_arrivals([6.6, 7.5, 8.4, 9.3, 10.2]))).empty


def test_cloudy_dates_do_not_break_a_stay() -> None:
    frame = _parking(np.random.default_rng(7), decoys=3)
    frame["zone_id"] = np.where(frame["y"] > 10, "pad", "car_park")
    cloudy = {D0 + dt.timedelta(days=3 * k) for k in (4, 9, 14)}  # the pad is under cloud: nothing seen there
    frame = frame[~(frame["date"].isin(cloudy) & (frame["zone_id"] == "pad"))]
    dates = sorted(set(frame["date"]))
    broken = static_objects(frame, observed_dates=dates)
    assert broken.loc[broken["y"].round() == 20, "run"].max() == 5  # the streak is cut by the clouds
    seen = {"pad": set(dates) - cloudy, "car_park": set(dates)}
    whole = static_objects(frame, observed_dates=dates, zone_observed=seen)
    assert (whole.loc[whole["y"].round() == 20, "run"] == 17).all()
    assert len(flag_decoys(whole)) == 3


def test_busy_spots_are_not_one_long_stay() -> None:
    """A spot re-occupied by vehicles of other sizes must not count as one object staying."""
    tracks = static_objects(_parking(np.random.default_rng(3), n_dates=30))
    assert tracks["n_dates"].max() >= 15  # busy spots are seen on most dates...
    assert tracks["run"].max() < 6  # ...but never by the same vehicle for long


def test_static_objects_requires_columns() -> None:
    with pytest.raises(SeriesError, match="missing column"):
        static_objects(pd.DataFrame({"date": [D0], "x": [0.0]}))


def _simulated_frame(seed: int, deception: str | None) -> tuple[pd.DataFrame, list[dt.date]]:
    from sitewatch.simulate import activity
    from sitewatch.simulate import layout as layout_mod

    rng = np.random.default_rng(seed)
    layout = layout_mod.generate_layout(layout_mod.SITE_SPECS[0], rng)
    history = activity.simulate_history(layout, dt.date(2024, 1, 1), 150, rng, deception=deception)
    days = sorted(history.days)
    observed = days[::3]
    rows = [
        # detector-like noise: 0.3 m in position, 2 % in length
        (
            d,
            v.cls,
            v.x + rng.normal(0, 0.3),
            v.y + rng.normal(0, 0.3),
            v.length * (1 + rng.normal(0, 0.02)),
            v.width,
            v.decoy,
        )
        for d in observed
        for v in history.days[d]
    ]
    return pd.DataFrame(rows, columns=["date", "cls", "x", "y", "length", "width", "decoy"]), observed


@pytest.mark.parametrize("seed", [0, 1])
def test_simulator_deception_episode_found_clean_quiet(seed: int) -> None:
    frame, observed = _simulated_frame(seed, deception="static_decoys")
    flagged = flag_decoys(static_objects(frame, observed_dates=observed))
    decoy_xy = frame.loc[frame["decoy"], ["x", "y"]].to_numpy()
    assert len(decoy_xy) and len(flagged) >= 2
    for _, row in flagged.iterrows():  # every flagged object is a planted decoy
        assert np.hypot(decoy_xy[:, 0] - row["x"], decoy_xy[:, 1] - row["y"]).min() < 1.0

    clean, observed = _simulated_frame(seed, deception=None)
    indicator = decoy_indicator(static_objects(clean, observed_dates=observed))
    assert indicator is not None and not indicator.flagged


# -- (c) concealment ------------------------------------------------------------------------


def _texture(rng: np.random.Generator, *, step: float = 0.0, count_jump: int = 0) -> pd.DataFrame:
    n = 30
    texture = 10 + np.cumsum(rng.normal(0, 0.05, n)) + rng.normal(0, 0.2, n)
    texture[15:] += step
    count = rng.poisson(6, n)
    count[15] = count[14] + count_jump
    dates = [D0 + dt.timedelta(days=4 * i) for i in range(n)]
    other = pd.DataFrame({"date": dates, "zone_id": "hall", "texture": 5 + rng.normal(0, 0.1, n), "count": count})
    return pd.concat([pd.DataFrame({"date": dates, "zone_id": "pad", "texture": texture, "count": count}), other])


def test_concealment_planted_step() -> None:
    found = {i.summary.split(":")[0]: i for i in concealment(_texture(np.random.default_rng(5), step=3.0))}
    assert found["zone pad"].flagged and found["zone pad"].p_value < 1e-6
    assert "2024-02-26 and 2024-03-01" in found["zone pad"].summary
    assert not found["zone hall"].flagged


@pytest.mark.parametrize("seed", [5, 6, 7])
def test_concealment_quiet_on_clean_or_explained_change(seed: int) -> None:
    assert not any(i.flagged for i in concealment(_texture(np.random.default_rng(seed))))
    # the same texture step, but with 25 more objects: explained by objects, not concealment
    explained = concealment(_texture(np.random.default_rng(seed), step=3.0, count_jump=25))
    assert not any(i.flagged for i in explained)


# -- (d) drop after an alert ----------------------------------------------------------------


def _series(rng: np.random.Generator, after_mean: float) -> pd.Series:
    days = [D0 + dt.timedelta(days=3 * i) for i in range(40)]  # alert on day 90-96
    mean = [
        10 if d < D0 + dt.timedelta(days=90) else 22 if d <= D0 + dt.timedelta(days=96) else after_mean for d in days
    ]
    return pd.Series(rng.poisson(mean), index=pd.to_datetime(days))


def test_post_alert_drop_planted_and_clean() -> None:
    start, end = D0 + dt.timedelta(days=90), D0 + dt.timedelta(days=96)
    drop = post_alert_drop(_series(np.random.default_rng(2), after_mean=1.0), start, end)
    back_to_normal = post_alert_drop(_series(np.random.default_rng(2), after_mean=10.0), start, end)
    assert drop is not None and drop.flagged and drop.statistic < 0.3 and drop.p_value < 0.005
    assert back_to_normal is not None and not back_to_normal.flagged and back_to_normal.statistic > 0.6
    assert post_alert_drop(_series(np.random.default_rng(2), 1.0), start, D0 + dt.timedelta(days=200)) is None


def test_deception_caveats_only_flagged_sorted() -> None:
    rng = np.random.default_rng(1)
    at_pass = rng.random(60) < 0.4
    weak = overpass_correlation(rng.poisson(10, 60), at_pass)
    strong = post_alert_drop(_series(rng, 0.5), D0 + dt.timedelta(days=90), D0 + dt.timedelta(days=96))
    planted = overpass_correlation(np.where(at_pass, 2, 10) + rng.poisson(1, 60), at_pass)
    caveats = deception_caveats([weak, None, planted, strong])
    assert len(caveats) == 2 and all(c.startswith("possible deception: ") for c in caveats)
    assert deception_caveats([weak, None]) == []
