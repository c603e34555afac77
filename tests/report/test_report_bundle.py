"""The JSON evidence bundle: lossless round trip, simulated flag, bad input."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pytest

from sitewatch.errors import InputError
from sitewatch.report.bundle import collect, from_json, read_bundle, to_json, write_bundle


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
