"""Change points, multi-site synchrony, pre-event signatures and interpretation."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from sitewatch.analytics.baseline import score_observations
from sitewatch.analytics.changepoints import find_changepoints
from sitewatch.analytics.interpret import HYPOTHESES, coverage_caveats, hypotheses, interpret
from sitewatch.analytics.series import with_zone_totals
from sitewatch.analytics.signatures import build_signature, score_signature
from sitewatch.analytics.synchrony import synchrony
from sitewatch.analytics.synthetic import Uptick, synthetic_observations
from sitewatch.errors import SeriesError
from sitewatch.model import Alert, Event, Site, Zone
from sitewatch.sites.builtin import square_aoi


def test_changepoints_find_a_step_and_not_noise() -> None:
    rng = np.random.default_rng(0)
    dates = pd.Series(pd.date_range("2024-01-01", periods=120, freq="2D"))
    step = pd.Series(np.r_[rng.poisson(5, 70), rng.poisson(15, 50)])
    cp = find_changepoints(dates, step)
    assert len(cp.dates) == 1 and abs((cp.dates[0] - dates[70]).days) <= 4
    assert cp.segments[0].mean == pytest.approx(5, abs=1) and cp.segments[1].mean == pytest.approx(15, abs=2)
    assert cp.penalty == pytest.approx(2 * cp.sigma**2 * np.log(120))
    assert find_changepoints(dates, pd.Series(rng.poisson(8, 120))).dates == []
    with pytest.raises(SeriesError):
        find_changepoints(dates[:4], step[:4])


def _alarms(rows: list[tuple[str, str]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["site_id", "date"]).assign(date=lambda d: pd.to_datetime(d["date"]))


def test_synchrony_detects_concurrent_upticks() -> None:
    days = ["2024-02-01", "2024-05-10", "2024-08-20", "2024-11-05"]
    together = _alarms([(s, d) for s in ("a", "b", "c") for d in days])
    result = synchrony(together, start=pd.Timestamp("2024-01-01"), end=pd.Timestamp("2024-12-31"), n_permutations=499)
    assert result.statistic == 12 and result.p_value < 0.01 and result.null_mean < 3
    rng = np.random.default_rng(1)
    apart = _alarms(
        [
            (s, str(pd.Timestamp("2024-01-01") + pd.Timedelta(days=int(d))))
            for s in ("a", "b", "c")
            for d in rng.choice(360, 4, replace=False)
        ]
    )
    r2 = synchrony(apart, start=pd.Timestamp("2024-01-01"), end=pd.Timestamp("2024-12-31"), n_permutations=499)
    assert r2.p_value > 0.05


def test_signature_scores_pre_event_activity_higher() -> None:
    start = pd.Timestamp("2022-01-01")
    dates = [start + pd.Timedelta(days=d) for d in (80, 160, 240, 320)]
    ups = tuple(Uptick("sim-000", d, ramp_days=14, factor=3.0, zones=("z0",), classes=("truck",)) for d in dates)
    scored = score_observations(
        with_zone_totals(synthetic_observations(n_zones=3, classes=("car", "truck"), days=360, upticks=ups, seed=2))
    )
    events = [Event(f"e{i}", d.date(), "missile_test", "sim", site_id="sim-000") for i, d in enumerate(dates)]
    sig = build_signature(scored, events[:3], "sim-000", "missile_test")
    assert sig is not None and sig.n_events == 3
    assert sig.profile[("z0", 0)] > sig.base_mean["z0"] + 0.5
    before = score_signature(sig, scored, dates[3] - pd.Timedelta(days=1), events[:3])
    quiet = score_signature(sig, scored, dates[3] - pd.Timedelta(days=40), events[:3])
    assert before.log_lr > quiet.log_lr and before.log_lr > 0
    assert build_signature(scored, events, "sim-000", "satellite_launch") is None


def _site() -> Site:
    aoi = square_aoi(124.7, 39.66, 500)
    zones = (
        Zone("pad", "Launch pad", "pad", aoi),
        Zone("cons", "Plot", "construction", aoi),
        Zone("hall", "Assembly halls", "assembly_hall", aoi),
        Zone("park", "Car park", "car_park", aoi),
    )
    return Site("s", "Sim", aoi, zones, simulated=True)


def _alert(zones: tuple[str, ...], classes: tuple[str, ...], days: int = 5) -> Alert:
    d = dt.date(2024, 5, 1)
    return Alert("a", "s", d, d + dt.timedelta(days=days - 1), 7.0, "medium", zones, classes, "41 trucks ...")


def test_hypotheses_follow_what_rose_and_sum_to_one() -> None:
    kinds = {z.id: z.kind for z in _site().zones}
    prep = hypotheses(_alert(("pad", "hall"), ("truck", "tanker")), kinds)
    build = hypotheses(_alert(("cons",), ("crane", "construction_vehicle")), kinds)
    visit = hypotheses(_alert(("park",), ("car", "bus"), days=1), kinds)
    assert prep[0].name == "test/launch preparation"
    assert build[0].name == "construction"
    assert visit[0].name == "leadership visit"
    for hs in (prep, build, visit):
        assert {h.name for h in hs} == set(HYPOTHESES) and sum(h.confidence for h in hs) == pytest.approx(1, abs=0.01)
    assert hypotheses(_alert(("pad",), ("truck",)), kinds, deception_flagged=True)[0].confidence < prep[0].confidence


def test_interpret_adds_caveats_and_marks_simulated() -> None:
    scored = pd.DataFrame(
        {
            "site_id": ["s"],
            "zone_id": ["pad"],
            "date": [pd.Timestamp("2024-05-02")],
            "observed_fraction": [0.6],
            "n_history": [6.0],
        }
    )
    a = interpret(_alert(("pad",), ("truck",)), site=_site(), scored=scored, n_prior_events=1)
    assert a.explanation.startswith("SIMULATED")
    assert any("60%" in c for c in a.caveats) and any("6 earlier observations" in c for c in a.caveats)
    assert any("1 earlier event" in c for c in a.caveats) and all(c.startswith("SIMULATED") for c in a.caveats)
    assert coverage_caveats(_alert(("hall",), ("truck",)), scored) == []
