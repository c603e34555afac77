"""The JSON evidence bundle: lossless round trip, simulated flag, bad input."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pytest

from sitewatch.errors import InputError
from sitewatch.model import Baseline
from sitewatch.report.bundle import collect, from_json, read_bundle, to_json, write_bundle
from sitewatch.report.html import baseline_bands


def test_bundle_round_trips(sim_store, tmp_path: Path) -> None:
    counts = sim_store.counts["test-site"]
    unseen = dataclasses.replace(
        counts[0], cls="bus", raw=0, observed_fraction=0.0, estimate=0.0, lo=0.0, hi=math.inf, sufficient=False
    )
    sim_store.replace_counts("test-site", [*counts, unseen])
    bundle = collect(sim_store, "test-site")
    path = write_bundle(bundle, tmp_path / "b" / "bundle.json")
    back = read_bundle(path)
    assert back == bundle
    assert unseen in back.counts
    json.loads(path.read_text(), parse_constant=lambda c: pytest.fail(f"non-JSON constant {c}"))
    assert back.site.aoi.equals_exact(bundle.site.aoi, 0)
    assert back.alerts[0].hypotheses == sim_store.alerts["test-site"][0].hypotheses
    assert back.runs[1].finished is None


def test_bundle_carries_the_stored_baselines_and_the_report_draws_them(sim_store) -> None:
    days = sorted({c.date for c in sim_store.counts["test-site"]})
    stored = [Baseline("test-site", "car_park", "car", d, 2.0 + i, 0.0, 6.0 + i) for i, d in enumerate(days[3:])]
    sim_store.replace_baselines("test-site", stored[::-1])
    bundle = collect(sim_store, "test-site")
    assert sorted(bundle.baselines, key=lambda b: b.date) == stored
    assert from_json(to_json(bundle)) == bundle
    band = baseline_bands(bundle.baselines)[("car_park", "car")]
    assert band.dates == tuple(days[3:]) and band.centre == tuple(b.expected for b in stored)
    assert band.lo == tuple(b.lo for b in stored) and band.hi == tuple(b.hi for b in stored)
    # A bundle written before baselines were stored still reads, with none.
    old = to_json(bundle)
    del old["baselines"]
    assert from_json(old).baselines == ()


@pytest.mark.parametrize(("fixture", "flag"), [("sim_store", True), ("real_store", False)])
def test_bundle_says_whether_it_is_simulated(fixture: str, flag: bool, request, tmp_path: Path) -> None:
    store = request.getfixturevalue(fixture)
    path = write_bundle(collect(store, "test-site"), tmp_path / "bundle.json")
    doc = json.loads(path.read_text(), parse_constant=lambda c: pytest.fail(f"non-JSON constant {c}"))
    assert doc["simulated"] is flag
    assert {"site", "counts", "alerts", "events", "scenes", "runs", "detectors"} <= doc.keys()
    assert doc["site"]["aoi"]["type"] == "Polygon"


def test_bundle_detectors_come_from_the_store(sim_store) -> None:
    bundle = collect(sim_store, "test-site")
    assert bundle.detectors == ("fake@1",)


def test_not_a_bundle_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not a sitewatch evidence bundle"):
        from_json({"site": {}})
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(InputError, match=r"bad\.json"):
        read_bundle(bad)


def test_truncated_bundle_is_an_input_error(sim_store) -> None:
    doc = to_json(collect(sim_store, "test-site"))
    del doc["site"]["aoi"]
    with pytest.raises(InputError, match="malformed"):
        from_json(doc)
