"""STAC: ingest from a static catalogue and from a local STAC API; export with the label extension."""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlparse

import numpy as np
import pystac
import pytest
import shapely
from shapely.geometry import box
from typer.testing import CliRunner

from sitewatch.errors import ImageError
from sitewatch.imagery.stac import export_catalog, ingest_items, open_items, select_asset
from sitewatch.model import Detection, Site
from sitewatch.store import open_store
from sitewatch.store.sql import SqlStore

# The imagery conftest writes its rasters on this UTM 51N grid (0.5 m, 32 px = 16 m).
FOOTPRINT = box(122.9999, 39.7497, 123.0003, 39.7500)
WHEN = dt.datetime(2024, 3, 1, 2, 13, tzinfo=dt.UTC)


def make_item(item_id: str, day: int, assets: dict[str, pystac.Asset]) -> pystac.Item:
    item = pystac.Item(
        item_id,
        shapely.geometry.mapping(FOOTPRINT),
        list(FOOTPRINT.bounds),
        WHEN + dt.timedelta(days=day),
        {"gsd": 0.5, "view:off_nadir": 10.0 + day, "eo:cloud_cover": 20.0, "constellation": "WorldView-3"},
        collection="wv",
    )
    for key, asset in assets.items():
        item.add_asset(key, asset)
    return item


@pytest.fixture
def catalogue(tmp_path: Path, write_tif: Callable[..., Path]) -> Path:
    """A static catalogue: a good item, one without an image asset, one whose image is missing, one good."""
    rng = np.random.default_rng(0)
    root = tmp_path / "stac"
    catalog = pystac.Catalog("test", "test catalogue")
    collection = pystac.Collection(
        "wv",
        "WorldView",
        pystac.Extent(pystac.SpatialExtent([list(FOOTPRINT.bounds)]), pystac.TemporalExtent([[WHEN, None]])),
    )
    catalog.add_child(collection)
    tif = pystac.MediaType.COG
    items = {
        "good": {
            "visual": pystac.Asset("./image.tif", media_type=tif, roles=["visual"]),
            "thumb": pystac.Asset("./thumb.png", media_type=pystac.MediaType.PNG, roles=["thumbnail"]),
        },
        "no-image": {"thumb": pystac.Asset("./thumb.png", media_type=pystac.MediaType.PNG, roles=["thumbnail"])},
        "missing-file": {"data": pystac.Asset("./gone.tif", media_type=tif, roles=["data"])},
        "good-2": {"data": pystac.Asset("./image.tif", media_type=tif, roles=["data"])},
    }
    for day, (item_id, assets) in enumerate(items.items()):
        collection.add_item(make_item(item_id, day, assets))
    catalog.normalize_hrefs(str(root))
    catalog.save(pystac.CatalogType.SELF_CONTAINED)
    for day, item_id in enumerate(items):
        if item_id.startswith("good"):
            data = rng.integers(1, 255, (3, 32, 32), dtype=np.uint8)
            write_tif(root / "wv" / item_id / "image.tif", data, origin=(500_000.0 + day, 4_400_000.0))
    return root / "catalog.json"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqlStore]:
    with open_store(f"sqlite:///{tmp_path / 'db.sqlite'}") as s:
        yield s


def test_asset_selection_prefers_visual_then_data_and_honours_a_key() -> None:
    data = pystac.Asset("d.tif", media_type=pystac.MediaType.GEOTIFF, roles=["data"])
    visual = pystac.Asset("v.tif", media_type=pystac.MediaType.COG, roles=["visual"])
    png = pystac.Asset("t.png", media_type=pystac.MediaType.PNG, roles=["visual"])
    item = make_item("x", 0, {"thumb": png, "B": data, "rgb": visual})
    assert select_asset(item)[0] == "rgb"
    assert select_asset(make_item("y", 0, {"thumb": png, "B": data}))[0] == "B"
    assert select_asset(item, "B")[0] == "B"
    with pytest.raises(ImageError, match=r"no asset 'nir' \(it has thumb, B, rgb\).*fix:"):
        select_asset(item, "nir")
    with pytest.raises(ImageError, match="no GeoTIFF asset"):
        select_asset(make_item("z", 0, {"thumb": png}))


