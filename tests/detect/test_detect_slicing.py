"""Sliced inference: seams, georeferencing, AOI, masks, bands/dtypes and bad input."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import rasterio
from pyproj import Transformer
from rasterio.enums import ColorInterp
from rasterio.env import get_gdal_config
from rasterio.windows import Window
from shapely.geometry import box

from sitewatch.detect import slicing
from sitewatch.detect.base import Detector
from sitewatch.detect.slicing import (
    DEFAULT_OVERLAP,
    TileReader,
    _resize,
    blocks,
    detect_raster,
    plan_tiles,
    read_tiles,
    tile_shape_for,
)
from sitewatch.errors import ImageError, NoValidPixelsError
from sitewatch.imagery.jpegtiles import JpegTiles


def _iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def _seam_positions(size: int, gsd: float, det: Detector, overlap: int) -> list[float]:
    """Pixel positions of every tile edge and core boundary along one axis."""
    scale = det.gsd / gsd
    region = Window(0, 0, size, size)
    tiles = plan_tiles(region, (size, size), scale, tile_shape_for(region, scale, det.tile_size), overlap)
    xs = {t.col for t in tiles} | {t.col + t.width for t in tiles} | {t.core[0] for t in tiles}
    return sorted(x for x in xs if 20 < x < size - 20)


@pytest.mark.parametrize(
    "block_tiles,jpeg", [(1, False), (2, False), (slicing.BLOCK_TILES, False), (2, True), (slicing.BLOCK_TILES, True)]
)
def test_objects_on_seams_and_corners_are_found_exactly_once(
    tmp_path: Path, toy: Any, scene: Any, monkeypatch: pytest.MonkeyPatch, block_tiles: int, jpeg: bool
) -> None:
    # Tiles read one by one, in blocks of 2 x 2 (block edges cross the scene) and all at once;
    # JPEG tiles are decoded straight to 3/4 size in blocks widened to whole decoded pixels.
    monkeypatch.setattr(slicing, "BLOCK_TILES", block_tiles)
    gsd, size, overlap = 0.3, 900, 32
    seams = _seam_positions(size, gsd, toy, overlap)
    assert len(seams) >= 6  # the scene really is cut into several tiles
    objects = []
    # Cars centred on every seam line, and on every seam crossing (tile corners).
    for i, s in enumerate(seams):
        sm = s * gsd
        objects.append((sm - 2.25, 30.0 + 9 * i, sm + 2.25, 31.8 + 9 * i))  # vertical seam, along x
        objects.append((30.0 + 9 * i, sm - 0.9, 34.5 + 9 * i, sm + 0.9))  # horizontal seam
    for sx in seams[::2]:
        for sy in seams[1::2]:
            objects.append((sx * gsd - 2.25, sy * gsd - 0.9, sx * gsd + 2.25, sy * gsd + 0.9))
    # A long truck across a seam.
    objects.append((seams[0] * gsd - 6, 200.0, seams[0] * gsd + 6, 202.5))
    objects = [o for k, o in enumerate(objects) if not any(_iou(o, p) > 0 for p in objects[:k])]
    truth = scene(tmp_path / "seams.tif", objects, size=(size, size), gsd=gsd)
    scales: list[int] = []
    if jpeg:
        _to_jpeg(tmp_path / "seams.tif")
        real_read = JpegTiles.read

        def read(self: JpegTiles, w: Window, m: int = 8) -> np.ndarray:
            scales.append(m)
            return real_read(self, w, m)

        monkeypatch.setattr(JpegTiles, "read", read)

    found = detect_raster(tmp_path / "seams.tif", toy, overlap=overlap)

    # Every block at 3/4 size; one full-size read: the sample tile checked against GDAL on open.
    assert sorted(scales) == ([6] * (len(scales) - 1) + [8] if jpeg else [])
    assert len(found) == len(truth)
    for t in truth:
        matches = [d for d in found if _iou(d.box, t) > 0.5]
        assert len(matches) == 1, f"object {t} found {len(matches)} times"


class _NamedByPosition:
    """The toy detector, but a blob in a tile's right half is a "truck": two tiles seeing one
    object on a seam between them name it differently, as a real model may."""

    def __init__(self, toy: Any, same_object_iou: float | None) -> None:
        self.toy, self.same_object_iou = toy, same_object_iou
        self.name, self.classes, self.gsd, self.tile_size = toy.name, toy.classes, toy.gsd, toy.tile_size
        self.gsd_range = toy.gsd_range

    def detect_batch(self, tiles: Any) -> list[list[Any]]:
        return [
            [dataclasses.replace(b, cls="truck") if b.cx > t.shape[1] / 2 else b for b in found]
            for t, found in zip(tiles, self.toy.detect_batch(tiles), strict=True)
        ]


def test_an_object_named_differently_by_two_tiles_is_one_box(tmp_path: Path, toy: Any, scene: Any) -> None:
    gsd, size, overlap = 0.3, 900, 32
    seams = _seam_positions(size, gsd, toy, overlap)
    objects = [(s * gsd - 2.25, 30.0 + 9 * i, s * gsd + 2.25, 31.8 + 9 * i) for i, s in enumerate(seams)]
    truth = scene(tmp_path / "names.tif", objects, size=(size, size), gsd=gsd)
    found = detect_raster(tmp_path / "names.tif", _NamedByPosition(toy, 0.5), overlap=overlap)
    for t in truth:
        assert len([d for d in found if _iou(d.box, t) > 0.5]) == 1, f"object {t}"
    # Ranking mode (every class's box, for mAP) keeps both names where both tiles own it.
    ranked = detect_raster(tmp_path / "names.tif", _NamedByPosition(toy, None), overlap=overlap)
    assert len(ranked) > len(found) == len(truth)


def test_boxes_are_georeferenced(tmp_path: Path, toy: Any, scene: Any, utm: Any) -> None:
    gsd = 0.5
    truth = scene(tmp_path / "geo.tif", [(100.0, 50.0, 104.5, 51.8)], size=(400, 300), gsd=gsd)
    (det,) = detect_raster(tmp_path / "geo.tif", toy)
    assert _iou(det.box, truth[0]) > 0.6
    crs, origin = utm
    to_utm = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    x, y = to_utm.transform(det.geometry.centroid.x, det.geometry.centroid.y)
    assert x == pytest.approx(origin[0] + 102.25, abs=gsd)
    assert y == pytest.approx(origin[1] - 50.9, abs=gsd)
    assert det.scene_id == "geo" and det.detector == toy.name


def test_only_objects_inside_the_aoi_are_returned(tmp_path: Path, toy: Any, scene: Any, utm: Any) -> None:
    objects = [(20.0, 20.0, 24.5, 21.8), (200.0, 150.0, 204.5, 151.8)]
    scene(tmp_path / "aoi.tif", objects, size=(1000, 800), gsd=0.3)
    crs, origin = utm
    to_ll = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    x0, y0 = to_ll.transform(origin[0] + 190, origin[1] - 140)
    x1, y1 = to_ll.transform(origin[0] + 215, origin[1] - 160)
    found = detect_raster(tmp_path / "aoi.tif", toy, aoi=box(x0, y1, x1, y0))
    assert [round(d.box[0] * 0.3) for d in found] == [200]
    # Fewer tiles are read than for the whole scene.
    whole = type(toy)(calls=[])
    detect_raster(tmp_path / "aoi.tif", whole)
    assert sum(toy.calls) < sum(whole.calls)


def test_aoi_outside_the_scene_gives_nothing(tmp_path: Path, toy: Any, scene: Any) -> None:
    scene(tmp_path / "s.tif", [(20.0, 20.0, 24.5, 21.8)], size=(300, 300))
    assert detect_raster(tmp_path / "s.tif", toy, aoi=box(0.0, 0.0, 0.01, 0.01)) == []


def test_nodata_and_cloud_are_respected(tmp_path: Path, toy: Any, scene: Any) -> None:
    objects = [(3.0, 20.0, 7.5, 21.8), (60.0, 20.0, 64.5, 21.8), (120.0, 20.0, 124.5, 21.8)]
    truth = scene(tmp_path / "m.tif", objects, size=(600, 300), gsd=0.3, nodata_cols=100)
    with rasterio.open(tmp_path / "m.tif") as ds:
        profile = ds.profile | {"count": 1, "nodata": None}
    cloud = np.zeros((300, 600), dtype=np.uint8)
    cloud[:, 380:] = 1  # the third car is under cloud
    with rasterio.open(tmp_path / "m.cloud.tif", "w", **profile) as ds:
        ds.write(cloud, 1)
    (det,) = detect_raster(tmp_path / "m.tif", toy)
    assert _iou(det.box, truth[1]) > 0.5
    assert len(detect_raster(tmp_path / "m.tif", toy, cloud_mask=None)) == 1  # sidecar mask found by name


def test_nodata_and_cloud_masks_combined_at_source_match_each_resized(tmp_path: Path, scene: Any) -> None:
    """The reader joins the nodata and cloud masks before one nearest resize; that must give
    the tiles that resizing each mask on its own gives, on every tile of a resampled scene."""
    scene(tmp_path / "r.tif", [(30.0, 20.0, 34.5, 21.8)], size=(700, 500), gsd=0.7, nodata_cols=90)
    cloud = np.zeros((500, 700), dtype=np.uint8)
    cloud[300:, 250:520] = 1
    with rasterio.open(tmp_path / "r.tif") as ds:
        profile = ds.profile | {"count": 1, "nodata": None}
    with rasterio.open(tmp_path / "r.cloud.tif", "w", **profile) as out:
        out.write(cloud, 1)
    with rasterio.open(tmp_path / "r.tif") as ds, rasterio.open(tmp_path / "r.cloud.tif") as clouds:
        region, scale = Window(0, 0, ds.width, ds.height), 0.4 / 0.7
        tiles = plan_tiles(region, (ds.width, ds.height), scale, tile_shape_for(region, scale, 256), 32)
        reader = TileReader(ds, (1, 2, 3), clouds, region, scale)
        partial = 0
        for t in tiles:
            window, shape = Window(t.col, t.row, t.width, t.height), (t.out_height, t.out_width)
            data = _resize(np.moveaxis(ds.read(window=window), 0, -1), shape)
            valid = _resize((ds.dataset_mask(window=window) > 0).view(np.uint8), shape, nearest=True).view(bool)
            valid &= _resize(clouds.read(1, window=window), shape, nearest=True) == 0
            rgb, got = reader.read_window(window, shape)
            assert np.array_equal(rgb, data) and np.array_equal(got, valid)
            partial += not valid.all()
    assert len(tiles) > 4 and 0 < partial < len(tiles)


def test_opencv_runs_on_one_thread_while_slicing_and_is_restored(tmp_path: Path, toy: Any, scene: Any) -> None:
    """The slicer has its own read-ahead thread; OpenCV's pool beside it busy-waited (6 % CPU)."""
    seen: list[int] = []

    class Probe(type(toy)):  # type: ignore[misc]
        def detect_batch(self, tiles):  # type: ignore[no-untyped-def]
            seen.append(cv2.getNumThreads())
            return super().detect_batch(tiles)

    scene(tmp_path / "o.tif", [(3.0, 20.0, 7.5, 21.8)], size=(300, 300), gsd=0.3)
    before = cv2.getNumThreads()
    cv2.setNumThreads(4)
    try:
        detect_raster(tmp_path / "o.tif", Probe())
        assert seen and set(seen) == {1}
        assert cv2.getNumThreads() == 4
    finally:
        cv2.setNumThreads(before)


