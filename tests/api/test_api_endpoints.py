"""The REST resources against the generated store: values come back as stored, filters filter."""

from __future__ import annotations

import datetime as dt
import io
import math
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from sitewatch.api.pdf import find_chromium
from sitewatch.api.tiles import EMPTY_TILE, tile_bounds


def _get(client: TestClient, key: str, path: str, **params: object) -> Any:
    r = client.get(f"/api/v1{path}", headers={"X-API-Key": key}, params=params)  # type: ignore[arg-type]
    assert r.status_code == 200, r.text
    return r.json()


def _tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2**z
    return int((lon + 180) / 360 * n), int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)


def test_healthz_needs_no_credentials_and_reports_simulated(client):
    r = client.get("/api/v1/healthz")
    assert r.status_code == 200
    assert r.json()["sites"] == 1 and r.json()["simulated"] is True


def test_sites_list_get_and_geojson(client, keys, world):
    sites = _get(client, keys.viewer, "/sites")
    assert [s["id"] for s in sites] == [world.site.id]
    one = _get(client, keys.viewer, f"/sites/{world.site.id}")
    assert [z["id"] for z in one["zones"]] == ["pad", "park"]
    assert one["simulated"] is True
    np.testing.assert_allclose(one["bbox"], world.site.aoi.bounds)
    fc = _get(client, keys.viewer, "/sites.geojson")
    kinds = sorted(f["properties"].get("type", "zone") for f in fc["features"])
    assert kinds == ["site", "zone", "zone"]


def test_sites_create_and_update_round_trip(client, keys, world):
    fc = _get(client, keys.viewer, f"/sites/{world.site.id}/geojson")
    new: dict[str, Any] = {
        "type": "FeatureCollection",
        "features": [{**f, "properties": {**f["properties"]}} for f in fc["features"]],
    }
    for f in new["features"]:
        if f["properties"].get("type") == "site":
            f["properties"].update(id="copy", name="Copy")
        else:
            f["properties"]["site_id"] = "copy"
    h = {"X-API-Key": keys.analyst}
    r = client.post("/api/v1/sites", json=new, headers=h)
    assert r.status_code == 201, r.text
    assert r.json()[0]["id"] == "copy" and len(r.json()[0]["zones"]) == 2
    new["features"] = new["features"][:1]
    new["features"][0]["properties"]["name"] = "Renamed"
    r = client.put("/api/v1/sites/copy", json=new, headers=h)
    assert r.status_code == 200, r.text
    assert _get(client, keys.viewer, "/sites/copy")["name"] == "Renamed"
    assert _get(client, keys.viewer, "/sites/copy")["zones"] == []
    r = client.put(f"/api/v1/sites/{world.site.id}", json=new, headers=h)  # body holds another site
    assert r.status_code == 400


def test_invalid_geojson_is_a_422_naming_the_problem(client, keys):
    bad = {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "properties": {"id": "x"}, "geometry": {"type": "Point", "coordinates": [0, 0]}}
        ],
    }
    r = client.post("/api/v1/sites", json=bad, headers={"X-API-Key": keys.analyst})
    assert r.status_code == 400
    assert r.json()["detail"] == (
        "feature 0 ('x'): geometry is Point, not a non-empty (Multi)Polygon — fix: draw sites and zones as polygons"
    )


def test_scenes_filter_by_time(client, keys, world):
    all_scenes = _get(client, keys.viewer, "/scenes", site_id=world.site.id)
    assert [s["id"] for s in all_scenes] == [s.id for s in world.scenes]
    assert "uri" not in all_scenes[0]  # server paths stay on the server
    mid = world.scenes[5].acquired.isoformat()
    later = _get(client, keys.viewer, "/scenes", site_id=world.site.id, start=mid)
    assert [s["id"] for s in later] == [s.id for s in world.scenes[5:]]
    r = client.get("/api/v1/scenes", params={"start": "2024-03-01T00:00:00"}, headers={"X-API-Key": keys.viewer})
    assert r.status_code == 400  # a naive time is ambiguous


def test_detections_filters_and_pages(client, keys, world):
    first = _get(client, keys.viewer, "/detections", site_id=world.site.id, limit=5)
    total = first["total"]
    assert len(first["features"]) == 5 and first["next_offset"] == 5 and first["simulated"] is True
    ids = []
    offset: int | None = 0
    while offset is not None:
        page = _get(client, keys.viewer, "/detections", site_id=world.site.id, limit=7, offset=offset)
        ids += [(f["properties"]["scene_id"], tuple(f["properties"]["box"])) for f in page["features"]]
        offset = page["next_offset"]
    assert len(ids) == total == len(set(ids))
    assert _get(client, keys.viewer, "/detections", site_id=world.site.id, cls="car")["total"] == 0
    last = world.scenes[-1]
    one = _get(client, keys.viewer, "/detections", scene_id=last.id)
    assert {f["properties"]["acquired"][:10] for f in one["features"]} == {last.acquired.date().isoformat()}
    # A bbox around the first truck only keeps the trucks touching it.
    x0, y0, x1, y1 = world.site.zone("pad").geometry.bounds
    west = _get(client, keys.viewer, "/detections", scene_id=last.id, bbox=f"{x0},{y0},{x0 + (x1 - x0) / 8},{y1}")
    assert 0 < west["total"] < one["total"]
    r = client.get("/api/v1/detections", params={"bbox": "1,2,3"}, headers={"X-API-Key": keys.viewer})
    assert r.status_code == 422  # not four numbers: refused by the declared pattern
    r = client.get("/api/v1/detections", params={"bbox": "3,2,1,4"}, headers={"X-API-Key": keys.viewer})
    assert r.status_code == 400 and "min <= max" in r.json()["detail"]


