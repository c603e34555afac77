"""JPEG-compressed tiled GeoTIFFs decoded with libjpeg-turbo.

Very-high-resolution imagery is usually delivered as YCbCr JPEG tiled GeoTIFF/COG. The
GDAL inside rasterio's wheels decodes JPEG with IJG libjpeg 9, which has no SIMD: 76 Mpx/s
on one core here, a quarter of the detector's CPU on a 0.3 m scene; libjpeg-turbo (the
``simplejpeg`` wheel, the same pixels as OpenCV's imdecode) does 250 Mpx/s on the same tiles.
GDAL still opens the file, georeferences it and says where each tile's bytes are (its
``TIFF`` metadata domain: ``BLOCK_OFFSET_x_y``, ``BLOCK_SIZE_x_y`` and ``JPEGTABLES``);
:class:`JpegTiles` reads those bytes and decodes them with libjpeg-turbo.

When the detector shrinks the scene (0.3 m to its 0.4 m), tiles can be decoded straight to
``M/8`` of their size: libjpeg-turbo's scaled inverse DCT does the area reduction as part of
decoding. On a 0.3 m scene that replaced OpenCV's area resize (0.8-1.0 s of CPU per 8,000²
pixels) for 0.3 s more decoding; the pixels differ from the area resize by about one level.

Only plain cases take this path: a local file, 3 uint8 bands, pixel-interleaved YCbCr JPEG
tiles at full resolution. And only when a sample tile decodes to GDAL's own pixels within
:data:`MAX_MEAN_DIFF` (the two libraries round chroma upsampling differently); anything
else reads through GDAL as before.
"""

from __future__ import annotations

import math
import os
from collections import OrderedDict

import cv2
import numpy as np
import simplejpeg
from rasterio.enums import Compression, Interleaving, PhotometricInterp
from rasterio.io import DatasetReader
from rasterio.windows import Window

from sitewatch.imagery.raster import read_pixels

#: Mean absolute difference (levels, 0-255) from GDAL's decode of a sample tile above which
#: the turbo path is not used (libjpeg 9 and turbo differ by 0.5-0.9 on test textures at q90).
MAX_MEAN_DIFF = 1.5
#: Decoded tiles kept, in MB: neighbouring reads overlap by a few pixels, so the tiles along
#: their shared edges (at most a row of tiles across the image) are decoded once.
CACHE_MB = 128


def alignment(eighths: int) -> int:
    """Source pixels per whole decoded pixel group at ``eighths``/8: windows must start and end on them."""
    return 8 // math.gcd(eighths, 8)