def test_gdal_block_cache_while_slicing_holds_whole_blocks(tmp_path: Path, toy: Any, scene: Any) -> None:
    """GDAL resamples row by row; a cache smaller than a block decodes it again for every row
    (once set as 128 *bytes*, reads were ~100x slower)."""
    seen: list[int] = []

    class Probe(type(toy)):  # type: ignore[misc]
        def detect_batch(self, tiles):  # type: ignore[no-untyped-def]
            seen.append(int(get_gdal_config("GDAL_CACHEMAX")))  # what GDAL itself uses, in bytes
            return super().detect_batch(tiles)

    scene(tmp_path / "c.tif", [(3.0, 20.0, 7.5, 21.8)], size=(300, 300), gsd=0.3)
    detect_raster(tmp_path / "c.tif", Probe())
    block_row = 16 * 512 * 512 * 4  # a row of 16 RGBA 512-px blocks
    assert seen and min(seen) >= block_row


def test_batches_in_parallel_give_the_same_boxes_in_the_same_order(tmp_path: Path, toy: Any, scene: Any) -> None:
    objects = [(5.0 + 9 * i, 10.0 + 7 * (i % 5), 9.5 + 9 * i, 11.8 + 7 * (i % 5)) for i in range(25)]
    scene(tmp_path / "p.tif", objects, size=(800, 300), gsd=0.3)

    class Parallel(type(toy)):  # type: ignore[misc]
        batch_workers = 3

    one = detect_raster(tmp_path / "p.tif", toy, batch_size=1)
    three = detect_raster(tmp_path / "p.tif", Parallel(), batch_size=1)
    assert len(one) == len(objects)
    assert [(d.box, d.cls) for d in three] == [(d.box, d.cls) for d in one]


