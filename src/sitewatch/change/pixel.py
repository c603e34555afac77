"""Pixel-level change between two co-registered images: IR-MAD with a chi-square test.

Iteratively re-weighted multivariate alteration detection (Nielsen 2007) finds the
linear combinations of the two dates' bands that agree best on unchanged ground, so gain,
offset and band-mixing differences between sensors and dates cancel out. The sum of the
squared standardised MAD variates is chi-square with one degree of freedom per band on
unchanged pixels, which gives an automatic threshold (a significance level) and a
per-pixel change probability without tuning per scene.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy import linalg, stats

#: Pixels sampled to estimate the transformation (the full image is then transformed).
SAMPLE = 50_000
#: Rows processed at a time when transforming the full image (bounds memory).
CHUNK_ROWS = 1024


@dataclass(frozen=True)
class MadTransform:
    """Canonical vectors and statistics of a fitted IR-MAD, applicable to any pixels."""

    a: np.ndarray  # (B, B) before-date canonical vectors, one per column
    b: np.ndarray  # (B, B) after-date canonical vectors
    mean_x: np.ndarray
    mean_y: np.ndarray
    centre: np.ndarray  # centre of each MAD variate on unchanged ground
    sigma: np.ndarray  # its spread on unchanged ground
    rho: np.ndarray  # canonical correlations, descending
    iterations: int


@dataclass(frozen=True)
class PixelChange:
    """A change map: chi-square statistic, its threshold and the cleaned change mask."""

    statistic: np.ndarray  # (H, W) float32, NaN outside valid
    mask: np.ndarray  # (H, W) bool, cleaned
    valid: np.ndarray  # (H, W) bool
    threshold: float
    alpha: float
    rho: tuple[float, ...]
    iterations: int

    @property
    def changed_fraction(self) -> float:
        n = int(self.valid.sum())
        return float(self.mask.sum() / n) if n else 0.0

    def probability(self, values: np.ndarray) -> np.ndarray:
        """Change probability of chi-square statistic ``values`` (its CDF under no change)."""
        return np.asarray(stats.chi2.cdf(values, df=len(self.rho)))


def normalise(before: np.ndarray, after: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """``after`` (uint8) radiometrically matched to ``before`` by histogram matching on valid pixels.

    The same CDF-to-CDF mapping as :func:`skimage.exposure.match_histograms`, which has no
    mask: here both histograms are taken over ``valid`` only (so nodata and cloud do not
    skew them) and applied as a per-band lookup table.
    """
    if before.dtype != np.uint8 or after.dtype != np.uint8:
        raise ValueError(f"normalise needs uint8 images, got {before.dtype} and {after.dtype}")
    mask = valid.astype(np.uint8)
    levels = np.arange(256, dtype=np.float64)
    bands = after.shape[-1] if after.ndim == 3 else 1
    lut = np.empty((256, 1, bands), dtype=np.uint8)
    for c in range(bands):
        src_cdf, ref_cdf = (_cdf(cv2.calcHist([img], [c], mask, [256], [0, 256])) for img in (after, before))
        lut[:, 0, c] = np.clip(np.round(np.interp(src_cdf, ref_cdf, levels)), 0, 255)
    out = cv2.LUT(after, lut if bands > 1 else lut[:, :, 0])
    # Pixels outside valid keep their values (nodata stays nodata).
    cv2.copyTo(after, (mask == 0).astype(np.uint8), out)
    return out


def _cdf(hist: np.ndarray) -> np.ndarray:
    cum = np.cumsum(hist.ravel(), dtype=np.float64)
    return cum / max(float(cum[-1]), 1.0)


def _stack(image: np.ndarray) -> np.ndarray:
    return image.reshape(-1, 1) if image.ndim == 2 else image.reshape(-1, image.shape[-1])


def fit_irmad(
    x: np.ndarray, y: np.ndarray, *, max_iter: int = 30, tol: float = 1e-4, eps: float = 1e-6
) -> MadTransform:
    """Fit IR-MAD on pixel samples ``x`` (N, B) before and ``y`` (N, B) after."""
    x, y = x.astype(np.float64), y.astype(np.float64)
    nb = x.shape[1]
    w = np.ones(len(x))
    rho_old = np.zeros(nb)
    # Tiny jitter keeps covariances invertible for flat or saturated bands.
    ridge = eps * np.eye(nb)
    it = 0
    while it < max_iter:
        it += 1
        ws = w / w.sum()
        mx, my = ws @ x, ws @ y
        dx, dy = x - mx, y - my
        s11 = (dx * ws[:, None]).T @ dx + ridge
        s22 = (dy * ws[:, None]).T @ dy + ridge
        s12 = (dx * ws[:, None]).T @ dy
        # Canonical correlation: s12 s22^-1 s21 a = rho^2 s11 a.
        lam, a = linalg.eigh(s12 @ linalg.solve(s22, s12.T), s11)
        order = np.argsort(lam)[::-1]
        lam, a = np.clip(lam[order], 0, 1), a[:, order]
        rho = np.sqrt(lam)
        b = linalg.solve(s22, s12.T @ a)
        b /= np.sqrt(np.einsum("ij,ij->j", b, s22 @ b))[None, :]  # unit variance
        # Orient each pair so that U and V correlate positively.
        b *= np.sign(np.einsum("ij,ij->j", a, s12 @ b))[None, :]
        mad = dx @ a - dy @ b
        # The textbook scale sqrt(2(1 - rho)) comes from the re-weighted statistics, which
        # under-weight the noise tails and so shrink it a little more at every iteration;
        # a robust scale of the MAD variates keeps the chi-square test calibrated.
        centre, sigma = robust_scale(mad, eps)
        z = np.sum(((mad - centre) / sigma) ** 2, axis=1)
        w = 1 - stats.chi2.cdf(z, df=nb)
        if np.max(np.abs(rho - rho_old)) < tol or w.sum() <= 0:
            break
        rho_old = rho
    return MadTransform(a, b, mx, my, centre, sigma, rho, it)


def robust_scale(values: np.ndarray, eps: float = 1e-6) -> tuple[np.ndarray, np.ndarray]:
    """Median and normal-consistent median absolute deviation of each column."""
    centre = np.median(values, axis=0)
    sigma = 1.4826 * np.median(np.abs(values - centre), axis=0)
    return centre, np.maximum(sigma, eps)


def chi_square(before: np.ndarray, after: np.ndarray, valid: np.ndarray, mad: MadTransform) -> np.ndarray:
    """Chi-square change statistic of every pixel (NaN outside ``valid``).

    Centring, projection and scaling of each date fold into one affine per-pixel transform
    (``cv2.transform``), applied in row chunks to bound memory on full scenes.
    """
    h, w = valid.shape
    out = np.full((h, w), np.nan, dtype=np.float32)
    inv = 1 / mad.sigma
    # Standardised MAD = diag(1/sigma) (A'(x - mx) - B'(y - my) - centre) = Mu x + cu - (Mv y + cv).
    mu, mv = inv[:, None] * mad.a.T, inv[:, None] * mad.b.T
    tu = np.hstack([mu, (-(mu @ mad.mean_x) - inv * mad.centre)[:, None]]).astype(np.float32)
    tv = np.hstack([mv, (-(mv @ mad.mean_y))[:, None]]).astype(np.float32)
    for r0 in range(0, h, CHUNK_ROWS):
        sl = slice(r0, min(r0 + CHUNK_ROWS, h))
        d = cv2.transform(before[sl].astype(np.float32), tu) - cv2.transform(after[sl].astype(np.float32), tv)
        z = d * d if d.ndim == 2 else cv2.transform(d * d, np.ones((1, d.shape[-1]), np.float32))
        out[sl] = np.where(valid[sl], z.reshape(-1, w), np.nan)
    return out


def clean_mask(mask: np.ndarray, min_area_px: int) -> np.ndarray:
    """Drop speckle: a 3 x 3 opening, then connected regions smaller than ``min_area_px``."""
    kernel = np.ones((3, 3), np.uint8)
    opened = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_OPEN, kernel)
    _, labels, st, _ = cv2.connectedComponentsWithStats(opened, connectivity=8)
    keep = st[:, cv2.CC_STAT_AREA] >= min_area_px
    keep[0] = False
    return keep[labels]


def detect_change(
    before: np.ndarray,
    after: np.ndarray,
    valid: np.ndarray,
    *,
    alpha: float = 1e-3,
    min_area_px: int = 9,
    seed: int = 0,
) -> PixelChange:
    """Change between co-registered (H, W[, B]) images inside ``valid``.

    A pixel changes when its chi-square statistic exceeds the (1 - ``alpha``) quantile;
    regions smaller than ``min_area_px`` are dropped.
    """
    if before.shape != after.shape or before.shape[:2] != valid.shape:
        raise ValueError(f"shapes differ: before {before.shape}, after {after.shape}, valid {valid.shape}")
    idx = np.flatnonzero(valid)
    if idx.size < 100:
        raise ValueError(f"only {idx.size} valid pixels: too few to estimate change statistics")
    if idx.size > SAMPLE:
        idx = np.sort(np.random.default_rng(seed).choice(idx, SAMPLE, replace=False))
    mad = fit_irmad(_stack(before)[idx], _stack(after)[idx])
    z = chi_square(before, after, valid, mad)
    threshold = float(stats.chi2.ppf(1 - alpha, df=len(mad.rho)))
    with np.errstate(invalid="ignore"):
        raw = z > threshold
    return PixelChange(
        statistic=z,
        mask=clean_mask(raw, min_area_px),
        valid=valid,
        threshold=threshold,
        alpha=alpha,
        rho=tuple(float(r) for r in mad.rho),
        iterations=mad.iterations,
    )
