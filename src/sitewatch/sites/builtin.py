"""A small hand-written table of real, publicly documented facilities.

Coordinates are WGS84 decimal degrees of a reference point; the AOI is a square around it.
Where the facility appears in nagix/nk-missile-tests ``data/facility.en.json`` (commit
a0cc658, Apache-2.0; a copy sits under ``shared/data/reference/nk-missile-tests``) its
coordinates are used and ``facility`` holds its key there, so events can be joined to sites.
Other points come from public reporting and are approximate (to ~0.5 km).
"""

from __future__ import annotations

from dataclasses import dataclass

from pyproj import CRS
from shapely.geometry import box
from shapely.geometry.base import BaseGeometry

from sitewatch.imagery.raster import reproject_geometry
from sitewatch.model import Site


@dataclass(frozen=True)
class Facility:
    id: str
    name: str
    lat: float
    lon: float
    country: str
    description: str
    facility: str | None = None  # key in facility.en.json, when listed there


FACILITIES: tuple[Facility, ...] = (
    # facility.en.json "sohae": 39.6596, 124.7057.
    Facility(
        "sohae",
        "Sohae Satellite Launching Station",
        39.6596,
        124.7057,
        "KP",
        "Satellite launch site at Tongchang-ri (Unha-3, Chollima-1 launches; engine test stand).",
        "sohae",
    ),
    # facility.en.json "tonghae": 40.8499966, 129.666664 (Musudan-ri).
    Facility(
        "tonghae",
        "Tonghae Satellite Launching Ground (Musudan-ri)",
        40.8499966,
        129.666664,
        "KP",
        "East-coast launch site of the 1998, 2006 and 2009 space launch attempts.",
        "tonghae",
    ),
    # facility.en.json "sinpo": 40.0368, 128.1839 (other sources place the yard ~1 km south, 40.0255, 128.1886).
    Facility(
        "sinpo",
        "Sinpo Shipyard",
        40.0368,
        128.1839,
        "KP",
        "Submarine shipyard; SLBM test barge and submarine launch tests.",
        "sinpo",
    ),
    # facility.en.json "pyongyang": 39.200159, 125.673256 ("Pyongyang International Airport", Sunan).
    Facility(
        "pyongyang-sunan",
        "Pyongyang Sunan International Airport",
        39.200159,
        125.673256,
        "KP",
        "Airport used for road-mobile missile launches (e.g. Hwasong-15, Hwasong-17).",
        "pyongyang",
    ),
    # facility.en.json "kusong": 40.01325, 125.22302.
    Facility(
        "kusong",
        "Kusong Testing Ground",
        40.01325,
        125.22302,
        "KP",
        "Missile test area north of Pyongyang.",
        "kusong",
    ),
    # Not in facility.en.json; approximate, from public reporting (e.g. 38 North, CNS).
    Facility(
        "sanumdong",
        "Sanumdong Missile Research Facility",
        39.0758,
        125.7481,
        "KP",
        "ICBM and space launch vehicle assembly and research facility in Pyongyang.",
    ),
    # Not in facility.en.json; approximate, from public reporting (IAEA, 38 North).
    Facility(
        "yongbyon",
        "Yongbyon Nuclear Scientific Research Center",
        39.7960,
        125.7540,
        "KP",
        "Nuclear reactor, reprocessing and enrichment complex.",
    ),
)


def square_aoi(lon: float, lat: float, half_width_m: float) -> BaseGeometry:
    """A ground square of ``2 * half_width_m`` centred on (lon, lat), in EPSG:4326."""
    local = CRS.from_proj4(f"+proj=aeqd +lat_0={lat} +lon_0={lon} +datum=WGS84 +units=m")
    return reproject_geometry(box(-half_width_m, -half_width_m, half_width_m, half_width_m), local, "EPSG:4326")


def builtin_sites(buffer_m: float = 1000) -> list[Site]:
    """The built-in facilities as sites with a square AOI of half-width ``buffer_m`` and no zones."""
    if buffer_m <= 0:
        raise ValueError(f"buffer_m must be positive, got {buffer_m}")
    return [
        Site(f.id, f.name, square_aoi(f.lon, f.lat, buffer_m), country=f.country, description=f.description)
        for f in FACILITIES
    ]