def test_all_nodata_is_an_error_not_an_empty_result(tmp_path: Path, toy: Any, scene: Any) -> None:
    scene(tmp_path / "empty.tif", [], size=(300, 200), nodata_cols=300)
    with pytest.raises(NoValidPixelsError, match="no valid pixels"):
        detect_raster(tmp_path / "empty.tif", toy)


@pytest.mark.parametrize(
    "dtype,car,background,building",
    [("uint16", 3000, (950, 1050), 4000), ("float32", 0.6, (0.2, 0.22), 0.8), ("uint8", 200, (20, 60), 255)],
)
def test_high_bit_depth_is_stretched_once_per_scene(
    tmp_path: Path, toy: Any, scene: Any, dtype: str, car: float, background: tuple[float, float], building: float
) -> None:
    # A bright building on the left sets the scene's range. Stretching each tile on its own
    # would blow up the noise of building-free tiles into hundreds of false blobs.
    objects = [(100.0 + 30 * k, 20.0, 104.5 + 30 * k, 21.8) for k in range(5)]
    scene(tmp_path / "d.tif", objects, size=(900, 300), dtype=dtype, value=car, background=background)
    with rasterio.open(tmp_path / "d.tif", "r+") as ds:
        data = ds.read()
        data[:, :, :120] = building
        ds.write(data)
    small = [d for d in detect_raster(tmp_path / "d.tif", toy) if d.box[2] - d.box[0] < 30]  # not the building
    assert len(small) == 5


