"""JPEG-tiled GeoTIFFs decoded with libjpeg-turbo: the pixels GDAL gives, or GDAL itself."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin
from rasterio.windows import Window

from sitewatch.imagery import jpegtiles
from sitewatch.imagery.jpegtiles import JpegTiles


def _texture(h: int, w: int, seed: int = 0) -> np.ndarray:
    """Smooth colour texture with sharp bright rectangles (3, h, w): what JPEG sees in a scene."""
    rng = np.random.default_rng(seed)
    img = cv2.GaussianBlur(rng.integers(40, 200, (h, w, 3)).astype(np.uint8), (0, 0), 2)
    for _ in range(40):
        y, x = rng.integers(0, h - 8), rng.integers(0, w - 16)
        img[y : y + 6, x : x + 14] = rng.integers(0, 256, 3)
    return np.moveaxis(img, -1, 0)


def _profile(w: int, h: int, **extra: Any) -> dict[str, Any]:
    """A tiled YCbCr JPEG GeoTIFF profile, as VHR imagery is delivered; None drops a key."""
    profile = {
        "driver": "GTiff",
        "width": w,
        "height": h,
        "count": 3,
        "dtype": "uint8",
        "crs": "EPSG:32652",
        "transform": from_origin(5e5, 4e6, 0.3, 0.3),
        "tiled": True,
        "blockxsize": 256,
        "blockysize": 256,
        "compress": "JPEG",
        "photometric": "YCBCR",
        "jpeg_quality": 90,
    } | extra
    return {k: v for k, v in profile.items() if v is not None}


def _write(path: Path, data: np.ndarray, **extra: Any) -> Path:
    with rasterio.open(path, "w", **_profile(data.shape[2], data.shape[1], **extra)) as out:
        out.write(data)
    return path


def _gdal(ds: Any, window: Window) -> np.ndarray:
    return np.ascontiguousarray(np.moveaxis(ds.read((1, 2, 3), window=window), 0, -1))


def _luma(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(int)


def test_windows_decode_to_gdals_pixels_and_shared_tiles_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write(tmp_path / "j.tif", _texture(700, 900))  # edge tiles are partial
    decoded: list[tuple[int, int]] = []
    real = JpegTiles._decode

    def counting(self: JpegTiles, bx: int, by: int, eighths: int = 8) -> np.ndarray:
        decoded.append((bx, by))
        return real(self, bx, by, eighths)

    monkeypatch.setattr(JpegTiles, "_decode", counting)
    with rasterio.open(path) as ds:
        reader = JpegTiles.open(ds, (1, 2, 3))
        assert reader is not None
        decoded.clear()  # the sample tile checked against GDAL on open
        rng = np.random.default_rng(3)
        for _ in range(12):
            c0, r0 = int(rng.integers(0, 850)), int(rng.integers(0, 650))
            w, h = int(rng.integers(1, 900 - c0 + 1)), int(rng.integers(1, 700 - r0 + 1))
            ours, gdal = reader.read(Window(c0, r0, w, h)), _gdal(ds, Window(c0, r0, w, h))
            assert ours.shape == gdal.shape == (h, w, 3)
            # Brightness agrees; colour a little less at sharp colour edges: libjpeg 9 (GDAL's)
            # and libjpeg-turbo upsample chroma differently.
            luma = np.abs(_luma(ours) - _luma(gdal))
            assert luma.mean() < 0.01 and luma.max() <= 8
            assert np.abs(ours.astype(int) - gdal).mean() < 1.0
        reader.close()
    assert len(decoded) == len(set(decoded)) <= 12  # 4 x 3 tiles, each decoded once


@pytest.mark.parametrize("eighths", [6, 7, 4])
def test_windows_decode_shrunk_to_what_an_area_resize_of_gdals_pixels_gives(tmp_path: Path, eighths: int) -> None:
    """Decoding at M/8 (libjpeg-turbo's scaled IDCT) must land every pixel where an area
    resize of GDAL's full-size pixels puts it."""
    path = _write(tmp_path / "j.tif", _texture(704, 896))
    a = jpegtiles.alignment(eighths)
    with rasterio.open(path) as ds:
        reader = JpegTiles.open(ds, (1, 2, 3))
        assert reader is not None
        rng = np.random.default_rng(eighths)
        for _ in range(8):
            c0, r0 = int(rng.integers(0, 600)) // a * a, int(rng.integers(0, 450)) // a * a
            w, h = int(rng.integers(a, 896 - c0 + 1)) // a * a, int(rng.integers(a, 704 - r0 + 1)) // a * a
            window = Window(c0, r0, w, h)
            assert reader.fits(window, eighths)
            ours = reader.read(window, eighths)
            assert ours.shape == (h * eighths // 8, w * eighths // 8, 3)
            area = cv2.resize(_gdal(ds, window), ours.shape[1::-1], interpolation=cv2.INTER_AREA).astype(int)
            error = np.abs(ours - area).mean()
            assert error < 1.0  # 0.47-0.51 on the whole texture
            shifted = min(np.abs(ours[:, 1:] - area[:, :-1]).mean(), np.abs(ours[1:] - area[:-1]).mean())
            assert shifted > 3 * error  # 2.2-3.7: the comparison tells a one-pixel shift
        if a > 1:
            assert not reader.fits(Window(1, 0, 8, 8), eighths)
            with pytest.raises(ValueError, match="whole pixels"):
                reader.read(Window(1, 0, 8, 8), eighths)
        reader.close()


def test_sparse_tiles_read_as_nodata_like_gdal(tmp_path: Path) -> None:
    path = tmp_path / "sparse.tif"
    with rasterio.open(path, "w", **_profile(768, 512, nodata=0, sparse_ok=True)) as out:
        out.write(_texture(256, 512), window=Window(0, 256, 512, 256))  # the middle tile and its neighbour
    with rasterio.open(path) as ds:
        assert ds.get_tag_item("BLOCK_OFFSET_0_0", "TIFF", bidx=1) in (None, "", "0")  # never written
        reader = JpegTiles.open(ds, (1, 2, 3))
        assert reader is not None
        whole = Window(0, 0, 768, 512)
        ours = reader.read(whole)
        assert not ours[:256].any() and not ours[256:, 512:].any()
        assert np.abs(ours.astype(int) - _gdal(ds, whole)).mean() < 1.0


@pytest.mark.parametrize(
    "extra,bands",
    [
        ({"compress": "DEFLATE", "photometric": "RGB"}, (1, 2, 3)),
        ({"photometric": "RGB"}, (1, 2, 3)),  # RGB JPEG: colour space not guessable from the stream
        ({}, (3, 2, 1)),
        ({"tiled": False, "blockxsize": None, "blockysize": None}, (1, 2, 3)),
    ],
)
def test_anything_else_reads_through_gdal(tmp_path: Path, extra: dict[str, Any], bands: tuple[int, ...]) -> None:
    path = _write(tmp_path / "o.tif", _texture(300, 300), **extra)
    with rasterio.open(path) as ds:
        assert JpegTiles.open(ds, bands) is None


def test_a_decoder_that_disagrees_with_gdal_is_not_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write(tmp_path / "j.tif", _texture(300, 300))
    real = JpegTiles._decode
    monkeypatch.setattr(JpegTiles, "_decode", lambda self, bx, by, m=8: real(self, bx, by, m)[:, :, ::-1].copy())  # BGR
    with rasterio.open(path) as ds:
        assert JpegTiles.open(ds, (1, 2, 3)) is None
    monkeypatch.setattr(jpegtiles, "MAX_MEAN_DIFF", 1e9)
    with rasterio.open(path) as ds:
        assert JpegTiles.open(ds, (1, 2, 3)) is not None


def test_truncated_tile_falls_back_to_gdal_and_its_error(tmp_path: Path) -> None:
    path = _write(tmp_path / "j.tif", _texture(600, 600))
    with rasterio.open(path) as ds:
        last = int(ds.get_tag_item("BLOCK_OFFSET_2_2", "TIFF", bidx=1))
        reader = JpegTiles.open(ds, (1, 2, 3))
        assert reader is not None
        reader.close()
    data = path.read_bytes()
    path.write_bytes(data[: last + 10])  # the last tile cut short
    with rasterio.open(path) as ds:
        reader = JpegTiles.open(ds, (1, 2, 3))
        assert reader is not None
        assert reader.read(Window(0, 0, 256, 256)).any()
        with pytest.raises(rasterio.errors.RasterioIOError):
            reader.read(Window(512, 512, 88, 88))
        reader.close()


def test_a_tile_turbo_refuses_is_read_by_gdal_at_full_and_shrunk_size(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _write(tmp_path / "j.tif", _texture(512, 512))
    whole = Window(0, 0, 512, 512)
    with rasterio.open(path) as ds:
        reader = JpegTiles.open(ds, (1, 2, 3))
        assert reader is not None

        def refuse(*args: Any, **kwargs: Any) -> np.ndarray:
            raise ValueError("corrupt JPEG data")

        monkeypatch.setattr(jpegtiles.simplejpeg, "decode_jpeg", refuse)
        reader._cache.clear()  # the sample tile decoded on open
        gdal = _gdal(ds, whole)
        assert np.array_equal(reader.read(whole), gdal)
        assert np.array_equal(reader.read(whole, 6), cv2.resize(gdal, (384, 384), interpolation=cv2.INTER_AREA))
        reader.close()