class JpegTiles:
    """Reads windows of a JPEG-tiled GeoTIFF as (H, W, 3) uint8 RGB; see the module doc.

    Not thread-safe: one per reader thread (the slicer has one).
    """

    def __init__(self, ds: DatasetReader):
        self._fd = -1  # set first: close() runs from __del__ even if this raises
        self._cache: OrderedDict[tuple[int, int, int], np.ndarray] = OrderedDict()
        self.ds = ds
        self.path = ds.name
        self.block_w, self.block_h = ds.block_shapes[0][1], ds.block_shapes[0][0]
        self.tables = bytes.fromhex(ds.get_tag_item("JPEGTABLES", "TIFF", bidx=1) or "")
        self.fill = np.uint8(ds.nodata or 0)
        self._cache_max = max(4, CACHE_MB * 2**20 // (self.block_w * self.block_h * 3))
        self._fd = os.open(self.path, os.O_RDONLY)

    @classmethod
    def open(cls, ds: DatasetReader, bands: tuple[int, ...]) -> JpegTiles | None:
        """A turbo reader for ``ds``, or None when GDAL should read it (see the module doc)."""
        try:
            plain = (
                ds.driver == "GTiff"
                and bands == (1, 2, 3)
                and ds.count == 3
                and set(ds.dtypes) == {"uint8"}
                and ds.compression == Compression.jpeg
                and ds.photometric == PhotometricInterp.ycbcr
                and ds.interleaving == Interleaving.pixel
                and len(set(ds.block_shapes)) == 1
                and ds.profile.get("tiled", False)
                and os.path.isfile(ds.name)
                and ds.get_tag_item("JPEGTABLES", "TIFF", bidx=1)
            )
        except Exception:  # any odd metadata: leave it to GDAL
            return None
        if not plain:
            return None
        try:
            reader = cls(ds)
        except (OSError, ValueError):  # unreadable as a plain file, bad tables: GDAL reads it
            return None
        if not reader._agrees_with_gdal():
            reader.close()
            return None
        return reader

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        self._cache.clear()

    def __del__(self) -> None:
        self.close()

    def fits(self, window: Window, eighths: int) -> bool:
        """Can ``window`` be read at ``eighths``/8: does it start and end on whole decoded pixels?"""
        a = alignment(eighths)
        edges = (window.col_off, window.row_off, window.col_off + window.width, window.row_off + window.height)
        return all(float(e).is_integer() and int(e) % a == 0 for e in edges)

    def read(self, window: Window, eighths: int = 8) -> np.ndarray:
        """``window`` (integer, inside the image) as (H, W, 3) uint8 RGB, decoded at ``eighths``/8
        of full size (then ``window`` must :meth:`fits` it; the result has H·M/8 rows)."""
        if eighths != 8 and not self.fits(window, eighths):
            raise ValueError(f"window {window} does not fall on whole pixels at {eighths}/8 of full size")
        m = eighths
        c0, r0 = int(window.col_off) * m // 8, int(window.row_off) * m // 8
        w, h = int(window.width) * m // 8, int(window.height) * m // 8
        out = np.empty((h, w, 3), dtype=np.uint8)
        bw, bh = self.block_w * m // 8, self.block_h * m // 8  # TIFF tiles are multiples of 16
        for by in range(r0 // bh, (r0 + h - 1) // bh + 1):
            for bx in range(c0 // bw, (c0 + w - 1) // bw + 1):
                tile = self._tile(bx, by, m)
                ys, ye = max(r0, by * bh), min(r0 + h, (by + 1) * bh)
                xs, xe = max(c0, bx * bw), min(c0 + w, (bx + 1) * bw)
                part = tile[ys - by * bh : ye - by * bh, xs - bx * bw : xe - bx * bw]
                out[ys - r0 : ye - r0, xs - c0 : xe - c0] = part
        return out

    def _tile(self, bx: int, by: int, eighths: int) -> np.ndarray:
        key = (bx, by, eighths)
        tile = self._cache.get(key)
        if tile is not None:
            self._cache.move_to_end(key)
            return tile
        tile = self._decode(bx, by, eighths)
        self._cache[key] = tile
        if len(self._cache) > self._cache_max:
            self._cache.popitem(last=False)
        return tile

    def _decode(self, bx: int, by: int, eighths: int = 8) -> np.ndarray:
        h, w = self.block_h * eighths // 8, self.block_w * eighths // 8
        offset = int(self.ds.get_tag_item(f"BLOCK_OFFSET_{bx}_{by}", "TIFF", bidx=1) or 0)
        size = int(self.ds.get_tag_item(f"BLOCK_SIZE_{bx}_{by}", "TIFF", bidx=1) or 0)
        if not offset or not size:  # a sparse (never written) tile reads as nodata, as in GDAL
            return np.full((h, w, 3), self.fill, dtype=np.uint8)
        data = os.pread(self._fd, size, offset)
        tile = None
        if len(data) == size:  # else truncated: GDAL reports it as for any other file
            # A TIFF JPEG tile is an abbreviated stream: its tables are stored once in the file.
            # libjpeg-turbo picks the smallest scale M/8 giving at least (h, w).
            try:
                tile = simplejpeg.decode_jpeg(self.tables[:-2] + data[2:], "RGB", min_height=h, min_width=w)
            except ValueError:
                tile = None
        if tile is None or tile.shape != (h, w, 3):
            # Damaged or unusual tile: GDAL decodes it (and raises the usual error if it cannot).
            window = self._block_window(bx, by)
            tile = np.zeros((self.block_h, self.block_w, 3), dtype=np.uint8)
            tile[: int(window.height), : int(window.width)] = read_pixels(self.ds, (1, 2, 3), window)
            if eighths != 8:
                tile = cv2.resize(tile, (w, h), interpolation=cv2.INTER_AREA)
        return tile

    def _block_window(self, bx: int, by: int) -> Window:
        """The part of tile (bx, by) inside the image."""
        window = Window(bx * self.block_w, by * self.block_h, self.block_w, self.block_h)
        return window.intersection(Window(0, 0, self.ds.width, self.ds.height))

    def _agrees_with_gdal(self) -> bool:
        """The middle tile decodes to GDAL's pixels (colour space, tables, orientation)."""
        window = self._block_window((self.ds.width // 2) // self.block_w, (self.ds.height // 2) // self.block_h)
        try:
            ours = self.read(window).astype(np.int16)
        except (OSError, ValueError):
            return False
        gdal = read_pixels(self.ds, (1, 2, 3), window).astype(np.int16)
        return bool(np.abs(ours - gdal).mean() <= MAX_MEAN_DIFF)