def test_band_choice_for_multispectral(tmp_path: Path, toy: Any, scene: Any) -> None:
    scene(tmp_path / "ms.tif", [(20.0, 20.0, 24.5, 21.8)], size=(300, 200), count=4)
    with rasterio.open(tmp_path / "ms.tif", "r+") as ds:
        data = ds.read()
        data[1:] = 30  # only band 1 shows the car
        ds.write(data)
        ds.colorinterp = [ColorInterp.undefined, ColorInterp.blue, ColorInterp.green, ColorInterp.red]
    # Colour interpretation says RGB are bands 4, 3, 2: the car (band 1 only) is invisible.
    assert detect_raster(tmp_path / "ms.tif", toy) == []
    assert len(detect_raster(tmp_path / "ms.tif", toy, bands=(1, 2, 3))) == 1
    with pytest.raises(ImageError, match="bands"):
        detect_raster(tmp_path / "ms.tif", toy, bands=(1, 2, 9))


def test_two_band_image_needs_a_band_choice(tmp_path: Path, toy: Any, scene: Any) -> None:
    scene(tmp_path / "two.tif", [], size=(100, 100), count=2)
    with pytest.raises(ImageError, match="cannot tell which are red"):
        detect_raster(tmp_path / "two.tif", toy)


def test_gsd_far_outside_training_is_refused(tmp_path: Path, toy: Any, scene: Any) -> None:
    scene(tmp_path / "coarse.tif", [], size=(100, 100), gsd=3.0)
    with pytest.raises(ImageError, match="coarser than the detector"):
        detect_raster(tmp_path / "coarse.tif", toy)


