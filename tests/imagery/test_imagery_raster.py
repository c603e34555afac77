"""Raster primitives: checked open, windows from geometries, RGB reads, pixel <-> lon/lat."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from shapely.geometry import MultiPoint

from sitewatch.errors import ImageError
from sitewatch.imagery.raster import (
    geometry_to_pixels,
    open_raster,
    pixel_box_to_polygon,
    pixel_to_lonlat,
    read_rgb,
    window_for_geometry,
)

TifWriter = Callable[..., Path]


@pytest.fixture
def rgb_tif(tmp_path: Path, write_tif: TifWriter) -> Path:
    data = np.random.default_rng(1).integers(1, 255, (3, 40, 60), dtype=np.uint8)
    data[:, :10, :] = 0  # top 10 rows nodata
    return write_tif(tmp_path / "rgb.tif", data)


def test_open_rejects_non_image(tmp_path: Path, write_tif: TifWriter) -> None:
    bad = tmp_path / "notes.tif"
    bad.write_text("this is not a TIFF")
    with pytest.raises(ImageError, match=r"notes\.tif: not a readable image"):
        open_raster(bad)


def test_open_rejects_empty_file(tmp_path: Path, write_tif: TifWriter) -> None:
    empty = tmp_path / "empty.tif"
    empty.touch()
    with pytest.raises(ImageError, match=r"empty.tif: empty file \(0 bytes\).*fix:"):
        open_raster(empty)


def test_open_rejects_truncated_file(tmp_path: Path, write_tif: TifWriter) -> None:
    data = np.random.default_rng(0).integers(0, 255, (3, 300, 300), dtype=np.uint8)
    whole = write_tif(tmp_path / "whole.tif", data).read_bytes()
    cut = tmp_path / "cut.tif"
    cut.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(ImageError, match=r"cut\.tif: image data is truncated"):
        open_raster(cut)


def test_open_requires_georeferencing_unless_told(tmp_path: Path, write_tif: TifWriter) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plain = write_tif(tmp_path / "plain.tif", np.ones((1, 8, 8), dtype=np.uint8), crs=None)
    with pytest.raises(ImageError, match=r"plain\.tif: image has no coordinate reference system.*fix:"):
        open_raster(plain)
    with open_raster(plain, require_georef=False) as ds:
        assert ds.width == 8


def test_pixel_lonlat_round_trip(rgb_tif: Path) -> None:
    with open_raster(rgb_tif) as ds:
        lons, lats = pixel_to_lonlat(ds, None, np.array([0.0, 60.0, 12.5]), np.array([0.0, 40.0, 7.25]))
        assert lons[1] > lons[0] and lats[1] < lats[0]  # east and south of the origin
        back = geometry_to_pixels(ds, None, MultiPoint(np.column_stack([lons, lats])))
    coords = [(p.x, p.y) for p in back.geoms]
    assert coords == [pytest.approx(c, abs=1e-6) for c in [(0, 0), (60, 40), (12.5, 7.25)]]


def test_pixel_box_polygon_has_ground_size(rgb_tif: Path) -> None:
    with open_raster(rgb_tif) as ds:
        poly = pixel_box_to_polygon(ds.transform, ds.crs, (10, 20, 30, 24))
        px = geometry_to_pixels(ds, None, poly)
    assert px.bounds == pytest.approx((10, 20, 30, 24), abs=1e-6)
    assert poly.is_valid and len(poly.exterior.coords) == 5


def test_window_for_geometry_pads_clips_and_misses(rgb_tif: Path) -> None:
    with open_raster(rgb_tif) as ds:
        inner = pixel_box_to_polygon(ds.transform, ds.crs, (10, 20, 30, 24))
        w = window_for_geometry(ds, inner, pad_px=2)
        assert w is not None
        assert (w.col_off, w.row_off, w.width, w.height) == (8, 18, 24, 8)
        edge = pixel_box_to_polygon(ds.transform, ds.crs, (50, 30, 90, 70))
        w = window_for_geometry(ds, edge)
        assert w is not None
        assert (w.col_off, w.row_off, w.width, w.height) == (50, 30, 10, 10)
        far = pixel_box_to_polygon(ds.transform, ds.crs, (500, 500, 510, 510))
        assert window_for_geometry(ds, far) is None


def test_read_rgb_uint8_keeps_values_and_masks_nodata(rgb_tif: Path) -> None:
    with open_raster(rgb_tif) as ds:
        expected = np.moveaxis(ds.read(), 0, -1)
        rgb, valid = read_rgb(ds)
    assert rgb.shape == (40, 60, 3) and rgb.dtype == np.uint8
    np.testing.assert_array_equal(rgb, expected)
    assert not valid[:10].any() and valid[10:].all()


def test_read_rgb_decimates_with_out_shape(rgb_tif: Path) -> None:
    with open_raster(rgb_tif) as ds:
        rgb, valid = read_rgb(ds, out_shape=(20, 30))
    assert rgb.shape == (20, 30, 3) and valid.shape == (20, 30)
    assert not valid[:5].any() and valid[5:].all()


def test_read_rgb_stretches_uint16_and_replicates_single_band(tmp_path: Path, write_tif: TifWriter) -> None:
    ramp = np.tile(np.linspace(100, 4000, 50, dtype=np.uint16), (1, 20, 1))
    path = write_tif(tmp_path / "pan.tif", ramp, nodata=None)
    with open_raster(path) as ds:
        rgb, valid = read_rgb(ds)
    assert rgb.shape == (20, 50, 3) and rgb.dtype == np.uint8 and valid.all()
    np.testing.assert_array_equal(rgb[..., 0], rgb[..., 2])
    assert rgb[0, 0, 0] == 0 and rgb[0, -1, 0] == 255  # percentile stretch saturates the ends
    assert np.all(np.diff(rgb[0, :, 0].astype(int)) >= 0)  # monotone


def test_read_rgb_masks_nan(tmp_path: Path, write_tif: TifWriter) -> None:
    data = np.ones((3, 8, 8), dtype="float32")
    data[:, 0, 0] = np.nan
    data[:, 1, 1] = 5
    path = write_tif(tmp_path / "f.tif", data, nodata=None)
    with open_raster(path) as ds:
        _, valid = read_rgb(ds)
    assert not valid[0, 0] and valid.sum() == 63
