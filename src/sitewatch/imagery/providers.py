"""Provider metadata files beside an image: Maxar ``.IMD``, Pleiades DIMAP ``DIM_*.XML``, Planet ``metadata.json``.

Each reader returns the sitewatch sidecar keys (``acquired``, ``sensor``, ``gsd``,
``off_nadir``, ``sun_elevation``, ``sun_azimuth``, ``cloud_cover`` as a fraction) with
``None`` for what the file does not say. Only Planet's item id names one image: Maxar
catalogue ids and DIMAP dataset names are shared by every tile of a product, so those
scenes keep their content-hash id. :func:`find_provider_metadata` picks the
file that belongs to an image. Values are returned as text or numbers untouched, so
:mod:`sitewatch.imagery.metadata` validates them in one place.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sitewatch.errors import ImageError

Values = dict[str, Any]

# DigitalGlobe/Maxar ``satId`` codes.
_MAXAR_SATELLITES = {
    "WV01": "WorldView-1",
    "WV02": "WorldView-2",
    "WV03": "WorldView-3",
    "WV04": "WorldView-4",
    "GE01": "GeoEye-1",
    "QB02": "QuickBird-2",
    "IK02": "IKONOS",
}
_IMD_LINE = re.compile(r'^\s*(\w+)\s*=\s*"?([^";]*)"?\s*;?\s*$')


def read_imd(path: Path) -> Values:
    """Maxar/DigitalGlobe ``.IMD``: ``key = value;`` lines, image values in ``BEGIN_GROUP = IMAGE_1``."""
    groups: dict[str, dict[str, str]] = {}
    current = ""
    for line in _read_text(path).splitlines():
        m = _IMD_LINE.match(line)
        if not m:
            continue  # list values "( ... )" and END; carry nothing we use
        key, value = m.group(1), m.group(2).strip()
        if key == "BEGIN_GROUP":
            current = value
        elif key == "END_GROUP":
            current = ""
        else:
            groups.setdefault(current, {})[key] = value
    image = groups.get("IMAGE_1")
    if image is None:
        raise ImageError("no BEGIN_GROUP = IMAGE_1 block", path=path, fix="give the .IMD delivered with the image")
    sat = image.get("satId")
    return {
        "acquired": image.get("firstLineTime"),
        "sensor": _MAXAR_SATELLITES.get(sat or "", sat),
        "gsd": image.get("meanCollectedGSD"),
        "off_nadir": image.get("meanOffNadirViewAngle"),
        "sun_elevation": image.get("meanSunEl"),
        "sun_azimuth": image.get("meanSunAz"),
        "cloud_cover": image.get("cloudCover"),  # already a fraction in IMD
    }


def read_dimap(path: Path) -> Values:
    """Airbus Pleiades / Pleiades Neo / SPOT 6-7 DIMAP v2 ``DIM_*.XML``."""
    try:
        root = ET.fromstring(_read_text(path))
    except ET.ParseError as exc:
        raise ImageError(
            f"DIMAP file is not valid XML ({exc})", path=path, fix="give the DIM_*.XML of the product"
        ) from exc
    # The scene centre when the product lists several locations (Top/Center/Bottom).
    located = root.findall(".//Located_Geometric_Values")
    centre = next((e for e in located if e.findtext("LOCATION_TYPE") == "Center"), located[0] if located else None)
    strip = root.find(".//Strip_Source")
    if strip is None:
        strip = root.find(".//Acquisition")
    acquired = centre.findtext("TIME") if centre is not None else None
    if not acquired and strip is not None and strip.findtext("IMAGING_DATE"):
        acquired = f"{strip.findtext('IMAGING_DATE')}T{strip.findtext('IMAGING_TIME') or '00:00:00Z'}"
    mission = (strip.findtext("MISSION") or "") if strip is not None else ""
    index = (strip.findtext("MISSION_INDEX") or "") if strip is not None else ""
    cloud = root.findtext(".//CLOUD_COVERAGE")
    return {
        "acquired": acquired,
        "sensor": _dimap_sensor(mission, index) or None,
        "gsd": _dimap_gsd(root, centre, path),
        # VIEWING_ANGLE is the off-nadir angle at the satellite; INCIDENCE_ANGLE (at the ground,
        # a little larger) is the fallback when a product gives only that.
        "off_nadir": _first_text(centre, ".//VIEWING_ANGLE", ".//INCIDENCE_ANGLE"),
        "sun_elevation": _first_text(centre, ".//SUN_ELEVATION"),
        "sun_azimuth": _first_text(centre, ".//SUN_AZIMUTH"),
        "cloud_cover": _number(cloud, "CLOUD_COVERAGE", path) / 100 if cloud else None,  # percent in DIMAP
    }


def read_planet(path: Path) -> Values:
    """Planet scene ``metadata.json`` (a GeoJSON feature of the Data API)."""
    try:
        obj = json.loads(_read_text(path))
    except json.JSONDecodeError as exc:
        raise ImageError(f"Planet metadata is not valid JSON ({exc})", path=path, fix="give the metadata.json") from exc
    props = obj.get("properties") if isinstance(obj, Mapping) else None
    if not isinstance(props, Mapping):
        raise ImageError("no 'properties' object", path=path, fix="give the metadata.json delivered with the scene")
    provider, sat = props.get("provider"), props.get("satellite_id")
    return {
        "id": obj.get("id"),
        "acquired": props.get("acquired"),
        "sensor": " ".join(str(v) for v in (_PLANET_PROVIDERS.get(str(provider), provider), sat) if v) or None,
        "gsd": props.get("pixel_resolution") or props.get("gsd"),
        "off_nadir": props.get("view_angle"),
        "sun_elevation": props.get("sun_elevation"),
        "sun_azimuth": props.get("sun_azimuth"),
        "cloud_cover": props.get("cloud_cover"),  # a fraction in the Data API
    }


_PLANET_PROVIDERS = {"planetscope": "PlanetScope", "skysat": "SkySat", "rapideye": "RapidEye"}

#: Readers by the ``source`` name recorded on the scene.
READERS: dict[str, Callable[[Path], Values]] = {"imd": read_imd, "dimap": read_dimap, "planet": read_planet}


def find_provider_metadata(image: Path) -> tuple[str, Path] | None:
    """The provider metadata file that describes ``image`` and its kind, or None."""
    return next(_candidates(image), None)


@dataclass(frozen=True)
class ProviderMetadata:
    """What a provider file said, in sidecar keys, and where it was."""

    kind: str  # "imd", "dimap" or "planet"
    path: Path
    values: Values


def read_provider_metadata(image: Path) -> ProviderMetadata | None:
    """The provider metadata beside ``image``, or None when there is none."""
    found = find_provider_metadata(image)
    if found is None:
        return None
    kind, path = found
    return ProviderMetadata(kind, path, READERS[kind](path))


def _candidates(image: Path) -> Iterator[tuple[str, Path]]:
    folder, stem = image.parent, image.stem
    for suffix in (".IMD", ".imd"):
        if image.with_suffix(suffix).is_file():
            yield "imd", image.with_suffix(suffix)
    # Pleiades: IMG_<product>_R1C1.TIF is described by DIM_<product>.XML in the same folder.
    dims = sorted(p for p in folder.glob("DIM_*") if p.suffix.upper() == ".XML")
    product = stem.removeprefix("IMG_")
    matching = [p for p in dims if product.startswith(p.stem.removeprefix("DIM_"))]
    if matching or len(dims) == 1:
        yield "dimap", (matching or dims)[0]
    # Planet: <item>_3B_AnalyticMS.tif beside <item>_metadata.json (or a bare metadata.json).
    for p in sorted(folder.glob("*metadata.json")):
        item = p.name.removesuffix("metadata.json").rstrip("_")
        if not item or stem.startswith(item):
            yield "planet", p


def _dimap_sensor(mission: str, index: str) -> str:
    names = {"PHR": "Pleiades-", "PNEO": "Pleiades-Neo ", "SPOT": "SPOT "}
    return f"{names.get(mission, mission)}{index}" if mission else ""


def _dimap_gsd(root: ET.Element, centre: ET.Element | None, path: Path) -> float | None:
    across = _first_text(centre, ".//GSD_ACROSS_TRACK")
    along = _first_text(centre, ".//GSD_ALONG_TRACK")
    if across and along:
        return (_number(across, "GSD_ACROSS_TRACK", path) + _number(along, "GSD_ALONG_TRACK", path)) / 2
    # Ortho products state their resampled pixel size instead.
    spacing = root.findtext(".//RESAMPLING_SPACING") or root.findtext(".//RESOLUTION")
    return _number(spacing, "RESOLUTION", path) if spacing else None


def _number(text: str, key: str, path: Path) -> float:
    try:
        return float(text)
    except ValueError as exc:
        raise ImageError(f"{key} {text!r} is not a number", path=path, fix=f"give {key} as a number") from exc


def _first_text(element: ET.Element | None, *paths: str) -> str | None:
    if element is None:
        return None
    return next((t for p in paths if (t := element.findtext(p))), None)


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ImageError(f"cannot read provider metadata ({exc})", path=path, fix="check the file") from exc