@pytest.mark.parametrize("content", [b"", b"this is not an image", b"II*\x00" + b"\x00" * 64])
def test_corrupt_or_empty_files_raise_image_error(tmp_path: Path, toy: Any, scene: Any, content: bytes) -> None:
    path = tmp_path / "bad.tif"
    path.write_bytes(content)
    with pytest.raises(ImageError) as err:
        detect_raster(path, toy)
    assert str(path) in str(err.value)


def test_truncated_cog_raises_image_error(tmp_path: Path, toy: Any, scene: Any) -> None:
    scene(tmp_path / "t.tif", [(20.0, 20.0, 24.5, 21.8)], size=(600, 600))
    data = (tmp_path / "t.tif").read_bytes()
    (tmp_path / "t.tif").write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageError):
        detect_raster(tmp_path / "t.tif", toy)


def test_plan_covers_region_and_cores_partition_it() -> None:
    region = Window(10, 5, 1000, 700)
    tiles = plan_tiles(region, (1100, 800), 1.25, (128, 128), DEFAULT_OVERLAP // 2)
    rng = np.random.default_rng(1)
    for x, y in rng.uniform((10, 5), (1010, 705), size=(500, 2)):
        owners = [t for t in tiles if t.core[0] <= x < t.core[2] and t.core[1] <= y < t.core[3]]
        assert len(owners) == 1
        (t,) = owners
        assert t.col <= x <= t.col + t.width and t.row <= y <= t.row + t.height


def test_image_smaller_than_one_tile_works_with_default_overlap(tmp_path: Path, toy: Any, scene: Any) -> None:
    truth = scene(tmp_path / "small.tif", [(5.0, 5.0, 9.5, 6.8)], size=(120, 60), gsd=0.3)
    (det,) = detect_raster(tmp_path / "small.tif", toy, overlap=DEFAULT_OVERLAP)
    assert _iou(det.box, truth[0]) > 0.5
    with pytest.raises(ImageError, match="overlap"):
        detect_raster(tmp_path / "small.tif", toy, overlap=toy.tile_size)


def test_blocks_group_neighbours_evenly_and_hold_every_tile_once() -> None:
    region = Window(0, 0, 5000, 1400)
    tiles = plan_tiles(region, (5000, 1400), 1.0, (256, 256), 32)
    cols, rows = sorted({t.col for t in tiles}), sorted({t.row for t in tiles})
    assert (len(cols), len(rows)) == (23, 7)
    got = blocks(tiles, 6)
    assert sorted(t.bounds for b in got for t in b) == sorted(t.bounds for t in tiles)  # each tile once
    # 23 columns in 4 groups of 5-6 and 7 rows in 2 groups of 3-4: neighbours, evenly split.
    assert len(got) == 8
    for b in got:
        bc, br = sorted({t.col for t in b}), sorted({t.row for t in b})
        assert 5 <= len(bc) <= 6 and 3 <= len(br) <= 4 and len(b) == len(bc) * len(br)
        assert bc == cols[cols.index(bc[0]) : cols.index(bc[0]) + len(bc)]
        assert b == [t for t in tiles if t in b]  # plan order within a block


@pytest.mark.parametrize("gsd", [0.7, 0.3])  # upsampled (bilinear) and shrunk (area average)
def test_tiles_cut_from_a_block_know_exactly_where_their_pixels_came_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, gsd: float
) -> None:
    """Red and green are the source column and row, so every resampled pixel says which
    source position it was taken from; it must be the one its tile's placement gives."""
    monkeypatch.setattr(slicing, "BLOCK_TILES", 2)
    size = 250
    rr, cc = np.mgrid[0:size, 0:size]
    ramp = np.stack([cc, rr, np.full_like(cc, 100)]).astype(np.uint8)
    profile = {"driver": "GTiff", "width": size, "height": size, "count": 3, "dtype": "uint8", "crs": "EPSG:32652"}
    with rasterio.open(
        tmp_path / "ramp.tif", "w", transform=rasterio.transform.from_origin(5e5, 4e6, gsd, gsd), **profile
    ) as out:
        out.write(ramp)
    with rasterio.open(tmp_path / "ramp.tif") as ds:
        region, scale = Window(0, 0, size, size), 0.4 / gsd
        shape = tile_shape_for(region, scale, 64)
        tiles = plan_tiles(region, (size, size), scale, shape, 8)
        reader = TileReader(ds, (1, 2, 3), None, region, scale)
        read = read_tiles(reader, tiles, shape)
        assert len(blocks(tiles)) >= 4
        # Asked in another order, the same tiles come back in that order.
        again = read_tiles(reader, tiles[::-1], shape)
    assert all(np.array_equal(a, b) for a, b in zip(read.pixels, again.pixels[::-1], strict=True))
    worst = 0.0
    for t, px, valid, place in zip(tiles, read.pixels, read.valid, read.placements, strict=True):
        th, tw = valid.shape
        assert valid.all() and (th, tw) == (t.out_height, t.out_width) and px.shape[:2] == shape
        # Source pixel index under the centre of tile pixel (v, u): its edge coordinate - 0.5.
        x = place.x + (np.arange(tw) + 0.5) * place.sx - 0.5
        y = place.y + (np.arange(th) + 0.5) * place.sy - 0.5
        err_x = np.abs(px[:th, :tw, 0] - x[None, :])[:, (x >= 0) & (x <= size - 1)]
        err_y = np.abs(px[:th, :tw, 1] - y[:, None])[(y >= 0) & (y <= size - 1)]
        worst = max(worst, err_x.max(), err_y.max())
        assert not px[th:].any() and not px[:, tw:].any()  # padding stays black
    assert worst <= 0.75  # the uint8 rounding of the resampled value, and a little