def test_static_catalogue_ingest_keeps_going_past_bad_items(catalogue: Path, store: SqlStore, tmp_path: Path) -> None:
    report = ingest_items(store, open_items(str(catalogue)), cache=tmp_path / "cache")
    assert report.added == 2 and sorted(report.scene_ids) == ["good", "good-2"]
    failed = dict(report.failed)
    assert set(failed) == {"no-image", "missing-file"}
    assert "no GeoTIFF asset" in failed["no-image"] and "fix:" in failed["no-image"]
    assert "gone.tif: asset file not found" in failed["missing-file"]
    scene = store.get_scene("good-2")
    assert scene.acquired == WHEN + dt.timedelta(days=3) and scene.off_nadir == 13.0
    assert scene.cloud_cover == pytest.approx(0.2) and scene.sensor == "WorldView-3"
    assert scene.extra["metadata_source"] == "stac"
    again = ingest_items(store, open_items(str(catalogue.parent)), cache=tmp_path / "cache")
    assert (again.added, again.duplicates, len(again.failed)) == (0, 2, 2)


def test_catalogue_filters_by_collection_and_bbox(catalogue: Path) -> None:
    assert len(list(open_items(str(catalogue), collections=["wv"]))) == 4
    assert list(open_items(str(catalogue), collections=["other"])) == []
    assert list(open_items(str(catalogue), bbox=[10, 10, 11, 11])) == []


class _StacApi(BaseHTTPRequestHandler):
    """The parts of STAC API item search that pystac-client uses."""

    items: ClassVar[list[dict[str, Any]]] = []

    def log_message(self, *_args: Any) -> None:  # keep test output clean
        pass

    def _send(self, body: dict[str, Any]) -> None:
        raw = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def do_GET(self) -> None:
        base = f"http://{self.headers['Host']}"
        url = urlparse(self.path)
        conforms = ["https://api.stacspec.org/v1.0.0/core", "https://api.stacspec.org/v1.0.0/item-search"]
        if url.path == "/":
            links = [
                {"rel": "self", "href": f"{base}/"},
                {"rel": "root", "href": f"{base}/"},
                {"rel": "conformance", "href": f"{base}/conformance"},
                {"rel": "data", "href": f"{base}/collections"},
                {"rel": "search", "href": f"{base}/search", "method": "GET", "type": "application/geo+json"},
                {"rel": "search", "href": f"{base}/search", "method": "POST", "type": "application/geo+json"},
            ]
            self._send(
                {
                    "type": "Catalog",
                    "id": "api",
                    "stac_version": "1.0.0",
                    "description": "test API",
                    "conformsTo": conforms,
                    "links": links,
                }
            )
        elif url.path == "/conformance":
            self._send({"conformsTo": conforms})
        elif url.path == "/collections":
            self._send({"collections": [], "links": []})
        elif url.path == "/search":
            q = {k: v[0] for k, v in parse_qs(url.query).items()}
            self._search(q.get("collections", "").split(",") if q.get("collections") else None, q.get("bbox"))
        else:
            self.send_error(404)

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])) or b"{}")
        bbox = body.get("bbox")
        self._search(body.get("collections"), ",".join(map(str, bbox)) if bbox else None)

    def _search(self, collections: list[str] | None, bbox: str | None) -> None:
        area = box(*map(float, bbox.split(","))) if bbox else None
        hits = [
            i
            for i in self.items
            if (not collections or i["collection"] in collections)
            and (area is None or shapely.geometry.shape(i["geometry"]).intersects(area))
        ]
        self._send({"type": "FeatureCollection", "features": hits, "links": []})


