"""Property tests of the geometry and window primitives every pipeline stage relies on."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import rasterio
import shapely
from affine import Affine
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import Geod
from rasterio.io import DatasetReader
from rasterio.windows import Window
from shapely.geometry import box

from sitewatch.detect.slicing import plan_tiles
from sitewatch.imagery.metadata import parse_time
from sitewatch.imagery.raster import (
    geometry_to_pixels,
    pixel_box_to_polygon,
    reproject_geometry,
    split_antimeridian,
    window_for_geometry,
)

WIDTH, HEIGHT = 300, 200
GEOD = Geod(ellps="WGS84")
PROPS = settings(max_examples=120, deadline=None, derandomize=True)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DatasetReader]:
    path = Path(tmp_path_factory.mktemp("props")) / "grid.tif"
    grid = Affine(0.5, 0, 500_000, 0, -0.5, 4_400_000)
    profile = {"driver": "GTiff", "width": WIDTH, "height": HEIGHT, "count": 1, "dtype": "uint8"}
    with rasterio.open(path, "w", **profile, crs="EPSG:32651", transform=grid) as ds:
        ds.write(np.ones((1, HEIGHT, WIDTH), dtype="uint8"))
    with rasterio.open(path) as ds:
        yield ds


coord = st.floats(-150, 450, allow_nan=False)


@given(x0=coord, y0=coord, w=st.floats(0.5, 200), h=st.floats(0.5, 200), pad=st.integers(0, 5))
@PROPS
def test_window_covers_the_clipped_geometry_and_stays_inside(
    dataset: DatasetReader, x0: float, y0: float, w: float, h: float, pad: int
) -> None:
    geom = pixel_box_to_polygon(dataset.transform, dataset.crs, (x0, y0, x0 + w, y0 + h))
    win = window_for_geometry(dataset, geom, pad_px=pad)
    inside = box(x0, y0, x0 + w, y0 + h).intersection(box(0, 0, WIDTH, HEIGHT))
    if win is None:
        assert inside.area < 1e-3  # no overlap, or only a sliver along the edge
        return
    assert win.col_off >= 0 and win.row_off >= 0
    assert win.col_off + win.width <= WIDTH and win.row_off + win.height <= HEIGHT
    if inside.is_empty:
        return  # just outside an edge: only the padding reaches into the image
    c0, r0, c1, r1 = inside.bounds
    tol = 1e-3
    assert win.col_off <= c0 + tol and win.row_off <= r0 + tol
    assert c1 - tol <= win.col_off + win.width and r1 - tol <= win.row_off + win.height


@given(x0=st.floats(0, 280), y0=st.floats(0, 180), w=st.floats(0.01, 20), h=st.floats(0.01, 20))
@PROPS
def test_pixel_box_round_trips_through_lon_lat(
    dataset: DatasetReader, x0: float, y0: float, w: float, h: float
) -> None:
    poly = pixel_box_to_polygon(dataset.transform, dataset.crs, (x0, y0, x0 + w, y0 + h))
    assert poly.is_valid
    back = geometry_to_pixels(dataset, None, poly).bounds
    assert back == pytest.approx((x0, y0, x0 + w, y0 + h), abs=1e-6)


@given(lon=st.floats(120.5, 125.5), lat=st.floats(-80, 84))
@PROPS
def test_reprojection_round_trip(lon: float, lat: float) -> None:
    point = shapely.Point(lon, lat)
    back = reproject_geometry(reproject_geometry(point, "EPSG:4326", "EPSG:32651"), "EPSG:32651", "EPSG:4326")
    assert (back.x, back.y) == pytest.approx((lon, lat), abs=1e-7)


@given(
    west=st.floats(150, 179.99),
    width=st.floats(0.01, 30),
    south=st.floats(-80, 79),
    height=st.floats(0.01, 10),
)
@PROPS
def test_split_antimeridian_keeps_area_and_stays_in_range(
    west: float, width: float, south: float, height: float
) -> None:
    east = west + width  # may be past 180
    wrapped = box(west, south, east, south + height)
    # As a reprojection writes it: longitudes folded into [-180, 180].
    folded = shapely.transform(
        wrapped, lambda xy: np.column_stack([np.where(xy[:, 0] > 180, xy[:, 0] - 360, xy[:, 0]), xy[:, 1]])
    )
    split = split_antimeridian(folded)
    minx, _, maxx, _ = split.bounds
    assert split.is_valid and split.geom_type in ("Polygon", "MultiPolygon") and minx >= -180 and maxx <= 180
    assert split.area == pytest.approx(wrapped.area, rel=1e-9, abs=1e-12)
    if east <= 180:
        assert split.equals(folded)  # nothing to split


@given(west=st.floats(-180, 170), width=st.floats(0.001, 10), south=st.floats(-89, 80), height=st.floats(0.001, 9))
@PROPS
def test_split_antimeridian_leaves_ordinary_geometries_alone(
    west: float, width: float, south: float, height: float
) -> None:
    geom = box(west, south, west + width, south + height)
    assert split_antimeridian(geom) is geom


@given(
    size=st.tuples(st.integers(1, 3000), st.integers(1, 3000)),
    region=st.tuples(st.floats(0, 1), st.floats(0, 1), st.floats(0, 1), st.floats(0, 1)),
    scale=st.floats(0.25, 4),
    tile=st.sampled_from([64, 256, 640]),
    overlap=st.integers(0, 48),
)
@PROPS
def test_planned_tiles_cover_the_region_inside_the_image(
    size: tuple[int, int], region: tuple[float, float, float, float], scale: float, tile: int, overlap: int
) -> None:
    width, height = size
    c0, r0 = math.floor(region[0] * (width - 1)), math.floor(region[1] * (height - 1))
    w = max(1, math.floor(region[2] * (width - c0)))
    h = max(1, math.floor(region[3] * (height - r0)))
    tiles = plan_tiles(Window(c0, r0, w, h), (width, height), scale, (tile, tile), overlap)
    assert tiles
    for t in tiles:
        assert t.col >= 0 and t.row >= 0 and t.col + t.width <= width and t.row + t.height <= height
        assert 1 <= t.out_width <= tile and 1 <= t.out_height <= tile
    covered = shapely.union_all([box(t.col, t.row, t.col + t.width, t.row + t.height) for t in tiles])
    assert covered.contains(box(c0, r0, c0 + w, r0 + h).buffer(-1e-6))
    # Cores are half-open and partition the plane: every pixel centre has exactly one owner.
    for x in np.linspace(c0 + 0.5, c0 + w - 0.5, 7):
        for y in np.linspace(r0 + 0.5, r0 + h - 0.5, 7):
            owners = [t for t in tiles if t.core[0] <= x < t.core[2] and t.core[1] <= y < t.core[3]]
            assert len(owners) == 1, (x, y)


@given(when=st.datetimes(timezones=st.timezones()))
@PROPS
def test_parse_time_reads_back_any_aware_time_as_utc(when: object) -> None:
    import datetime as dt

    assert isinstance(when, dt.datetime)
    parsed = parse_time(when.isoformat(), Path("x.json"))
    # Compare instants: == between zones is always False for an ambiguous local time (PEP 495).
    assert parsed.timestamp() == when.timestamp() and parsed.utcoffset() == dt.timedelta(0)