def _to_jpeg(path: Path) -> None:
    """Rewrite ``path`` as a YCbCr JPEG-tiled GeoTIFF, as VHR imagery is delivered."""
    with rasterio.open(path) as src:
        data, profile = src.read(), src.profile
    with rasterio.open(path, "w", **(profile | {"compress": "JPEG", "photometric": "YCBCR"})) as out:
        out.write(data)


@pytest.mark.parametrize(
    "gsd,jpeg,eighths",
    [(0.3, True, 6), (0.2999, True, 6), (0.35, True, 7), (0.33, True, 8), (0.3, False, 8), (0.45, True, 8)],
)
def test_jpeg_tiles_are_decoded_at_whole_eighths_only_near_the_model_gsd(
    tmp_path: Path, toy: Any, scene: Any, gsd: float, jpeg: bool, eighths: int
) -> None:
    # 0.33 m would need 7/8 of full size, 6 % off the model's 0.4 m: resized instead.
    scene(tmp_path / "s.tif", [], size=(300, 300), gsd=gsd)
    if jpeg:
        _to_jpeg(tmp_path / "s.tif")
    with (
        rasterio.open(tmp_path / "s.tif") as ds,
        TileReader(ds, (1, 2, 3), None, Window(0, 0, 300, 300), 0.4 / gsd) as r,
    ):
        assert r.eighths == eighths
        assert r.scale == pytest.approx(8 / eighths if eighths < 8 else 0.4 / gsd, rel=1e-12)


