"""Probability that a present, unobscured vehicle is detected, as a function of the imaging.

The curve is parametric and documented so it can be refitted from simulator ground truth
(:func:`fit_detectability`)::

    p = p_max · σ((gsd50 − gsd) / gsd_scale) · σ((sun − sun50) / sun_scale) · cos(off_nadir)^k

with σ the logistic function. Coarser pixels lose small objects (``gsd50`` is the GSD at
which half the asymptotic rate remains), low sun hides them in shadow and noise, and high
off-nadir angles add layover and occlusion. Missing angles are taken as benign (nadir,
sun high) rather than guessed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import minimize
from scipy.special import expit

from sitewatch.errors import InputError


@dataclass(frozen=True)
class Detectability:
    """Parameters of the detectability curve (defaults: a sub-metre vehicle detector)."""

    p_max: float = 0.95
    gsd50: float = 0.9
    gsd_scale: float = 0.12
    sun50: float = 8.0
    sun_scale: float = 4.0
    k: float = 1.0

    def __call__(
        self, gsd: ArrayLike, off_nadir: ArrayLike | None = None, sun_elevation: ArrayLike | None = None
    ) -> NDArray[np.float64]:
        g = np.asarray(gsd, dtype=float)
        on = np.nan_to_num(np.asarray(0.0 if off_nadir is None else off_nadir, dtype=float), nan=0.0)
        sun = np.nan_to_num(np.asarray(90.0 if sun_elevation is None else sun_elevation, dtype=float), nan=90.0)
        p = (
            self.p_max
            * expit((self.gsd50 - g) / self.gsd_scale)
            * expit((sun - self.sun50) / self.sun_scale)
            * np.cos(np.radians(np.clip(on, 0.0, 89.0))) ** self.k
        )
        return np.asarray(np.clip(p, 0.0, 1.0), dtype=float)

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


DEFAULT_DETECTABILITY = Detectability()

_NAMES = ("p_max", "gsd50", "gsd_scale", "sun50", "sun_scale", "k")


def fit_detectability(
    gsd: ArrayLike,
    off_nadir: ArrayLike,
    sun_elevation: ArrayLike,
    detected: ArrayLike,
    present: ArrayLike,
    *,
    start: Detectability = DEFAULT_DETECTABILITY,
) -> Detectability:
    """Maximum-likelihood curve from ground truth: ``detected`` of ``present`` visible objects per row.

    Rows are typically one per simulated scene (or scene and class); the likelihood is
    binomial. Parameters are optimised on unconstrained scales (logit / log) so every
    fitted curve is valid.
    """
    g, on, sun = (np.asarray(a, dtype=float) for a in (gsd, off_nadir, sun_elevation))
    k_det, n = np.asarray(detected, dtype=float), np.asarray(present, dtype=float)
    if not (g.shape == on.shape == sun.shape == k_det.shape == n.shape) or g.size == 0:
        raise InputError("detectability fit needs equally long, non-empty arrays", fix="give one value per row")
    if np.any(k_det > n) or np.any(k_det < 0):
        raise InputError(
            "detected counts must lie between 0 and present", fix="check the matching of truth to detections"
        )

    def unpack(theta: NDArray[np.float64]) -> Detectability:
        return Detectability(
            p_max=float(expit(theta[0])),
            gsd50=float(np.exp(theta[1])),
            gsd_scale=float(np.exp(theta[2])),
            sun50=float(theta[3]),
            sun_scale=float(np.exp(theta[4])),
            k=float(np.exp(theta[5])),
        )

    def nll(theta: NDArray[np.float64]) -> float:
        p = np.clip(unpack(theta)(g, on, sun), 1e-9, 1 - 1e-9)
        return float(-np.sum(k_det * np.log(p) + (n - k_det) * np.log1p(-p)))

    s = start
    theta0 = np.array(
        [
            np.log(s.p_max / (1 - s.p_max)),
            np.log(s.gsd50),
            np.log(s.gsd_scale),
            s.sun50,
            np.log(s.sun_scale),
            np.log(s.k),
        ]
    )
    res = minimize(nll, theta0, method="Nelder-Mead", options={"maxiter": 4000, "xatol": 1e-4, "fatol": 1e-6})
    return unpack(res.x)


__all__ = ["DEFAULT_DETECTABILITY", "Detectability", "fit_detectability"]
