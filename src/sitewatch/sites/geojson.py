"""Site catalogues as GeoJSON FeatureCollections.

A site feature has properties ``{"id", "name"}`` (optional ``country``, ``description``,
``simulated``; ``"simulated": true`` on the collection marks every site) and
``"type": "site"`` or no ``site_id``; a zone feature has ``{"site_id", "id", "name",
"kind"}``. Geometries are (Multi)Polygons in EPSG:4326.
:func:`parse_sites` validates; invalid polygons are repaired only when asked (``fix``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import shapely
from shapely.geometry import mapping, shape
from shapely.geometry.base import BaseGeometry

from sitewatch.errors import SiteError
from sitewatch.model import ZONE_KINDS, Site, Zone

#: Share of a zone's area allowed outside its site AOI (digitising slop).
ZONE_OUTSIDE_TOLERANCE = 0.001


def read_sites(path: str | Path, *, fix: bool = False) -> list[Site]:
    """Sites (with zones) from a GeoJSON file; :class:`SiteError` names the file and feature."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise SiteError("file not found", path=path, fix="check the path") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise SiteError(f"cannot read the file ({exc})", path=path, fix="give a UTF-8 GeoJSON file") from exc
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SiteError(
            f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}",
            path=path,
            fix="fix the JSON syntax (e.g. check it with `python -m json.tool`)",
        ) from exc
    return parse_sites(obj, source=path, fix=fix)


def write_sites(sites: list[Site], path: str | Path) -> Path:
    """Write ``sites`` and their zones as one FeatureCollection (readable by :func:`read_sites`)."""
    path = Path(path)
    path.write_text(json.dumps(sites_to_geojson(sites), indent=1) + "\n", encoding="utf-8")
    return path


def sites_to_geojson(sites: list[Site]) -> dict[str, Any]:
    features: list[dict[str, Any]] = []
    for site in sites:
        props: dict[str, Any] = {"type": "site", "id": site.id, "name": site.name, "simulated": site.simulated}
        if site.country is not None:
            props["country"] = site.country
        if site.description:
            props["description"] = site.description
        features.append({"type": "Feature", "properties": props, "geometry": mapping(site.aoi)})
        for z in site.zones:
            zprops = {"site_id": site.id, "id": z.id, "name": z.name, "kind": z.kind}
            features.append({"type": "Feature", "properties": zprops, "geometry": mapping(z.geometry)})
    return {"type": "FeatureCollection", "features": features}


def parse_sites(obj: Any, *, source: str | Path = "<geojson>", fix: bool = False) -> list[Site]:
    """Validate a decoded GeoJSON object and build :class:`Site` objects, in file order."""
    if not isinstance(obj, Mapping) or obj.get("type") != "FeatureCollection":
        raise SiteError(
            "not a GeoJSON FeatureCollection",
            path=source,
            fix='wrap the features in {"type": "FeatureCollection", ...}',
        )
    features = obj.get("features")
    if not isinstance(features, list):
        raise SiteError("FeatureCollection has no 'features' list", path=source, fix="add a 'features' array")

    collection_simulated = obj.get("simulated") is True
    sites: dict[str, dict[str, Any]] = {}
    zones: dict[str, list[Zone]] = {}
    zone_features: list[tuple[str, Mapping[str, Any], BaseGeometry]] = []
    for i, feat in enumerate(features):
        label = _label(i, feat)
        geom = _polygonal(feat, label, source, fix)
        # A GeoJSON Feature may carry its id beside the properties rather than in them.
        raw_props = feat.get("properties") or {}
        if not isinstance(raw_props, Mapping):
            raise SiteError(f"{label}: 'properties' is not an object", path=source, fix='give "properties": {...}')
        props = {**({"id": feat["id"]} if isinstance(feat.get("id"), str) else {}), **raw_props}
        if props.get("type") == "site" or "site_id" not in props:
            site_id, name = _required(props, ("id", "name"), label, source)
            if site_id in sites:
                raise SiteError(f"{label}: duplicate site id {site_id!r}", path=source, fix="give each site its own id")
            sites[site_id] = {
                "id": site_id,
                "name": name,
                "aoi": geom,
                "country": props.get("country"),
                "description": str(props.get("description") or ""),
                "simulated": bool(props.get("simulated", False) or collection_simulated),
            }
        else:
            zone_features.append((label, props, geom))

    for label, zprops, geom in zone_features:
        site_id, zone_id, name, kind = _required(zprops, ("site_id", "id", "name", "kind"), label, source)
        site = sites.get(site_id)
        if site is None:
            raise SiteError(
                f"{label}: zone refers to unknown site {site_id!r}", path=source, fix="add that site or fix site_id"
            )
        if kind not in ZONE_KINDS:
            raise SiteError(
                f"{label}: unknown zone kind {kind!r}", path=source, fix=f"use one of {', '.join(ZONE_KINDS)}"
            )
        if any(z.id == zone_id for z in zones.get(site_id, [])):
            raise SiteError(
                f"{label}: duplicate zone id {zone_id!r} in site {site_id!r}",
                path=source,
                fix="give each zone its own id",
            )
        outside = geom.difference(site["aoi"]).area
        if outside > ZONE_OUTSIDE_TOLERANCE * geom.area:
            raise SiteError(
                f"{label}: zone {zone_id!r} lies {100 * outside / geom.area:.1f}% outside the AOI of site {site_id!r}",
                path=source,
                fix="draw the zone inside the site polygon or enlarge the site",
            )
        zones.setdefault(site_id, []).append(Zone(zone_id, name, kind, geom))

    return [Site(**s, zones=tuple(zones.get(s["id"], []))) for s in sites.values()]