# 902 x 701: the last blocks end off the 4-pixel grid of 3/4-size decoding and are resized.
@pytest.mark.parametrize("size", [(900, 700), (902, 701)])
def test_jpeg_scenes_decoded_by_turbo_give_the_detections_gdals_decode_gives(
    tmp_path: Path, toy: Any, scene: Any, monkeypatch: pytest.MonkeyPatch, size: tuple[int, int]
) -> None:
    objects = [(10.0 + 17 * i, 15.0 + 11 * (i % 4), 14.5 + 17 * i, 16.8 + 11 * (i % 4)) for i in range(14)]
    truth = scene(tmp_path / "j.tif", objects, size=size, gsd=0.3)
    _to_jpeg(tmp_path / "j.tif")
    readers: list[JpegTiles | None] = []
    real_open = JpegTiles.open

    def recording(cls: type, ds: Any, bands: tuple[int, ...]) -> JpegTiles | None:
        readers.append(real_open(ds, bands))
        return readers[-1]

    monkeypatch.setattr(JpegTiles, "open", classmethod(recording))
    turbo = detect_raster(tmp_path / "j.tif", toy)
    assert readers and readers[0] is not None  # the turbo path was taken
    monkeypatch.setattr(JpegTiles, "open", classmethod(lambda cls, ds, bands: None))
    gdal = detect_raster(tmp_path / "j.tif", toy)
    assert len(turbo) == len(gdal) == len(truth)
    # Turbo decodes these 0.3 m tiles straight to 3/4 size (the model's 0.4 m); GDAL's pixels
    # are area-resized. Boxes of 14 x 6 px may differ by a pixel, never in how well they fit.
    fit: dict[str, list[float]] = {}
    for name, found in (("turbo", turbo), ("gdal", gdal)):
        fit[name] = [max(_iou(d.box, t) for t in truth) for d in found]
    for a, b in zip(sorted(d.box for d in turbo), sorted(d.box for d in gdal), strict=True):
        assert _iou(a, b) > 0.85
    assert min(fit["turbo"]) > 0.8 and np.mean(fit["turbo"]) >= np.mean(fit["gdal"]) - 0.02


@pytest.mark.parametrize("shape", [(300, 400), (3, 5), (256, 200), (301, 401)])
def test_shrinking_resize_gives_opencvs_uint8_area_average(shape: tuple[int, int]) -> None:
    """The float32 detour (faster) must round back to the pixels OpenCV's uint8 path gives."""
    rng = np.random.default_rng(5)
    image = cv2.GaussianBlur(rng.integers(0, 256, (400, 533, 3)).astype(np.uint8), (0, 0), 1)
    image[100:110, 200:215] = 255  # sharp edges too
    ours = _resize(image, shape)
    assert ours.dtype == np.uint8 and ours.shape == (*shape, 3)
    expected = cv2.resize(image, (shape[1], shape[0]), interpolation=cv2.INTER_AREA)
    assert np.array_equal(ours, expected)


def test_a_forked_process_can_still_use_opencv_after_the_parent_started_its_pool() -> None:
    """OpenCV's thread pool does not survive fork(); sitewatch stops it around every fork
    (a forked `sitewatch detect` once hung in cv2.setNumThreads)."""
    import multiprocessing

    image = np.random.default_rng(0).integers(0, 255, (2000, 2000, 3)).astype(np.uint8)
    before = cv2.getNumThreads()
    cv2.setNumThreads(2)
    try:
        cv2.resize(image, (1500, 1500), interpolation=cv2.INTER_AREA)  # the parent's pool runs
        child = multiprocessing.get_context("fork").Process(target=_opencv_in_child, args=(image,))
        child.start()
        child.join(60)
        if child.exitcode is None:
            child.kill()
        assert child.exitcode == 0
        assert cv2.getNumThreads() == 2  # restored in the parent
    finally:
        cv2.setNumThreads(before)


def _opencv_in_child(image: np.ndarray) -> None:
    with slicing.opencv_single_threaded():
        cv2.resize(image, (1500, 1500), interpolation=cv2.INTER_AREA)
    cv2.resize(image, (1500, 1500), interpolation=cv2.INTER_AREA)