@pytest.fixture
def stac_api(catalogue: Path) -> Iterator[str]:
    """A STAC API on 127.0.0.1 serving the catalogue's items with absolute (local COG) hrefs,
    plus one item far away that a bbox search must leave out."""
    items = []
    for item in pystac.Catalog.from_file(str(catalogue)).get_items(recursive=True):
        item.make_asset_hrefs_absolute()
        items.append({**item.to_dict(include_self_link=False), "links": []})  # static links are relative
    far = make_item("far", 9, {})
    far.geometry, far.bbox = shapely.geometry.mapping(box(10, 10, 11, 11)), [10, 10, 11, 11]
    items.append(far.to_dict(include_self_link=False))
    handler = type("Api", (_StacApi,), {"items": items})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def test_stac_api_search_and_ingest(stac_api: str, store: SqlStore, tmp_path: Path) -> None:
    found = [i.id for i in open_items(stac_api, collections=["wv"], bbox=list(FOOTPRINT.bounds))]
    assert sorted(found) == ["good", "good-2", "missing-file", "no-image"]  # "far" left out by the bbox
    report = ingest_items(store, open_items(stac_api, bbox=list(FOOTPRINT.bounds)), cache=tmp_path / "cache")
    assert sorted(report.scene_ids) == ["good", "good-2"] and len(report.failed) == 2


def test_unreachable_api_is_a_clear_error() -> None:
    from sitewatch.errors import InputError

    with pytest.raises(InputError, match=r"127\.0\.0\.1:9.*STAC API request failed.*fix:"):
        list(open_items("http://127.0.0.1:9/"))


def test_export_writes_scene_and_label_items(catalogue: Path, store: SqlStore, tmp_path: Path) -> None:
    store.upsert_site(Site("s1", "Site one", FOOTPRINT.buffer(0.001), simulated=True))
    ingest_items(store, open_items(str(catalogue)), cache=tmp_path / "cache")
    dets = [
        Detection("good", cls, 0.8, (1, 1, 5, 3), box(123.0001, 39.7498, 123.00012, 39.74982), "simple@1", "s1")
        for cls in ("car", "truck", "car")
    ]
    store.replace_detections("good", "simple@1", dets)
    out = export_catalog(store, tmp_path / "export")
    cat = pystac.Catalog.from_file(str(out))
    assert "SIMULATED" in (cat.title or "")
    items = {i.id: i for i in cat.get_items(recursive=True)}
    assert set(items) == {"good", "good-2", "good-s1-detections", "good-2-s1-detections"}
    label = items["good-s1-detections"]
    assert "label" in " ".join(label.stac_extensions)
    assert label.properties["label:type"] == "vector" and label.properties["label:tasks"] == ["detection"]
    assert label.properties["label:classes"] == [{"name": "cls", "classes": ["car", "truck"]}]
    sources = []
    for link in label.get_links("source"):
        target = link.resolve_stac_object().target
        assert isinstance(target, pystac.STACObject)
        sources.append(target.id)
    assert sources == ["good"]
    geojson = json.loads(Path(label.assets["labels"].get_absolute_href() or "").read_text())
    assert sorted(f["properties"]["cls"] for f in geojson["features"]) == ["car", "car", "truck"]
    scene = items["good"]
    assert (
        scene.properties["eo:cloud_cover"] == pytest.approx(20.0) and scene.properties["sitewatch:simulated"] is False
    )
    assert Path(urlparse(scene.assets["image"].href).path).is_file()
    # An exported catalogue is itself ingestible: the round trip finds the same images.
    with open_store(f"sqlite:///{tmp_path / 'again.db'}") as again:
        report = ingest_items(again, open_items(str(out)), cache=tmp_path / "cache")
        assert sorted(report.scene_ids) == ["good", "good-2"]


def test_cli_ingest_and_export(catalogue: Path, tmp_path: Path) -> None:
    import typer

    from sitewatch.cli import stac as stac_cli

    app = typer.Typer()
    stac_cli.register(app)
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    result = CliRunner().invoke(app, ["stac", "ingest", str(catalogue), "--db", db, "--json"])
    assert result.exit_code == 1  # two bad items
    assert json.loads(result.stdout)["added"] == 2
    result = CliRunner().invoke(app, ["stac", "export", str(tmp_path / "out"), "--db", db])
    assert result.exit_code == 0 and (tmp_path / "out" / "catalog.json").is_file()
    result = CliRunner().invoke(app, ["stac", "ingest", str(catalogue), "--db", db, "--bbox", "1,2,3"])
    assert result.exit_code == 1 and "not four numbers" in result.output
