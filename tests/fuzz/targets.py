"""Fuzz targets: parsers of user files fed arbitrary bytes.

Each target takes ``bytes`` and must either parse them or raise a
:class:`~sitewatch.errors.SitewatchError` (a clear message for the user); any other
exception is a finding. They run under hypothesis in ``test_fuzz_parsers.py`` and, for a
set time, under atheris (or hypothesis when atheris is not installed) from
``benchmarks/fuzz.py``.
"""

from __future__ import annotations

import contextlib
import json
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from hypothesis import strategies as st

from sitewatch.errors import SitewatchError

Target = Callable[[bytes], None]
_WORK = Path(tempfile.mkdtemp(prefix="sitewatch-fuzz-"))


@contextlib.contextmanager
def expected_errors() -> Iterator[None]:
    """A :class:`SitewatchError` is the parser refusing the input properly: not a finding."""
    try:
        yield
    except SitewatchError as exc:
        message = str(exc)
        if not message or "\n" in message.split(" — fix:")[0]:
            raise AssertionError(f"error message is not one line: {message!r}") from exc


def _file(name: str, data: bytes) -> Path:
    path = _WORK / name
    path.write_bytes(data)
    return path


def site_catalogue(data: bytes) -> None:
    """GeoJSON site catalogue (``sitewatch sites import``)."""
    from sitewatch.sites.geojson import read_sites

    with expected_errors():
        read_sites(_file("sites.geojson", data))


def _image() -> Path:
    path = _WORK / "scene.tif"
    if not path.exists():
        profile = {"driver": "GTiff", "width": 4, "height": 4, "count": 1, "dtype": "uint8"}
        grid = Affine(0.5, 0, 500_000, 0, -0.5, 4_400_000)
        with rasterio.open(path, "w", **profile, crs="EPSG:32651", transform=grid) as ds:
            ds.write(np.ones((1, 4, 4), dtype="uint8"))
    return path


def scene_metadata(data: bytes) -> None:
    """Sidecar ``<image>.json`` or STAC item beside an image (``sitewatch ingest``)."""
    from sitewatch.imagery.metadata import read_metadata

    image = _image()
    _file("scene.json", data)
    with expected_errors(), rasterio.open(image) as ds:
        read_metadata(image, ds)


def provider_metadata(data: bytes) -> None:
    """Maxar ``.IMD``, Airbus ``DIM_*.XML`` and Planet ``metadata.json`` readers."""
    from sitewatch.imagery.providers import read_dimap, read_imd, read_planet

    for reader, name in ((read_imd, "scene.IMD"), (read_dimap, "DIM_scene.XML"), (read_planet, "metadata.json")):
        with expected_errors():
            reader(_file(name, data))


def count_csv(data: bytes) -> None:
    """Count series CSV (``sitewatch analyze series``)."""
    from sitewatch.analytics.series import read_series

    with expected_errors():
        read_series(_file("counts.csv", data))


def event_catalogue(data: bytes) -> None:
    """Event catalogues (``sitewatch events import``): each format forced on the same bytes."""
    from sitewatch.analytics.events import FORMATS, read_events

    path = _file("events.csv", data)
    for fmt in FORMATS:
        with expected_errors():
            read_events(path, fmt)


def tle(data: bytes) -> None:
    """Two/three-line element sets (``sitewatch passes``)."""
    from sitewatch.planning.tle import parse_tle

    with expected_errors():
        parse_tle(data.decode("utf-8", errors="replace"))


TARGETS: dict[str, Target] = {
    "site_catalogue": site_catalogue,
    "scene_metadata": scene_metadata,
    "provider_metadata": provider_metadata,
    "count_csv": count_csv,
    "event_catalogue": event_catalogue,
    "tle": tle,
}

#: Valid inputs the fuzzers start from (mutated by atheris, mixed in by hypothesis).
SEEDS: dict[str, list[bytes]] = {
    "site_catalogue": [
        b'{"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {"id": "s", "name": "S"},'
        b' "geometry": {"type": "Polygon", "coordinates": [[[124, 39], [124.1, 39], [124.1, 39.1], [124, 39]]]}}]}'
    ],
    "scene_metadata": [
        b'{"id": "a", "acquired": "2024-03-01T02:13:00Z", "sensor": "WV3", "gsd": 0.5, "cloud_cover": 0.1}',
        b'{"type": "Feature", "stac_version": "1.0.0", "id": "x", "geometry": null, "links": [], "assets": {},'
        b' "properties": {"datetime": "2024-04-02T03:04:05Z", "eo:cloud_cover": 25}}',
    ],
    "provider_metadata": [
        b'BEGIN_GROUP = IMAGE_1\n satId = "WV03";\n firstLineTime = 2024-03-01T02:13:00.000000Z;\n'
        b" meanCollectedGSD = 0.31;\nEND_GROUP = IMAGE_1\nEND;\n",
        b'{"properties": {"acquired": "2024-03-01T02:13:00Z", "satellite_id": "2412", "gsd": 3.7}}',
    ],
    "count_csv": [b"timestamp,count\n2024-01-01,1\n2024-01-02T03:00Z,4\n2024-01-05,0\n"],
    "event_catalogue": [
        b"F1,Date,Date Entered,Launch Time (UTC),Missile Name,Missile Type,Launch Agency/Authority,"
        b"Facility Name,Facility Location,Other Name,Facility Latitude,Facility Longitude\n"
        b"1,5-Apr-84,,,Scud-B,SRBM,,Tonghae,,,40.85,129.66\n",
        b"event_id,site_id,date,kind\ne1,sohae,2024-03-01,launch\n",
    ],
    "tle": [
        b"ISS (ZARYA)\n1 25544U 98067A   24060.50000000  .00016717  00000-0  10270-3 0  9994\n"
        b"2 25544  51.6416 247.4627 0006703 130.5360 325.0288 15.72125391563537\n"
    ],
}


JSON = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=False) | st.integers() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=25,
)
# Keys the parsers look for, so generated objects reach past the first checks.
KEYS = st.sampled_from(
    ["type", "features", "geometry", "properties", "id", "name", "site_id", "kind", "coordinates", "acquired",
     "sensor", "gsd", "cloud_cover", "cloud_mask", "simulated", "stac_version", "datetime", "assets", "links"]
)  # fmt: skip
STRUCTURED = st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=6),
    max_leaves=30,
)


@st.composite
def mutated(draw: st.DrawFn, seeds: list[bytes]) -> bytes:
    """A seed input with a few bytes replaced, inserted or deleted."""
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 8))):
        i = draw(st.integers(0, len(data)))
        op = draw(st.sampled_from(["set", "insert", "delete"]))
        b = draw(st.integers(0, 255))
        if op == "insert" or i == len(data):
            data.insert(i, b)
        elif op == "set":
            data[i] = b
        else:
            del data[i]
    return bytes(data)


def inputs(name: str) -> st.SearchStrategy[bytes]:
    as_json = st.one_of(JSON, STRUCTURED).map(lambda v: json.dumps(v).encode())
    return st.one_of(st.binary(max_size=600), mutated(SEEDS[name]), as_json)
