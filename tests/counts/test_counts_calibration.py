"""Per-class count calibration: fitting, serialisation, use in counts and in the observation frame."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sitewatch.analytics.series import counts_frame
from sitewatch.counts import CountCalibration, Detectability, compute_counts, fit_count_calibration, poisson_interval
from sitewatch.counts.estimate import thinning_of
from sitewatch.errors import InputError

from .test_counts_core import det, make_scene, metric_box, site_with_two_zones

CURVE = Detectability(p_max=0.8, gsd50=0.7, gsd_scale=0.1, sun50=10.0, sun_scale=3.0, k=1.0)


def simulated_outcomes(rng: np.random.Generator, yields: dict[str, float], n_scenes: int = 300) -> pd.DataFrame:
    """Outcomes of a detector whose matched rate follows CURVE and whose yield per class is known."""
    rows = []
    for i in range(n_scenes):
        gsd, on, sun = rng.uniform(0.3, 0.9), rng.uniform(0, 30), rng.uniform(5, 70)
        p = float(CURVE(gsd, on, sun))
        for cls, y in yields.items():
            present = int(rng.integers(5, 40))
            matched = int(rng.binomial(present, p))
            detected = int(rng.poisson(y * p * present))
            rows.append((f"s{i}", cls, gsd, on, sun, present, matched, detected))
    return pd.DataFrame(
        rows, columns=["scene_id", "cls", "gsd", "off_nadir", "sun_elevation", "present", "matched", "detected"]
    )


def test_fit_recovers_the_curve_and_each_class_yield() -> None:
    yields = {"car": 1.0, "truck": 0.4, "crane": 1.3}
    cal = fit_count_calibration(simulated_outcomes(np.random.default_rng(3), yields), detector="m@1")
    assert cal.detector == "m@1"
    assert cal.curve.gsd50 == pytest.approx(CURVE.gsd50, abs=0.05)
    assert dict(cal.class_yield) == pytest.approx(yields, rel=0.08)
    # Rates are per class; a class with false positives yields more than its curve.
    assert cal.rate("truck", 0.4, 10, 50) < cal.rate("car", 0.4, 10, 50) < cal.rate("crane", 0.4, 10, 50)
    assert cal.rate("bus", 0.4, 10, 50) == pytest.approx(float(cal.curve(0.4, 10, 50)))  # not calibrated


def test_classes_with_few_objects_keep_the_plain_curve() -> None:
    out = simulated_outcomes(np.random.default_rng(4), {"car": 1.0}, n_scenes=60)
    rare = out.head(1).assign(cls="locomotive", present=3, matched=1, detected=1)
    cal = fit_count_calibration(pd.concat([out, rare]))
    assert "locomotive" not in dict(cal.class_yield)


def test_a_gsd_fit_on_a_narrow_range_stays_bounded() -> None:
    """GSD has no effect within 0.3-0.8 m here: the fit must not run off to absurd half-rate GSDs."""
    rng = np.random.default_rng(5)
    out = simulated_outcomes(rng, {"car": 1.0})
    out["matched"] = rng.binomial(out["present"], 0.6)
    cal = fit_count_calibration(out)
    assert cal.curve.gsd50 <= 5.0 and cal.curve.gsd_scale <= 2.0
    assert cal.curve(0.55, 10, 50) == pytest.approx(0.6, abs=0.05)


def test_a_sun_fit_on_a_narrow_range_puts_no_cliff_at_its_edge() -> None:
    """The sun never fell below 39° and the lowest-sun scenes happened to go badly: the fit
    must not turn that into a cliff that wipes out the rate at 33°."""
    rng = np.random.default_rng(6)
    out = simulated_outcomes(rng, {"car": 1.0}, n_scenes=60)
    out["sun_elevation"] = rng.uniform(39.0, 68.0, len(out))
    out["matched"] = rng.binomial(out["present"], 0.7)
    low = out["sun_elevation"] < 40.0
    out.loc[low, "matched"] = 0
    out.loc[low, "detected"] = 0
    cal = fit_count_calibration(out)
    assert cal.curve.sun_scale >= 2.0 and cal.curve.sun50 <= 25.0
    assert cal.curve(0.5, 10, 33) > 0.9 * cal.curve(0.5, 10, 55)


def test_conditions_outside_the_calibration_are_held_at_its_edge() -> None:
    """Calibrated on 39-68° sun and 0.3-0.9 m: a 25° scene is corrected as a 39° one, not by
    a curve extrapolated where the simulation never looked; old calibrations without the
    recorded range still extrapolate."""
    rng = np.random.default_rng(7)
    out = simulated_outcomes(rng, {"car": 1.0}, n_scenes=80)
    out["sun_elevation"] = rng.uniform(39.0, 68.0, len(out))
    cal = fit_count_calibration(out)
    ranges = {name: (lo, hi) for name, lo, hi in cal.fitted_range}
    assert set(ranges) == {"gsd", "off_nadir", "sun_elevation"}
    assert ranges["sun_elevation"][0] <= out["sun_elevation"].min() < ranges["sun_elevation"][0] + 0.01
    edge = ranges["sun_elevation"][0]
    assert cal.rate("car", 0.5, 10, 25.0) == cal.rate("car", 0.5, 10, edge)
    assert cal.rate("car", 0.5, 10, 50.0) == pytest.approx(float(dict(cal.class_yield)["car"] * cal.curve(0.5, 10, 50)))
    assert cal.rate("car", 2.0, 10, 50.0) == cal.rate("car", ranges["gsd"][1], 10, 50.0)
    again = CountCalibration.from_dict(json.loads(json.dumps(cal.as_dict())))
    assert again == cal
    legacy = cal.as_dict()
    del legacy["fitted_range"]
    old = CountCalibration.from_dict(legacy)
    assert old.rate("car", 0.5, 10, 25.0) == pytest.approx(float(dict(cal.class_yield)["car"] * cal.curve(0.5, 10, 25)))
    with pytest.raises(InputError, match="fitted range"):
        CountCalibration.from_dict({**cal.as_dict(), "fitted_range": {"gsd": [0.9, 0.3]}})


def test_a_barely_detectable_class_is_flagged_not_scaled_up() -> None:
    site = site_with_two_zones()
    scene = make_scene(metric_box(-50, -50, 350, 150), sun=30.0, off_nadir=0.0)
    cliff = Detectability(p_max=1.0, gsd50=5.0, gsd_scale=0.01, sun50=38.9, sun_scale=0.13, k=1.0)
    counts = compute_counts(site, scene, [det(10, 10) for _ in range(3)], detectability=cliff)
    trucks = {c.zone_id: c for c in counts if c.cls == "truck"}
    assert not trucks["pad"].sufficient
    assert trucks["pad"].estimate == trucks["pad"].lo == trucks["pad"].hi == 3


def test_yield_above_one_lowers_the_estimate_below_raw() -> None:
    site = site_with_two_zones()
    scene = make_scene(metric_box(-50, -50, 350, 150), sun=90.0, off_nadir=0.0)
    flat = Detectability(p_max=1.0, gsd50=5.0, gsd_scale=0.01, sun50=0.0, sun_scale=0.01, k=1.0)
    cal = CountCalibration(flat, (("truck", 4.0),))
    counts = compute_counts(site, scene, [det(10, 10) for _ in range(8)], detectability=cal)
    trucks = {c.zone_id: c for c in counts if c.cls == "truck"}
    assert trucks["pad"].estimate == pytest.approx(2.0)
    assert trucks["pad"].lo < trucks["pad"].estimate < trucks["pad"].hi


def test_round_trip_and_malformed_calibration() -> None:
    cal = CountCalibration(CURVE, (("car", 0.9), ("truck", 0.5)), detector="m@1", source="SIMULATED seed 1")
    again = CountCalibration.from_dict(json.loads(json.dumps(cal.as_dict())))
    assert again == cal
    with pytest.raises(InputError):
        CountCalibration.from_dict({"class_yield": {"car": 1.0}})
    with pytest.raises(InputError):
        CountCalibration.from_dict({"curve": CURVE.as_dict(), "class_yield": {"car": -1.0}})
    with pytest.raises(InputError):
        fit_count_calibration(pd.DataFrame({"cls": ["car"]}))


def test_counts_use_the_class_yield_and_the_frame_recovers_q_per_class() -> None:
    site = site_with_two_zones()
    scene = make_scene(metric_box(-50, -50, 350, 150))
    cal = CountCalibration(CURVE, (("truck", 0.5),))
    dets = [det(10, 10), det(50, 50), det(80, 20, "car")]
    counts = compute_counts(site, scene, dets, detectability=cal)
    by = {(c.zone_id, c.cls): c for c in counts}
    p_car = float(CURVE(0.3, 5.0, 50.0))
    assert by[("pad", "car")].estimate == pytest.approx(1 / p_car)
    assert by[("pad", "truck")].estimate == pytest.approx(2 / (0.5 * p_car))
    frame = counts_frame(counts).set_index(["zone_id", "cls"])
    assert frame.loc[("pad", "truck"), "q"] == pytest.approx(0.5 * p_car, rel=1e-6)
    assert frame.loc[("pad", "bus"), "q"] == pytest.approx(p_car, rel=1e-6)  # raw 0: q still known


@pytest.mark.parametrize("raw", [0, 1, 7, 40])
@pytest.mark.parametrize("q", [0.05, 0.4, 1.0, 2.5])
def test_thinning_inverts_the_poisson_interval(raw: int, q: float) -> None:
    _, hi = poisson_interval(raw, q)
    assert thinning_of(np.array([raw]), np.array([hi]))[0] == pytest.approx(q, rel=1e-9)


def test_bundled_calibration_is_found_by_detector_name(tmp_path: Path) -> None:
    from sitewatch.detect import CALIBRATION_KEY, calibration_for

    cal = CountCalibration(CURVE, (("car", 0.7),), detector="tiny@3")
    (tmp_path / "tiny.json").write_text(json.dumps({"name": "tiny", "version": "3", CALIBRATION_KEY: cal.as_dict()}))
    (tmp_path / "other.json").write_text(json.dumps({"name": "other", "version": "1"}))
    assert calibration_for("tiny@3", tmp_path) == cal
    assert calibration_for("tiny@4", tmp_path) is None  # another version must be calibrated again
    assert calibration_for("other@1", tmp_path) is None