def test_counts_series_with_baseline(client, keys, world):
    series = _get(client, keys.viewer, f"/sites/{world.site.id}/counts")
    assert [(s["zone_id"], s["cls"]) for s in series] == [("pad", "truck"), ("park", "car")]
    trucks = series[0]["points"]
    assert len(trucks) == len(world.scenes)
    assert trucks[-1]["raw"] >= 8  # the busy end the alert is about
    with_band = [p for p in trucks if p["baseline"] is not None]
    assert with_band, "no baseline after the minimum history"
    assert trucks[0]["baseline"] is None  # causal: nothing before the first scene
    assert all(p["baseline_lo"] <= p["baseline"] <= p["baseline_hi"] for p in with_band)
    only = _get(client, keys.viewer, f"/sites/{world.site.id}/counts", zone_id="pad", cls="truck", baseline=False)
    assert len(only) == 1 and only[0]["points"][0]["baseline"] is None


def test_counts_series_revalidate_with_etags(client, keys, world):
    path, h = f"/api/v1/sites/{world.site.id}/counts", {"X-API-Key": keys.viewer}
    first = client.get(path, headers=h, params={"cls": "car"})
    assert first.status_code == 200 and first.headers["cache-control"] == "private, no-cache"
    etag = first.headers["etag"]
    again = client.get(path, headers={**h, "If-None-Match": etag}, params={"cls": "car"})
    assert again.status_code == 304 and again.headers["etag"] == etag and again.content == b""
    other = client.get(path, headers={**h, "If-None-Match": etag}, params={"cls": "truck"})
    assert other.status_code == 200 and other.headers["etag"] != etag  # another series, another tag
    assert client.get(path, headers={"If-None-Match": etag}, params={"cls": "car"}).status_code == 401
    assert client.get("/api/v1/sites/nope/counts", headers=h).status_code == 404


def test_alerts_ack_and_comment(client, keys, world):
    alerts = _get(client, keys.viewer, "/alerts", site_id=world.site.id)
    assert [a["id"] for a in alerts] == [world.alert.id]
    assert alerts[0]["hypotheses"][0] == {
        "name": "test preparation",
        "confidence": 0.6,
        "rationale": "pattern seen before tests",
    }
    h = {"X-API-Key": keys.analyst}
    path = f"/api/v1/alerts/{world.alert.id}"
    assert client.post(f"{path}/comments", json={"text": "looks real"}, headers=h).status_code == 201
    assert client.post(f"{path}/comments", json={"text": " "}, headers=h).status_code == 400
    assert client.post(f"{path}/ack", json={}, headers=h).status_code == 201
    got = _get(client, keys.viewer, f"/alerts/{world.alert.id}")
    assert got["acknowledged"] is True and got["status"] == "acknowledged"
    assert [(n["kind"], n["user"]) for n in got["notes"]][-2:] == [("comment", "analyst"), ("ack", "analyst")]
    assert _get(client, keys.viewer, "/alerts", acknowledged=False) == []
    assert client.post("/api/v1/alerts/nope/ack", json={}, headers=h).status_code == 404


def test_alert_evidence_chips_are_jpegs_of_the_zone(client, keys, world):
    panels = _get(client, keys.viewer, f"/alerts/{world.alert.id}/evidence")
    assert [p["zone_id"] for p in panels] == ["pad"]
    after = panels[0]["after"]
    assert world.alert.start <= dt.date.fromisoformat(after["acquired"][:10]) <= world.alert.end
    r = client.get(after["url"], headers={"X-API-Key": keys.viewer})
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    img = Image.open(io.BytesIO(r.content))
    assert min(img.size) >= 100
    assert (
        client.get(
            f"/api/v1/alerts/{world.alert.id}/evidence/park/after.jpg", headers={"X-API-Key": keys.viewer}
        ).status_code
        == 404
    )  # not a zone of the alert


def test_events_filter(client, keys, world):
    events = _get(client, keys.viewer, "/events", site_id=world.site.id)
    assert [e["id"] for e in events] == ["ev-1"] and events[0]["simulated"] is True
    assert _get(client, keys.viewer, "/events", start="2030-01-01") == []


