"""STAC in and out: ingest items from a static catalogue or a STAC API; export scenes and detections.

Ingest picks one image asset per item (:func:`select_asset`), takes the scene metadata from
the item's properties, and stores it like any other image: keyed by content hash, one
transaction per item, a bad item reported and skipped. Remote ``http(s)`` assets are
downloaded once into a cache folder, since scenes are hashed and read window by window.
Export writes a self-contained catalogue: one collection per site with an item per scene
and a label-extension item per scene holding its detections as GeoJSON.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import shapely

from sitewatch.errors import ImageError, InputError, SitewatchError
from sitewatch.imagery.ingest import IngestReport, covered_sites, file_sha256, scan_image
from sitewatch.imagery.metadata import metadata_from_stac
from sitewatch.model import Detection, Scene, Site
from sitewatch.store.base import Store

if TYPE_CHECKING:
    import pystac

ProgressFn = Callable[[int, int, str], None]

#: Asset roles in order of preference: a ready-to-view RGB product first, then raw data.
PREFERRED_ROLES: tuple[str, ...] = ("visual", "data")
_TIFF_TYPES = ("image/tiff", "image/vnd.stac.geotiff")
#: Prefix of the project's own item properties.
PREFIX = "sitewatch"


# -- reading ---------------------------------------------------------------------------------


def open_items(
    source: str,
    *,
    collections: Sequence[str] | None = None,
    bbox: Sequence[float] | None = None,
    datetime: str | None = None,
    max_items: int | None = None,
) -> Iterator[pystac.Item]:
    """Items of a static catalogue/collection/item file on disk or of a STAC API at an http(s) URL."""
    if source.startswith(("http://", "https://")):
        yield from _search_api(source, collections, bbox, datetime, max_items)
        return
    import pystac

    path = Path(source)
    if path.is_dir():
        path = path / "catalog.json"
    try:
        obj = pystac.read_file(str(path))
    except (OSError, ValueError, pystac.STACError) as exc:
        raise InputError(
            f"not a STAC catalogue, collection or item ({exc})", path=path, fix="give a catalog.json or item JSON"
        ) from exc
    if isinstance(obj, pystac.Item):
        items: Iterable[pystac.Item] = [obj]
    elif isinstance(obj, pystac.Catalog):  # collections are catalogues too
        items = obj.get_items(recursive=True)
    else:
        raise InputError("not a STAC catalogue, collection or item", path=path, fix="give a catalog.json or item JSON")
    wanted = _filter(collections, bbox)
    for n, item in enumerate(i for i in items if wanted(i)):
        if max_items is not None and n >= max_items:
            return
        yield item


def _search_api(
    url: str,
    collections: Sequence[str] | None,
    bbox: Sequence[float] | None,
    datetime: str | None,
    max_items: int | None,
) -> Iterator[pystac.Item]:
    from pystac_client import Client
    from pystac_client.exceptions import APIError

    try:
        client = Client.open(url)
        search = client.search(
            collections=list(collections) if collections else None,
            bbox=list(bbox) if bbox else None,
            datetime=datetime,
            max_items=max_items,
        )
        yield from search.items()
    except (APIError, OSError) as exc:
        raise InputError(
            f"STAC API request failed ({type(exc).__name__}: {str(exc).strip()[:200]})",
            path=url,
            fix="check the URL and that the server implements STAC API item search",
        ) from exc


def _filter(collections: Sequence[str] | None, bbox: Sequence[float] | None) -> Callable[[pystac.Item], bool]:
    area = shapely.box(*bbox) if bbox else None

    def keep(item: pystac.Item) -> bool:
        if collections and item.collection_id not in collections:
            return False
        return area is None or (item.geometry is not None and shapely.geometry.shape(item.geometry).intersects(area))

    return keep


def select_asset(item: pystac.Item, key: str | None = None) -> tuple[str, pystac.Asset]:
    """The image asset to ingest: ``key`` if given, else a GeoTIFF by preferred role, else any GeoTIFF."""
    if key is not None:
        if key not in item.assets:
            raise ImageError(
                f"item {item.id!r} has no asset {key!r} (it has {', '.join(item.assets) or 'none'})",
                path=item.get_self_href(),
                fix="pick one of its assets with --asset",
            )
        return key, item.assets[key]
    tiffs = {k: a for k, a in item.assets.items() if _is_tiff(a)}
    for role in PREFERRED_ROLES:
        for k, a in tiffs.items():
            if role in (a.roles or []):
                return k, a
    if tiffs:
        return next(iter(tiffs.items()))
    raise ImageError(
        f"item {item.id!r} has no GeoTIFF asset (assets: {', '.join(item.assets) or 'none'})",
        path=item.get_self_href(),
        fix="add an image/tiff asset with role 'visual' or 'data', or choose one with --asset",
    )


def _is_tiff(asset: pystac.Asset) -> bool:
    if asset.media_type:
        return asset.media_type.split(";")[0].strip() in _TIFF_TYPES
    return asset.href.lower().endswith((".tif", ".tiff"))


def fetch_asset(href: str, cache: Path) -> Path:
    """A local path for ``href``: the file itself, or a cached download of an http(s) URL."""
    if href.startswith(("http://", "https://")):
        import httpx

        target = cache / hashlib.sha256(href.encode()).hexdigest()[:16] / Path(href.split("?")[0]).name
        if target.is_file():
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(target.suffix + ".part")
        try:
            with httpx.stream("GET", href, follow_redirects=True, timeout=60) as r, partial.open("wb") as f:
                r.raise_for_status()
                for chunk in r.iter_bytes(1 << 20):
                    f.write(chunk)
        except httpx.HTTPError as exc:
            partial.unlink(missing_ok=True)
            raise ImageError(f"cannot download the asset ({exc})", path=href, fix="check the URL is reachable") from exc
        partial.replace(target)  # only complete downloads are ever seen as cached
        return target
    path = Path(href.removeprefix("file://"))
    if not path.is_file():
        raise ImageError("asset file not found", path=path, fix="check the item's asset href (relative to the item)")
    return path


def ingest_items(
    store: Store,
    items: Iterable[pystac.Item],
    *,
    asset: str | None = None,
    cache: Path,
    on_progress: ProgressFn | None = None,
) -> IngestReport:
    """Ingest the chosen asset of every item; failures are reported per item and never stop the batch.

    Items may stream from an API, so ``on_progress`` gets a total of 0 until the end.
    """
    report = IngestReport()
    sites = store.list_sites()
    done = 0
    for item in items:
        if on_progress:
            on_progress(done, 0, item.id)
        done += 1
        try:
            scene = _scan_item(item, asset, cache)
            if store.add_scene(scene, covered_sites(scene, sites)):
                report.added += 1
                report.scene_ids.append(scene.id)
            else:
                report.duplicates += 1
        except SitewatchError as exc:
            report.failed.append((item.id, " ".join(str(exc).split())))
        except Exception as exc:  # one bad item must not stop the batch
            report.failed.append((item.id, f"item {item.id}: unexpected {type(exc).__name__}: {exc}"))
    if on_progress:
        on_progress(done, done, "done")
    return report


def _scan_item(item: pystac.Item, asset_key: str | None, cache: Path) -> Scene:
    _, chosen = select_asset(item, asset_key)
    path = fetch_asset(chosen.get_absolute_href() or chosen.href, cache)
    item.make_asset_hrefs_absolute()  # so a cloud-mask asset resolves wherever the item came from
    where = Path(item.get_self_href() or path)
    item_dict = item.to_dict(include_self_link=False)
    return scan_image(path, file_sha256(path), metadata=lambda ds: metadata_from_stac(item_dict, where, ds))


# -- writing ---------------------------------------------------------------------------------


def export_catalog(store: Store, out_dir: Path, *, site_ids: Sequence[str] | None = None) -> Path:
    """Write scenes and detections of ``site_ids`` (default all) as a STAC catalogue; returns catalog.json."""
    import pystac

    sites = [store.get_site(s) for s in site_ids] if site_ids else store.list_sites()
    simulated = any(s.simulated for s in sites)
    catalog = pystac.Catalog(
        "sitewatch",
        ("SIMULATED data. " if simulated else "") + "sitewatch scenes and vehicle detections per site.",
        title="sitewatch export" + (" (SIMULATED)" if simulated else ""),
    )
    labels: list[tuple[pystac.Item, list[Detection]]] = []
    for site in sites:
        collection = _site_collection(site)
        scenes = store.list_scenes(site.id)
        for scene in scenes:
            scene_item = scene_to_item(scene)
            collection.add_item(scene_item)
            dets = store.list_detections(scene_id=scene.id, site_id=site.id)
            label = _label_item(scene, site, scene_item, dets)
            collection.add_item(label)
            labels.append((label, dets))
        if scenes:
            collection.update_extent_from_items()
        catalog.add_child(collection)
    catalog.normalize_hrefs(str(out_dir))
    for label, dets in labels:  # label files sit beside their item
        item_dir = Path(label.get_self_href() or out_dir).parent
        item_dir.mkdir(parents=True, exist_ok=True)
        (item_dir / "labels.geojson").write_text(json.dumps(_feature_collection(dets)))
    catalog.save(pystac.CatalogType.SELF_CONTAINED)
    return out_dir / "catalog.json"


def scene_to_item(scene: Scene) -> pystac.Item:
    """A STAC item for a stored scene (view/eo fields as in the sidecar contract)."""
    import pystac

    props: dict[str, Any] = {
        "gsd": scene.gsd,
        "constellation": scene.sensor,
        "view:off_nadir": scene.off_nadir,
        "view:sun_elevation": scene.sun_elevation,
        "view:sun_azimuth": scene.sun_azimuth,
        "eo:cloud_cover": None if scene.cloud_cover is None else round(scene.cloud_cover * 100, 3),
        f"{PREFIX}:valid_fraction": round(scene.valid.area / scene.footprint.area, 4) if scene.footprint.area else 0,
        f"{PREFIX}:simulated": scene.simulated,
    }
    item = pystac.Item(
        scene.id,
        shapely.geometry.mapping(scene.footprint),
        list(scene.footprint.bounds),
        scene.acquired,
        {k: v for k, v in props.items() if v is not None},
    )
    item.add_asset(
        "image",
        pystac.Asset(
            Path(scene.uri).resolve().as_uri() if "://" not in scene.uri else scene.uri,
            title="SIMULATED image" if scene.simulated else "image",
            media_type=pystac.MediaType.GEOTIFF,
            roles=["data"],
        ),
    )
    return item


def _site_collection(site: Site) -> pystac.Collection:
    import pystac

    open_interval: list[dt.datetime | None] = [None, None]  # set from the items once they are added
    extent = pystac.Extent(pystac.SpatialExtent([list(site.aoi.bounds)]), pystac.TemporalExtent([open_interval]))
    title = f"{site.name} (SIMULATED)" if site.simulated else site.name
    return pystac.Collection(site.id, site.description or title, extent, title=title)


def _label_item(scene: Scene, site: Site, source: pystac.Item, detections: Sequence[Detection]) -> pystac.Item:
    import pystac
    from pystac.extensions.label import LabelClasses, LabelExtension, LabelMethod, LabelTask, LabelType

    aoi = scene.footprint.intersection(site.aoi)
    item = pystac.Item(
        f"{scene.id}-{site.id}-detections",
        shapely.geometry.mapping(aoi),
        list(aoi.bounds),
        scene.acquired,
        {f"{PREFIX}:site": site.id, f"{PREFIX}:simulated": scene.simulated},
    )
    label = LabelExtension.ext(item, add_if_missing=True)
    detectors = sorted({d.detector for d in detections})
    label.apply(
        label_description=("SIMULATED scene. " if scene.simulated else "")
        + f"Vehicle detections by {', '.join(detectors) or 'no detector yet'}",
        label_type=LabelType.VECTOR,
        label_properties=["cls"],
        label_classes=[LabelClasses.create(classes=sorted({d.cls for d in detections}), name="cls")],
        label_tasks=[LabelTask.DETECTION],
        label_methods=[LabelMethod.AUTOMATED],
    )
    label.add_source(source, assets=["image"])
    label.add_geojson_labels("./labels.geojson")
    return item


def _feature_collection(detections: Sequence[Detection]) -> dict[str, Any]:
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": shapely.geometry.mapping(d.geometry),
                "properties": {
                    "cls": d.cls,
                    "score": round(d.score, 4),
                    "detector": d.detector,
                    "zone": d.zone_id,
                    "box": list(d.box),
                },
            }
            for d in detections
        ],
    }