def _label(index: int, feat: Any) -> str:
    props = feat.get("properties") if isinstance(feat, Mapping) else None
    fid = (props or {}).get("id") if isinstance(props, Mapping) else None
    return f"feature {index}" + (f" ({fid!r})" if fid is not None else "")


def _required(props: Mapping[str, Any], keys: tuple[str, ...], label: str, source: str | Path) -> list[str]:
    missing = [k for k in keys if not isinstance(props.get(k), str) or not props.get(k)]
    if missing:
        raise SiteError(
            f"{label}: missing or non-text properties {', '.join(missing)}",
            path=source,
            fix=f"give each such feature string properties {', '.join(keys)}",
        )
    return [props[k] for k in keys]


def _polygonal(feat: Any, label: str, source: str | Path, fix: bool) -> BaseGeometry:
    if not isinstance(feat, Mapping) or feat.get("type") != "Feature":
        raise SiteError(f"{label}: not a GeoJSON Feature", path=source, fix='give each item "type": "Feature"')
    raw = feat.get("geometry")
    try:
        geom = shape(raw)
    except Exception as exc:  # shapely raises several types for malformed GeoJSON
        raise SiteError(
            f"{label}: malformed geometry ({exc})", path=source, fix="give a valid GeoJSON Polygon"
        ) from exc
    if geom.geom_type not in ("Polygon", "MultiPolygon") or geom.is_empty:
        raise SiteError(
            f"{label}: geometry is {geom.geom_type}, not a non-empty (Multi)Polygon",
            path=source,
            fix="draw sites and zones as polygons",
        )
    if not geom.is_valid:
        if not fix:
            raise SiteError(
                f"{label}: invalid polygon ({shapely.is_valid_reason(geom)})",
                path=source,
                fix="repair it in a GIS, or pass --fix to repair it automatically",
            )
        geom = _polygonal_part(shapely.make_valid(geom))
    minx, miny, maxx, maxy = geom.bounds
    if not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
        raise SiteError(
            f"{label}: coordinates are not longitude/latitude", path=source, fix="reproject the file to EPSG:4326"
        )
    if _jumps_antimeridian(geom):
        raise SiteError(
            f"{label}: an edge crosses the antimeridian (longitude jumps by more than 180°)",
            path=source,
            fix="split the polygon at ±180° into a MultiPolygon (RFC 7946 §3.1.9)",
        )
    return geom


def _jumps_antimeridian(geom: BaseGeometry) -> bool:
    """True if any ring has an edge spanning more than 180° of longitude (meant the short way round)."""
    for poly in shapely.get_parts(geom):
        for ring in (poly.exterior, *poly.interiors):
            xs = shapely.get_coordinates(ring)[:, 0]
            if xs.size > 1 and float(abs(xs[1:] - xs[:-1]).max()) > 180:
                return True
    return False


def _polygonal_part(geom: BaseGeometry) -> BaseGeometry:
    # make_valid may return a collection with stray lines or points; keep the area.
    parts = [g for g in shapely.get_parts(geom) if g.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.union_all(parts)
