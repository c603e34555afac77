"""Change endpoints: per site between dates and per alert, their figures, bad input and the cache."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator

import pytest
import shapely
from fastapi.testclient import TestClient

from sitewatch.change.pipeline import compare_site
from sitewatch.store import open_store

from .conftest import Keys, World, add_users, build_world

SITE = "/api/v1/sites/test-site/change"
FIRST, LAST = "2024-03-01", "2024-05-17"  # the dates of scene-00 and scene-11


@pytest.fixture(scope="module")
def textured(tmp_path_factory: pytest.TempPathFactory) -> tuple[World, Keys]:
    """A world whose scenes show one ground, with a roof built in the last three."""
    world = build_world(tmp_path_factory.mktemp("change-world"), textured=True)
    # A second site seen by two scenes that each see a different half of it: no common ground.
    site = dataclasses.replace(world.site, id="split-site", name="Split site")
    minx, miny, maxx, maxy = site.aoi.bounds
    mid = (minx + maxx) / 2
    store = open_store(world.url)
    try:
        store.upsert_site(site)
        for k, (x0, x1) in enumerate([(minx - 1e-4, mid - 1e-5), (mid + 1e-5, maxx + 1e-4)]):
            half = shapely.box(x0, miny - 1e-4, x1, maxy + 1e-4)
            scene = dataclasses.replace(
                world.scenes[k],
                id=f"half-{k}",
                acquired=dt.datetime(2024, 6, 1 + 9 * k, 2, tzinfo=dt.UTC),
                valid=world.scenes[k].footprint.intersection(half),
                content_hash=f"half-{k}",
            )
            store.add_scene(scene, [site.id])
    finally:
        store.close()
    return world, add_users(world.url)


@pytest.fixture(scope="module")
def tclient(textured: tuple[World, Keys]) -> Iterator[TestClient]:
    from sitewatch.api.app import create_app
    from sitewatch.api.settings import ApiSettings

    app = create_app(textured[0].url, settings=ApiSettings(rate_per_second=1000, rate_burst=1000))
    with TestClient(app) as c:
        c.headers["X-API-Key"] = textured[1].viewer
        yield c


def test_site_change_reports_scenes_polygons_objects_and_structures(tclient: TestClient, textured) -> None:  # type: ignore[no-untyped-def]
    r = tclient.get(SITE, params={"from": FIRST, "to": LAST})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["simulated"] is True
    assert (body["before"]["scene_id"], body["after"]["scene_id"]) == ("scene-00", "scene-11")
    assert body["requested"] == [FIRST, LAST]
    a = body["alignment"]
    assert a["reliable"] and a["residual_px"] is not None and a["residual_px"] < 1.0
    assert body["structure_changes"].get("new_structure") == 1
    roof = [f for f in body["polygons"]["features"] if f["properties"]["kind"] == "new_structure"]
    assert len(roof) == 1 and roof[0]["geometry"]["type"] in ("Polygon", "MultiPolygon")
    assert 100 < roof[0]["properties"]["area_m2"] < 250  # 20 x 30 px at 0.5 m = 150 m²
    assert 0 < roof[0]["properties"]["confidence"] <= 1 and roof[0]["properties"]["simulated"] is True
    assert body["changed_area_m2"] >= roof[0]["properties"]["area_m2"]
    # Trucks are stored at fixed slots: the extra ones after are arrivals on the pad.
    store = open_store(textured[0].url)
    try:
        n0, n1 = (len(store.list_detections(scene_id=s)) for s in ("scene-00", "scene-11"))
    finally:
        store.close()
    flows = {(f["zone_id"], f["cls"]): f for f in body["flows"]}
    assert flows[("pad", "truck")]["appeared"] == n1 - n0 and flows[("pad", "truck")]["departed"] == 0
    assert body["objects"]["appeared"] == n1 - n0
    assert "1 new structure" in body["summary"] and f"appeared: {n1 - n0} truck" in body["summary"]


def test_site_change_is_what_the_cli_computes(tclient: TestClient, textured) -> None:  # type: ignore[no-untyped-def]
    body = tclient.get(SITE, params={"from": FIRST, "to": LAST}).json()
    store = open_store(textured[0].url)
    try:
        expected = compare_site(store, "test-site", dt.date(2024, 3, 1), dt.date(2024, 5, 17)).summary()
    finally:
        store.close()
    assert body["changed_area_m2"] == pytest.approx(expected["changed_area_m2"])
    assert body["regions"] == expected["regions"] and body["objects"] == expected["objects"]
    assert body["caveats"] == expected["caveats"]


def test_figure_is_a_png_at_the_advertised_url(tclient: TestClient) -> None:
    body = tclient.get(SITE, params={"from": FIRST, "to": LAST}).json()
    r = tclient.get(body["figure_url"])
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    assert r.content.startswith(b"\x89PNG")


def test_same_pair_is_computed_once_but_answers_its_own_dates(
    tclient: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sitewatch.api.routes.change as routes

    calls = []
    real = routes.compare_scenes

    def counting(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(args[2:4])
        return real(*args, **kwargs)

    monkeypatch.setattr(routes, "compare_scenes", counting)
    params = {"from": "2024-03-08", "to": "2024-05-10"}  # scene-01 and scene-10, exactly
    first = tclient.get(SITE, params=params).json()
    again = tclient.get(SITE, params={"from": "2024-03-09", "to": "2024-05-10"}).json()  # same pair
    tclient.get(first["figure_url"])
    assert len(calls) == 1
    assert first["before"]["scene_id"] == again["before"]["scene_id"] == "scene-01"
    assert again["requested"] == ["2024-03-09", "2024-05-10"]
    assert any("1 day(s) from the requested 2024-03-09" in c for c in again["caveats"])
    assert not any("from the requested" in c for c in first["caveats"])


def test_alert_change_compares_last_scene_before_with_first_in_window(tclient: TestClient, textured) -> None:  # type: ignore[no-untyped-def]
    world = textured[0]
    r = tclient.get(f"/api/v1/alerts/{world.alert.id}/change")
    assert r.status_code == 200, r.text
    body = r.json()
    before = max((s for s in world.scenes if s.acquired.date() < world.alert.start), key=lambda s: s.acquired)
    after = min((s for s in world.scenes if s.acquired.date() >= world.alert.start), key=lambda s: s.acquired)
    assert (body["before"]["scene_id"], body["after"]["scene_id"]) == (before.id, after.id)
    assert body["simulated"] is True
    png = tclient.get(body["figure_url"])
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG")


@pytest.mark.parametrize(
    ("path", "params", "status", "says"),
    [
        ("/api/v1/sites/nowhere/change", {"from": FIRST, "to": LAST}, 404, "no site"),
        (SITE, {"from": LAST, "to": FIRST}, 400, "must be after"),
        (SITE, {"from": FIRST, "to": FIRST}, 400, "must be after"),
        (SITE, {"from": "2023-01-01", "to": LAST}, 400, "within 30 day(s) of 2023-01-01"),
        (SITE, {"from": FIRST, "to": "2025-01-01", "max_days": 5}, 400, "within 5 day(s) of 2025-01-01"),
        (SITE + ".png", {"from": LAST, "to": FIRST}, 400, "must be after"),
        (SITE, {"to": LAST}, 422, "from"),
        (SITE, {"from": "yesterday", "to": LAST}, 422, "date"),
        ("/api/v1/alerts/no-such-alert/change", {}, 404, "alert"),
        ("/api/v1/sites/split-site/change", {"from": "2024-06-01", "to": "2024-06-10"}, 400, "no common valid pixels"),
    ],
)
def test_bad_input_is_a_clear_4xx(
    tclient: TestClient, path: str, params: dict[str, object], status: int, says: str
) -> None:
    r = tclient.get(path, params=params)
    assert r.status_code == status, r.text
    assert says in str(r.json()["detail"])


def test_scenes_that_cannot_be_compared_are_a_400_with_the_reason(client: TestClient, keys: Keys) -> None:
    # The default world's scenes are independent noise: nothing to co-register on.
    headers = {"X-API-Key": keys.viewer}
    for path in (SITE, SITE + ".png"):
        r = client.get(path, params={"from": FIRST, "to": LAST}, headers=headers)
        assert r.status_code == 400 and "co-registered" in r.json()["detail"], r.text
    r = client.get("/api/v1/alerts/alert-1/change", headers=headers)
    assert r.status_code == 400 and "co-registered" in r.json()["detail"]


def test_change_needs_credentials(tclient: TestClient) -> None:
    for path in (SITE, SITE + ".png", "/api/v1/alerts/alert-1/change"):
        r = tclient.get(path, params={"from": FIRST, "to": LAST}, headers={"X-API-Key": "not-a-key"})
        assert r.status_code == 401, path


def test_change_is_in_the_openapi_schema(tclient: TestClient) -> None:
    paths = tclient.get("/api/v1/openapi.json").json()["paths"]
    for p in ("/sites/{site_id}/change", "/sites/{site_id}/change.png", "/alerts/{alert_id}/change"):
        assert "get" in paths[f"/api/v1{p}"], p
    params = {q["name"] for q in paths["/api/v1/sites/{site_id}/change"]["get"]["parameters"]}
    assert {"from", "to", "max_days", "detector"} <= params
