"""Scene metadata from a sidecar ``<image>.json``, a STAC item in its place, a provider file
(Maxar ``.IMD``, Pleiades ``DIM_*.XML``, Planet ``metadata.json``) or GeoTIFF tags.

Sidecar keys win over provider metadata, which wins over tags (see ``docs/architecture.md``).
The acquisition time must carry a time zone: a naive time is refused rather than guessed, since counts are per UTC date.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pyproj import Geod
from rasterio.io import DatasetReader

from sitewatch.errors import ImageError
from sitewatch.imagery.providers import read_provider_metadata
from sitewatch.imagery.raster import pixel_to_lonlat

_GEOD = Geod(ellps="WGS84")
_NUMERIC = ("gsd", "off_nadir", "sun_elevation", "sun_azimuth", "cloud_cover")
# GeoTIFF metadata keys (lower-cased) read when the sidecar does not give the value.
_TAG_KEYS: dict[str, tuple[str, ...]] = {
    "id": ("id", "scene_id"),
    "acquired": ("acquired", "acquisition_datetime", "datetime"),
    "sensor": ("sensor", "satellite", "platform"),
    "gsd": ("gsd",),
    "off_nadir": ("off_nadir",),
    "sun_elevation": ("sun_elevation",),
    "sun_azimuth": ("sun_azimuth",),
    "cloud_cover": ("cloud_cover",),
    "simulated": ("simulated",),
}
#: How far in the future an acquisition time may lie (clock skew) before it is refused.
FUTURE_TOLERANCE = dt.timedelta(hours=1)
_ACQUIRED_FIX = 'give the time in UTC with a zone, e.g. "acquired": "2024-03-01T02:13:00Z" in <image>.json'


@dataclass(frozen=True)
class SceneMetadata:
    """What is known about an acquisition besides its pixels."""

    acquired: dt.datetime
    gsd: float  # metres; the pixel size when no source gives it
    sensor: str = "unknown"
    id: str | None = None
    off_nadir: float | None = None
    sun_elevation: float | None = None
    sun_azimuth: float | None = None
    cloud_cover: float | None = None
    cloud_mask: Path | None = None
    simulated: bool = False
    source: str = "tags"  # "sidecar", "stac", "imd", "dimap", "planet" or "tags"


def sidecar_path(image: Path) -> Path:
    return image.with_suffix(".json")


def read_metadata(image: str | Path, ds: DatasetReader) -> SceneMetadata:
    """Metadata of ``image`` (open as ``ds``): sidecar or STAC JSON, then provider files, then GeoTIFF tags."""
    image = Path(image)
    side = sidecar_path(image)
    values: dict[str, Any] = {}
    source = "tags"
    if side.is_file():
        values, source = _read_json(side)
    where = side if source != "tags" else image
    provider = read_provider_metadata(image)
    if provider is not None:
        for key, value in provider.values.items():
            if values.get(key) is None:
                values[key] = value
        if source == "tags":
            source, where = provider.kind, provider.path
    tags = {k.lower(): v for k, v in ds.tags().items()}
    for key, names in _TAG_KEYS.items():
        if values.get(key) is None:
            values[key] = next((tags[n] for n in names if n in tags), None)
    if values.get("acquired") is None and "tifftag_datetime" in tags:
        values["acquired"] = tags["tifftag_datetime"]
    return _finish(values, source, where, ds, side.parent)


def metadata_from_stac(item: Mapping[str, Any], where: Path, ds: DatasetReader) -> SceneMetadata:
    """Metadata of an image from the STAC item (a dict) it is an asset of; ``where`` names the item."""
    return _finish(_from_stac(item, where), "stac", where, ds, where.parent)


def _finish(values: Mapping[str, Any], source: str, where: Path, ds: DatasetReader, base: Path) -> SceneMetadata:
    """Validated metadata from raw values; relative paths (cloud mask) are relative to ``base``."""
    acquired = parse_time(values.get("acquired"), where)
    simulated = _bool(values.get("simulated"))
    # Simulated archives may be dated ahead on purpose; real imagery cannot come from the future.
    if not simulated and acquired > dt.datetime.now(dt.UTC) + FUTURE_TOLERANCE:
        raise ImageError(
            f"acquisition time {acquired.isoformat()} is in the future",
            path=where,
            fix="check the date and its time zone (a local time given as UTC, or day and month swapped)",
        )
    numbers = {k: _float(values.get(k), k, where) for k in _NUMERIC}
    gsd = numbers.pop("gsd") or ground_sample_distance(ds)
    cloud_mask = values.get("cloud_mask")
    return SceneMetadata(
        acquired=acquired,
        gsd=gsd,
        sensor=str(values.get("sensor") or "unknown"),
        id=str(values["id"]) if values.get("id") else None,
        cloud_mask=(base / cloud_mask) if cloud_mask else None,
        simulated=simulated,
        source=source,
        **numbers,
    )


def _read_json(path: Path) -> tuple[dict[str, Any], str]:
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ImageError(f"sidecar is not valid JSON ({exc})", path=path, fix="fix or remove the sidecar") from exc
    if not isinstance(obj, Mapping):
        raise ImageError(
            "sidecar is not a JSON object", path=path, fix="write a JSON object (see docs/architecture.md)"
        )
    if obj.get("type") == "Feature" and "stac_version" in obj:
        return _from_stac(obj, path), "stac"
    return dict(obj), "sidecar"


def _from_stac(obj: Mapping[str, Any], path: Path) -> dict[str, Any]:
    import pystac

    try:
        item = pystac.Item.from_dict(dict(obj))
    except Exception as exc:  # pystac raises several types for a malformed item
        raise ImageError(f"invalid STAC item ({exc})", path=path, fix="give a valid STAC item JSON") from exc
    p = item.properties
    cloud = p.get("eo:cloud_cover")
    instruments = p.get("instruments") or []
    cloud_asset = item.assets.get("cloud_mask")
    return {
        "id": item.id,
        # pystac parses the datetime itself; keep the original text so naive times are caught.
        "acquired": p.get("datetime") or p.get("start_datetime"),
        "sensor": p.get("constellation") or p.get("platform") or (instruments[0] if instruments else None),
        "gsd": p.get("gsd"),
        "off_nadir": p.get("view:off_nadir"),
        "sun_elevation": p.get("view:sun_elevation"),
        "sun_azimuth": p.get("view:sun_azimuth"),
        # STAC gives cloud cover in percent; scenes keep a fraction.
        "cloud_cover": float(cloud) / 100 if cloud is not None else None,
        "cloud_mask": cloud_asset.href if cloud_asset is not None else None,
        "simulated": p.get("simulated", False),
    }


def parse_time(value: Any, where: Path) -> dt.datetime:
    """An aware UTC datetime from ISO 8601 text (or TIFF ``YYYY:MM:DD HH:MM:SS``); naive is an error."""
    if value is None or value == "":
        raise ImageError("no acquisition time in the sidecar or the GeoTIFF tags", path=where, fix=_ACQUIRED_FIX)
    text = str(value).strip()
    if len(text) >= 19 and text[4] == ":" and text[7] == ":":  # TIFF DateTime tag layout
        text = text[:4] + "-" + text[5:7] + "-" + text[8:]
    try:
        t = dt.datetime.fromisoformat(text)
    except ValueError as exc:
        raise ImageError(f"acquisition time {value!r} is not ISO 8601", path=where, fix=_ACQUIRED_FIX) from exc
    if t.tzinfo is None or t.utcoffset() is None:
        raise ImageError(f"acquisition time {value!r} has no time zone", path=where, fix=_ACQUIRED_FIX)
    return t.astimezone(dt.UTC)


def ground_sample_distance(ds: DatasetReader) -> float:
    """Mean ground size (m) of one pixel at the image centre, for any CRS."""
    cx, cy = ds.width / 2, ds.height / 2
    lons, lats = pixel_to_lonlat(ds, None, np.array([cx, cx + 1, cx]), np.array([cy, cy, cy + 1]))
    _, _, dx = _GEOD.inv(lons[0], lats[0], lons[1], lats[1])
    _, _, dy = _GEOD.inv(lons[0], lats[0], lons[2], lats[2])
    return float((dx + dy) / 2)


def _float(value: Any, key: str, where: Path) -> float | None:
    if value is None or value == "":
        return None
    try:
        return float(value)
    except (TypeError, ValueError) as exc:
        raise ImageError(f"{key} {value!r} is not a number", path=where, fix=f"give {key} as a number") from exc


def _bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes")
    return bool(value)