def test_thumbnail_and_tiles(client, keys, world):
    h = {"X-API-Key": keys.viewer}
    r = client.get(f"/api/v1/scenes/{world.scenes[0].id}/thumbnail.png", headers=h)
    assert r.status_code == 200
    thumb = np.asarray(Image.open(io.BytesIO(r.content)))
    assert thumb.shape == (200, 200, 4)
    assert thumb[:, :29, 3].max() == 0 and thumb[:, 31:, 3].min() == 255  # nodata strip is transparent

    c = world.site.aoi.centroid
    x, y = _tile_of(c.x, c.y, 19)
    r = client.get(
        f"/api/v1/scenes/{world.scenes[0].id}/tiles/19/{x}/{y}.png", headers=h, params={"site_id": world.site.id}
    )
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    tile = np.asarray(Image.open(io.BytesIO(r.content)))
    assert tile.shape == (256, 256, 4)
    opaque = tile[..., 3] > 0
    # The 80 m AOI at z19 (~0.23 m/px here) covers part of the tile; the rest is transparent.
    assert 0.05 < opaque.mean() < 1.0
    assert tile[opaque, :3].std() > 10  # real image texture, not a flat fill

    far = client.get(f"/api/v1/scenes/{world.scenes[0].id}/tiles/19/0/0.png", headers=h)
    assert far.status_code == 200 and far.content == EMPTY_TILE
    assert client.get(f"/api/v1/scenes/{world.scenes[0].id}/tiles/3/8/0.png", headers=h).status_code == 404


def test_tile_bounds_cover_the_world():
    assert tile_bounds(0, 0, 0) == (
        -math.pi * 6378137.0,
        -math.pi * 6378137.0,
        math.pi * 6378137.0,
        math.pi * 6378137.0,
    )
    minx, miny, maxx, maxy = tile_bounds(1, 1, 0)
    assert minx == 0 and miny == 0 and maxx > 0 and maxy > 0


def test_reports_html_and_bundle(client, keys, world):
    h = {"X-API-Key": keys.viewer}
    r = client.get(f"/api/v1/sites/{world.site.id}/report.html", headers=h)
    assert r.status_code == 200 and "SIMULATED" in r.text
    assert "default-src 'self'" in r.headers["content-security-policy"]
    bundle = client.get(f"/api/v1/sites/{world.site.id}/bundle.json", headers=h).json()
    assert bundle["simulated"] is True
    assert len(bundle["scenes"]) == len(world.scenes) and bundle["alerts"][0]["id"] == world.alert.id
    assert client.get("/api/v1/sites/nope/report.html", headers=h).status_code == 404


def test_docs_offline_and_vendor_assets(client):
    docs = client.get("/docs")
    assert docs.status_code == 200
    assert "/static/vendor/swagger-ui-bundle.js" in docs.text
    assert "cdn." not in docs.text and "https://" not in docs.text
    js = client.get("/static/vendor/swagger-ui-bundle.js")
    assert js.status_code == 200 and js.headers["content-encoding"] == "gzip" and len(js.content) > 100_000
    plain = client.get("/static/vendor/uPlot.esm.js", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers and b"uPlot" in plain.content
    spec = client.get("/api/v1/openapi.json").json()
    assert spec["openapi"].startswith("3.1")
    assert "/api/v1/scenes/{scene_id}/tiles/{z}/{x}/{y}.png" in spec["paths"]


def test_dashboard_is_served_with_a_strict_csp(client):
    r = client.get("/")
    assert r.status_code == 200 and '<script type="module" src="/static/js/app.js">' in r.text
    assert "script-src" not in r.headers["content-security-policy"]  # default-src 'self' covers scripts
    assert "https://" not in r.text
    assert client.get("/static/js/views.js").status_code == 200


def test_tiles_leave_nodata_transparent(client, keys, world):
    # A z22 tile (~4 cm pixels here) across the west edge of the valid data, inside the AOI.
    scene = world.scenes[0]
    edge = scene.valid.intersection(world.site.aoi)
    x, y = _tile_of(edge.bounds[0], edge.centroid.y, 22)
    r = client.get(f"/api/v1/scenes/{scene.id}/tiles/22/{x}/{y}.png", headers={"X-API-Key": keys.viewer})
    assert r.status_code == 200
    tile = np.asarray(Image.open(io.BytesIO(r.content)))
    opaque = tile[..., 3] == 255
    assert opaque.any() and not opaque.all()
    assert tile[opaque, :3].min() >= 60  # the generated data is 60..199; nodata (0) is never shown
    assert set(np.unique(tile[..., 3]).tolist()) <= {0, 255}
    cols = np.nonzero(opaque)[1]
    assert cols.min() > 0  # the west side (nodata) is transparent


@pytest.mark.skipif(find_chromium() is None, reason="PDF export needs chromium (apt-get install -y chromium)")
def test_report_pdf(client, keys, world):
    r = client.get(f"/api/v1/sites/{world.site.id}/report.pdf", headers={"X-API-Key": keys.viewer})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/pdf" and r.content.startswith(b"%PDF")
    assert len(r.content) > 20_000  # the report's images are in it, not an empty page


def test_report_pdf_without_chromium_says_how_to_fix(client, keys, world, monkeypatch):
    monkeypatch.setenv("SITEWATCH_CHROMIUM", "/nonexistent/chromium")
    r = client.get(f"/api/v1/sites/{world.site.id}/report.pdf", headers={"X-API-Key": keys.viewer})
    assert r.status_code == 501 and "install it" in r.json()["detail"]
