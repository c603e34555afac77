"""How much of a zone a scene actually saw, measured in metres in a local UTM projection."""

from __future__ import annotations

from functools import lru_cache

from pyproj import CRS
from pyproj.aoi import AreaOfInterest
from pyproj.database import query_utm_crs_info
from shapely.geometry.base import BaseGeometry

from sitewatch.imagery.raster import reproject_geometry


@lru_cache(maxsize=256)
def _utm_for(lon: float, lat: float) -> str:
    infos = query_utm_crs_info(datum_name="WGS 84", area_of_interest=AreaOfInterest(lon, lat, lon, lat))
    if not infos:  # polar: UTM undefined, fall back to an equal-area projection
        return "EPSG:6933"
    return CRS.from_epsg(int(infos[0].code)).to_string()


def local_utm(geom: BaseGeometry) -> str:
    """The WGS 84 / UTM zone CRS (as ``EPSG:...``) containing the centroid of ``geom`` (lon, lat)."""
    c = geom.centroid
    # Rounded so that neighbouring zones share one cached lookup.
    return _utm_for(round(c.x, 2), round(c.y, 2))


def observed_fraction(zone: BaseGeometry, valid: BaseGeometry) -> float:
    """``area(zone ∩ valid) / area(zone)`` in [0, 1], both geometries in EPSG:4326.

    Areas are taken in the local UTM zone so that degrees of longitude and latitude weigh
    the same; an empty or degenerate zone has observed fraction 0.
    """
    if zone.is_empty or valid.is_empty:
        return 0.0
    crs = local_utm(zone)
    zone_m = reproject_geometry(zone, "EPSG:4326", crs)
    area = zone_m.area
    if area <= 0.0:
        return 0.0
    seen = reproject_geometry(zone.intersection(valid), "EPSG:4326", crs).area
    return min(1.0, max(0.0, seen / area))
