"""Ground-truth comparison maths, on hand-built truth tables."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import pandas as pd
import pytest
from shapely.geometry import Point

from sitewatch.evaluation import alert_metrics, count_metrics, detection_metrics
from sitewatch.model import Alert, Count, Detection


def _det(scene: str, cls: str, x: float, y: float, half: float = 5) -> Detection:
    return Detection(scene, cls, 0.9, (x - half, y - half, x + half, y + half), Point(0, 0), "test@1")


def _objects(rows: Sequence[tuple[str, str, float, float, bool]]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"scene_id": s, "cls": c, "x0": x - 6, "y0": y - 3, "x1": x + 6, "y1": y + 3, "visible": v}
            for s, c, x, y, v in rows
        ]
    )


def test_detection_matching_counts_each_truth_once() -> None:
    truth = _objects([("s1", "car", 100, 100, True), ("s1", "car", 140, 100, True), ("s1", "truck", 300, 300, False)])
    dets = [
        _det("s1", "car", 101, 100),  # matches the first car
        _det("s1", "car", 100, 101),  # a duplicate of it: a false positive
        _det("s1", "car", 400, 400),  # nothing there
        _det("s1", "truck", 300, 300),  # the truck is not visible, so this is a false positive
    ]
    m = detection_metrics(truth, dets, {"s1": 0.5})
    assert m["per_class"]["car"] == {
        "truth": 2,
        "detected": 3,
        "true_positives": 1,
        "precision": 1 / 3,
        "recall": 0.5,
        "count_error": 0.5,
    }
    assert m["per_class"]["truck"]["true_positives"] == 0
    assert m["precision"] == pytest.approx(1 / 4)
    assert m["recall"] == pytest.approx(1 / 2)


def test_count_error_sums_each_scenes_miscount() -> None:
    truth = _objects(
        [("s1", "car", 100, 100, True), ("s1", "car", 140, 100, True), ("s1", "truck", 300, 300, True)]
        + [("s2", "car", 100 + 20 * i, 100, True) for i in range(4)]
        + [("s2", "car", 300, 300, False)]
    )
    dets = [
        _det("s1", "car", 100, 100),
        _det("s1", "car", 140, 100),
        _det("s1", "car", 300, 300),  # the truck, taken for a car: one vehicle either way
        *(_det("s2", "car", 100 + 20 * i, 100) for i in range(2)),  # two of the four visible cars
    ]
    m = detection_metrics(truth, dets, {"s1": 0.5, "s2": 0.5})
    # s1 is counted right in all (3 of 3), s2 is 2 short of 4; the over- and undercount of
    # cars in the two scenes do not cancel out.
    assert m["count_error"] == pytest.approx(2 / 7)
    assert m["median_scene_count_error"] == pytest.approx((0 + 2 / 4) / 2)
    assert m["per_class"]["car"]["count_error"] == pytest.approx((1 + 2) / 6)
    assert m["per_class"]["truck"]["count_error"] == 1.0


def test_detection_gate_is_at_least_two_metres() -> None:
    truth = _objects([("s1", "car", 100, 100, True)])
    near = detection_metrics(truth, [_det("s1", "car", 106.5, 100)], {"s1": 0.3})  # 6.5 px = 1.95 m
    far = detection_metrics(truth, [_det("s1", "car", 108, 100)], {"s1": 0.3})  # 8 px = 2.4 m > 6 px half-length
    assert near["recall"] == 1.0
    assert far["recall"] == 0.0


def _count(zone: str, cls: str, day: int, est: float, sufficient: bool = True) -> Count:
    d = dt.date(2024, 1, day)
    return Count("site", zone, cls, d, f"sc{day}", int(est), 1.0, est, est - 1, est + 1, sufficient)


def test_count_errors_skip_insufficient_observations() -> None:
    activity = pd.DataFrame(
        [
            {"site_id": "site", "zone_id": "z", "cls": "car", "date": "2024-01-01", "true_count": 10},
            {"site_id": "site", "zone_id": "z", "cls": "car", "date": "2024-01-02", "true_count": 20},
            {"site_id": "site", "zone_id": "z", "cls": "car", "date": "2024-01-03", "true_count": 5},
        ]
    )
    m = count_metrics(activity, [_count("z", "car", 1, 12), _count("z", "car", 2, 15), _count("z", "car", 3, 0, False)])
    assert m["n"] == 2
    assert m["mae"] == pytest.approx(3.5)
    assert m["mape"] == pytest.approx((0.2 + 0.25) / 2)
    assert m["count_error"] == pytest.approx((2 + 5) / 30)


def test_the_corrected_count_error_sums_classes_per_zone_day() -> None:
    """A truck counted as a car is no miscount of the zone's vehicles; a missed one is."""
    truth = [("z", "car", 1, 10), ("z", "truck", 1, 2), ("y", "car", 1, 4)]
    activity = pd.DataFrame(
        [{"site_id": "site", "zone_id": z, "cls": c, "date": f"2024-01-0{d}", "true_count": n} for z, c, d, n in truth]
    )
    counts = [_count("z", "car", 1, 11), _count("z", "truck", 1, 1), _count("y", "car", 1, 3)]
    assert count_metrics(activity, counts)["count_error"] == pytest.approx(1 / 16)


def _alert(site: str, start: dt.date, end: dt.date) -> Alert:
    return Alert(f"a-{start}", site, start, end, 5.0, "high", ("z",), ("truck",), "test")


def test_alert_recall_precision_and_lead() -> None:
    episodes = pd.DataFrame(
        [
            {
                "episode_id": "e1",
                "site_id": "s",
                "kind": "pre_event_ramp",
                "start": "2024-03-01",
                "end": "2024-03-10",
                "zones": "z",
                "classes": "truck",
                "event_id": "ev1",
            },
            {
                "episode_id": "e2",
                "site_id": "s",
                "kind": "pre_event_ramp",
                "start": "2024-06-01",
                "end": "2024-06-10",
                "zones": "z",
                "classes": "truck",
                "event_id": "ev2",
            },
            {
                "episode_id": "e3",
                "site_id": "s",
                "kind": "quiet",
                "start": "2024-08-01",
                "end": "2024-08-20",
                "zones": "z",
                "classes": "truck",
                "event_id": None,
            },
        ]
    )
    events = pd.DataFrame([{"event_id": "ev1", "date": "2024-03-11"}, {"event_id": "ev2", "date": "2024-06-11"}])
    alerts = [
        _alert("s", dt.date(2024, 3, 5), dt.date(2024, 3, 9)),  # 6 days before ev1
        _alert("s", dt.date(2024, 8, 5), dt.date(2024, 8, 6)),  # in a quiet period: false
        _alert("other", dt.date(2024, 6, 5), dt.date(2024, 6, 6)),  # wrong site: false
    ]
    m = alert_metrics(episodes, events, alerts)
    assert m["recall"] == 0.5
    assert m["precision"] == pytest.approx(1 / 3)
    assert m["false_alarms"] == 2
    assert m["median_lead_days"] == 6.0
