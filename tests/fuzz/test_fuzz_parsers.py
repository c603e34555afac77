"""Parsers of user files under hypothesis: any bytes are parsed or refused with a SitewatchError.

The same targets run for a set time under atheris from ``benchmarks/fuzz.py``. Regressions
for findings sit at the bottom of this file.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from sitewatch.errors import SiteError
from sitewatch.sites.geojson import read_sites

from .targets import SEEDS, TARGETS, inputs


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_parser_never_crashes(name: str) -> None:
    @given(data=inputs(name))
    @settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
    def run(data: bytes) -> None:
        TARGETS[name](data)

    for seed in SEEDS[name]:  # the seeds themselves parse
        TARGETS[name](seed)
    run()


# --- regressions for findings


def test_event_csv_with_a_misnamed_column_is_refused(tmp_path: Path) -> None:
    from sitewatch.analytics.events import read_events
    from sitewatch.errors import CatalogueError

    path = tmp_path / "events.csv"
    path.write_text("date,type,events\n2024-01-01,launch,x\n")
    with pytest.raises(CatalogueError):
        read_events(path)


@given(props=st.one_of(st.lists(st.integers(), min_size=1), st.integers().filter(bool), st.text(min_size=1)))
@example(props=[1, 2])
@settings(max_examples=20, deadline=None)
def test_feature_properties_that_are_not_an_object_are_refused(
    tmp_path_factory: pytest.TempPathFactory, props: object
) -> None:
    feature = {"type": "Feature", "properties": props, "geometry": {"type": "Point", "coordinates": [0, 0]}}
    feature["geometry"] = {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]}
    path = Path(tmp_path_factory.mktemp("props")) / "sites.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [feature]}))
    with pytest.raises(SiteError, match="'properties' is not an object"):
        read_sites(path)
