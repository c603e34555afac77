"""Site catalogues: GeoJSON read/write/validation, the built-in table and the `sites` command."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pyproj import Geod
from shapely.geometry import box, mapping
from typer.testing import CliRunner

from sitewatch.cli.main import app
from sitewatch.errors import SiteError
from sitewatch.sites.builtin import FACILITIES, builtin_sites
from sitewatch.sites.geojson import read_sites, write_sites

BOWTIE = {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}


def site_feature(site_id: str = "s1", geom: Any = None, **props: Any) -> dict[str, Any]:
    geometry = geom if geom is not None else mapping(box(124.70, 39.65, 124.72, 39.67))
    return {
        "type": "Feature",
        "properties": {"type": "site", "id": site_id, "name": f"Site {site_id}", **props},
        "geometry": geometry,
    }


def zone_feature(zone_id: str = "pad", site_id: str = "s1", kind: str = "pad", geom: Any = None) -> dict[str, Any]:
    geometry = geom if geom is not None else mapping(box(124.705, 39.655, 124.71, 39.66))
    props = {"site_id": site_id, "id": zone_id, "name": zone_id.title(), "kind": kind}
    return {"type": "Feature", "properties": props, "geometry": geometry}


def write_fc(path: Path, features: list[dict[str, Any]]) -> Path:
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return path


def test_read_sites_with_zones(tmp_path: Path) -> None:
    path = write_fc(
        tmp_path / "ok.geojson",
        [
            zone_feature("hall", kind="assembly_hall"),  # zones may come before their site
            site_feature(country="KP", description="launch site", simulated=True),
            zone_feature("pad"),
            site_feature("s2", geom=mapping(box(125, 39, 125.01, 39.01))),
        ],
    )
    sites = read_sites(path)
    assert [s.id for s in sites] == ["s1", "s2"]
    s1 = sites[0]
    assert (s1.country, s1.description, s1.simulated) == ("KP", "launch site", True)
    assert [(z.id, z.kind) for z in s1.zones] == [("hall", "assembly_hall"), ("pad", "pad")]
    assert sites[1].zones == () and sites[1].simulated is False


def test_write_then_read_round_trips(tmp_path: Path) -> None:
    sites = read_sites(write_fc(tmp_path / "in.geojson", [site_feature(country="KP"), zone_feature()]))
    out = write_sites(sites, tmp_path / "out.geojson")
    assert read_sites(out) == sites


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("{not json", "invalid JSON at line 1"),
        (json.dumps({"type": "Feature"}), "not a GeoJSON FeatureCollection"),
        (json.dumps({"type": "FeatureCollection"}), "no 'features' list"),
    ],
)
def test_malformed_files_name_the_file(tmp_path: Path, content: str, problem: str) -> None:
    path = tmp_path / "bad.geojson"
    path.write_text(content)
    with pytest.raises(SiteError, match=problem) as err:
        read_sites(path)
    assert str(path) in str(err.value) and "fix:" in str(err.value)


@pytest.mark.parametrize(
    ("features", "problem"),
    [
        ([site_feature(), site_feature()], r"feature 1 \('s1'\): duplicate site id 's1'"),
        ([site_feature(), zone_feature(), zone_feature()], r"feature 2 \('pad'\): duplicate zone id 'pad'"),
        ([site_feature(), zone_feature(kind="launchpad")], "unknown zone kind 'launchpad'"),
        ([site_feature(), zone_feature(site_id="nope")], "unknown site 'nope'"),
        (
            [site_feature(), zone_feature(geom=mapping(box(124.71, 39.66, 124.73, 39.68)))],
            r"zone 'pad' lies 75\.0% outside the AOI of site 's1'",
        ),
        ([site_feature(geom=BOWTIE)], r"feature 0 \('s1'\): invalid polygon \(Self-intersection"),
        ([site_feature(geom={"type": "Point", "coordinates": [1, 2]})], "geometry is Point"),
        ([site_feature(geom=mapping(box(500000, 4400000, 500100, 4400100)))], "not longitude/latitude"),
        ([site_feature(id=None)], "feature 0: missing or non-text properties id"),
    ],
)
def test_invalid_catalogues_say_which_feature(tmp_path: Path, features: list[dict[str, Any]], problem: str) -> None:
    path = write_fc(tmp_path / "sites.geojson", features)
    with pytest.raises(SiteError, match=problem) as err:
        read_sites(path)
    assert str(err.value).startswith(str(path))


def test_fix_repairs_self_intersection(tmp_path: Path) -> None:
    path = write_fc(tmp_path / "bowtie.geojson", [site_feature(geom=BOWTIE)])
    (site,) = read_sites(path, fix=True)
    assert site.aoi.is_valid and site.aoi.geom_type == "MultiPolygon"
    assert site.aoi.area == pytest.approx(0.5)


def test_builtin_sites_match_the_reference_catalogue() -> None:
    sites = builtin_sites(buffer_m=1000)
    assert {s.id for s in sites} >= {"sohae", "tonghae", "sinpo", "sanumdong", "yongbyon"}
    geod = Geod(ellps="WGS84")
    by_id = {f.id: f for f in FACILITIES}
    for site in sites:
        area, _ = geod.geometry_area_perimeter(site.aoi)
        assert abs(area) == pytest.approx(4e6, rel=1e-3)  # 2 km x 2 km
        f = by_id[site.id]
        assert site.aoi.centroid.x == pytest.approx(f.lon, abs=1e-4)
        assert site.aoi.centroid.y == pytest.approx(f.lat, abs=1e-4)
    reference = Path(__file__).resolve().parents[2].parent / "shared/data/reference/nk-missile-tests/facility.en.json"
    if not reference.is_file():
        pytest.skip("shared reference data not present")
    known = json.loads(reference.read_text())["facilities"]
    for f in FACILITIES:
        if f.facility is not None:
            assert (known[f.facility]["lat"], known[f.facility]["lon"]) == (f.lat, f.lon), f.id


def test_cli_import_list_show_export(tmp_path: Path) -> None:
    runner = CliRunner()
    db = str(tmp_path / "cli.db")
    src = write_fc(tmp_path / "sites.geojson", [site_feature(simulated=True), zone_feature()])
    result = runner.invoke(app, ["sites", "import", str(src), "--db", db])
    assert result.exit_code == 0, result.output
    assert "Imported 1 site(s) with 1 zone(s)" in result.output

    listed = json.loads(runner.invoke(app, ["sites", "list", "--db", db, "--json"]).output)
    assert [s["id"] for s in listed["sites"]] == ["s1"] and listed["sites"][0]["scenes"] == 0

    shown = json.loads(runner.invoke(app, ["sites", "show", "s1", "--db", db, "--json"]).output)
    assert shown["zones"][0]["kind"] == "pad" and shown["simulated"] is True

    table = runner.invoke(app, ["sites", "show", "s1", "--db", db])
    assert "SIMULATED" in table.output

    missing = runner.invoke(app, ["sites", "show", "nope", "--db", db])
    assert missing.exit_code == 1 and "no site 'nope'" in missing.output

    out = tmp_path / "export.geojson"
    assert runner.invoke(app, ["sites", "export", str(out), "--db", db]).exit_code == 0
    assert read_sites(out) == read_sites(src)


def test_cli_import_rejects_bad_file_and_fix_repairs(tmp_path: Path) -> None:
    runner = CliRunner()
    db = str(tmp_path / "cli.db")
    src = write_fc(tmp_path / "bowtie.geojson", [site_feature(geom=BOWTIE)])
    bad = runner.invoke(app, ["sites", "import", str(src), "--db", db])
    assert bad.exit_code == 1 and "invalid polygon" in bad.output and "--fix" in bad.output
    assert runner.invoke(app, ["sites", "import", str(src), "--db", db, "--fix"]).exit_code == 0


def test_cli_builtin_import(tmp_path: Path) -> None:
    runner = CliRunner()
    db = str(tmp_path / "cli.db")
    result = runner.invoke(app, ["sites", "builtin", "--import", "--db", db, "--json"])
    assert result.exit_code == 0, result.output
    listed = json.loads(runner.invoke(app, ["sites", "list", "--db", db, "--json"]).output)
    assert {s["id"] for s in listed["sites"]} == {f.id for f in FACILITIES}


def test_feature_level_id_and_collection_simulated_flag(tmp_path: Path) -> None:
    feature = site_feature()
    feature["id"] = feature["properties"].pop("id")
    path = tmp_path / "sim.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "simulated": True, "features": [feature]}))
    (site,) = read_sites(path)
    assert site.id == "s1" and site.simulated is True
