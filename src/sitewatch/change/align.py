"""Sub-pixel co-registration of two images already on a common grid.

The shift is measured by cross-correlation in the Fourier domain (upsampled DFT, scikit-image) on several
textured tiles rather than on the whole image: it is faster, ignores nodata holes, and the
spread of the tile shifts around their median is an honest residual error. A pair is
flagged unreliable when the tiles disagree or the aligned images do not correlate.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from skimage.filters import window
from skimage.registration import phase_cross_correlation

#: Tile side (px) for phase correlation; shifts up to half of it can be measured.
TILE = 512
#: Largest number of tiles measured (spread over the image).
MAX_TILES = 9
#: Sub-pixel precision: 1/UPSAMPLE px.
UPSAMPLE = 20
#: A tile whose shift is further than this (px) from the median is an outlier.
INLIER_PX = 1.0
#: Below this share of valid pixels a tile is not used.
TILE_MIN_VALID = 0.8
#: Smallest tile tried when clouds leave no larger clear patch.
MIN_TILE = 128


@dataclass(frozen=True)
class Alignment:
    """Where the moving image lies against the reference and how sure that is.

    ``shift`` is (rows, cols) in px to apply to the moving image so it lands on the
    reference; ``residual_px`` the RMS distance of inlier tile shifts from it; ``ncc`` the
    normalised cross-correlation of the two images once aligned.
    """

    shift: tuple[float, float]
    residual_px: float
    ncc: float
    tiles: int
    inliers: int
    reliable: bool
    reason: str = ""

    @property
    def shift_px(self) -> float:
        return float(np.hypot(*self.shift))


def grey(image: np.ndarray) -> np.ndarray:
    """(H, W[, B]) image as float32 (H, W) brightness (luma of RGB)."""
    if image.ndim == 2:
        return image.astype(np.float32, copy=False)
    if image.shape[-1] == 3:
        return cv2.cvtColor(image.astype(np.float32, copy=False), cv2.COLOR_RGB2GRAY)
    return image.mean(axis=-1, dtype=np.float32)


def tile_size(shape: tuple[int, ...], tile: int = TILE) -> int:
    """``tile``, or less on small grids so that at least 2 x 2 tiles fit (never under 128 px)."""
    return min(tile, max(min(shape[:2]) // 2, 128), *shape[:2])


def tile_origins(valid: np.ndarray, size: int, max_tiles: int = MAX_TILES) -> list[tuple[int, int]]:
    """Top-left corners of up to ``max_tiles`` well-spread ``size`` tiles that are almost all valid."""
    h, w = valid.shape
    # Candidates overlap by half a tile so that clear ground between clouds is still found.
    step = max(size // 2, 1)
    rows, cols = range(0, h - size + 1, step), range(0, w - size + 1, step)
    ii = cv2.integral(valid.astype(np.uint8))  # valid pixels of any tile in O(1)
    need = TILE_MIN_VALID * size * size
    origins = [
        (r, c)
        for r in rows
        for c in cols
        if ii[r + size, c + size] - ii[r, c + size] - ii[r + size, c] + ii[r, c] >= need
    ]
    if len(origins) > max_tiles:
        keep = np.linspace(0, len(origins) - 1, max_tiles).round().astype(int)
        origins = [origins[i] for i in keep]
    return origins


def estimate_shift(
    reference: np.ndarray,
    moving: np.ndarray,
    valid: np.ndarray,
    *,
    tile: int = TILE,
    max_tiles: int = MAX_TILES,
    min_inlier_fraction: float = 0.5,
    min_ncc: float = 0.3,
    max_residual_px: float = 1.0,
) -> Alignment:
    """Measure the translation of ``moving`` against ``reference`` inside ``valid``.

    Both images are (H, W[, B]) on the same grid; ``valid`` marks pixels usable in both.
    """
    ref, mov = grey(reference), grey(moving)
    size = tile_size(valid.shape, tile)
    origins = tile_origins(valid, size, max_tiles)
    while not origins and size > MIN_TILE:
        size = max(size // 2, MIN_TILE)  # broken cloud: look for smaller clear patches
        origins = tile_origins(valid, size, max_tiles)
    if not origins:
        return Alignment((0.0, 0.0), float("nan"), float("nan"), 0, 0, False, "no tile of the overlap is clear")
    taper = window("hann", (size, size)).astype(np.float32)
    shifts = []
    for r, c in origins:
        ok = valid[r : r + size, c : c + size]
        a, b = (_centred(img[r : r + size, c : c + size], ok) for img in (ref, mov))
        if a.std() < 1e-3 or b.std() < 1e-3:
            continue  # flat tile (water, cloud shadow): its phase is noise
        # Tapering stops the tile borders from dominating the spectrum; plain (not phase-
        # normalised) correlation keeps noisy high frequencies of smooth scenes from biasing the peak.
        s, _, _ = phase_cross_correlation(a * taper, b * taper, upsample_factor=UPSAMPLE, normalization=None)
        shifts.append(s)
    if not shifts:
        return Alignment((0.0, 0.0), float("nan"), float("nan"), 0, 0, False, "every clear tile is featureless")
    arr = np.asarray(shifts, dtype=np.float64)
    median = np.median(arr, axis=0)
    dist = np.hypot(*(arr - median).T)
    inlier = dist <= INLIER_PX
    if not inlier.any():
        inlier[:] = True  # no consensus: report the spread of all tiles (flagged below)
    shift = arr[inlier].mean(axis=0)
    residual = float(np.sqrt(np.mean(np.sum((arr[inlier] - shift) ** 2, axis=1))))
    aligned, aligned_valid = apply_shift(mov, valid, (float(shift[0]), float(shift[1])))
    ncc = normalised_correlation(ref, aligned, valid & aligned_valid)
    reasons = []
    if inlier.sum() < max(2, min_inlier_fraction * len(arr)) and len(arr) > 1:
        reasons.append(f"tiles disagree ({int(inlier.sum())}/{len(arr)} within {INLIER_PX} px)")
    if not ncc >= min_ncc:
        reasons.append(f"aligned images correlate poorly (ncc {ncc:.2f} < {min_ncc})")
    if residual > max_residual_px:
        reasons.append(f"residual {residual:.2f} px > {max_residual_px} px")
    return Alignment(
        shift=(float(shift[0]), float(shift[1])),
        residual_px=residual,
        ncc=ncc,
        tiles=len(arr),
        inliers=int(inlier.sum()),
        reliable=not reasons,
        reason="; ".join(reasons),
    )


def _centred(tile: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """``tile`` minus its valid mean, with invalid pixels (cloud, nodata) set to 0 so they carry no signal."""
    return np.where(valid, tile - tile[valid].mean(), 0).astype(np.float32)


def apply_shift(image: np.ndarray, valid: np.ndarray, shift: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """Translate ``image`` by ``shift`` (rows, cols) px; pixels shifted in from outside are invalid."""
    dy, dx = shift
    h, w = valid.shape
    m = np.array([[1, 0, dx], [0, 1, dy]], dtype=np.float32)
    out = cv2.warpAffine(image, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    # A pixel stays valid only if every source pixel it interpolates from was valid.
    moved = cv2.warpAffine(
        valid.astype(np.uint8) * 255, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0
    )
    return out, moved == 255


def normalised_correlation(a: np.ndarray, b: np.ndarray, valid: np.ndarray, max_samples: int = 1_000_000) -> float:
    """Pearson correlation of two (H, W) images over ``valid`` (on a regular subsample when large)."""
    step = max(1, int(np.sqrt(valid.size / max_samples)))
    v = valid[::step, ::step]
    x, y = a[::step, ::step][v].astype(np.float64), b[::step, ::step][v].astype(np.float64)
    if x.size < 2 or x.std() == 0 or y.std() == 0:
        return float("nan")
    return float(np.corrcoef(x, y)[0, 1])
