"""Probability that a present, unobscured vehicle is detected, as a function of the imaging.

The curve is parametric and documented so it can be refitted from simulator ground truth
(:func:`fit_detectability`)::

    p = p_max · σ((gsd50 − gsd) / gsd_scale) · σ((sun − sun50) / sun_scale) · cos(off_nadir)^k

with σ the logistic function. Coarser pixels lose small objects (``gsd50`` is the GSD at
which half the asymptotic rate remains), low sun hides them in shadow and noise, and high
off-nadir angles add layover and occlusion. Missing angles are taken as benign (nadir,
sun high) rather than guessed.

A :class:`CountCalibration` refines the curve for one detector: the curve's shape is fitted
on its matched detections, then each class gets its own yield (detections per visible
object, so class confusion and false positives are folded in), measured on a simulation
kept apart from anything it is later evaluated on. Outside the imaging conditions that
simulation covered, the calibration holds its rate at the nearest edge rather than
extrapolating a curve fitted without data there. Counts use
:meth:`Detectability.rate` / :meth:`CountCalibration.rate` alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

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

    def rate(self, cls: str, gsd: float, off_nadir: float | None = None, sun_elevation: float | None = None) -> float:
        """Expected detections per visible object of ``cls`` on such a scene: here the curve, for every class."""
        return float(self(gsd, off_nadir, sun_elevation))

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


DEFAULT_DETECTABILITY = Detectability()


@dataclass(frozen=True)
class CountCalibration:
    """A detector's detectability curve with a per-class yield; classes not listed use the curve alone."""

    curve: Detectability
    class_yield: tuple[tuple[str, float], ...] = ()
    #: The detector (name@version) it was measured for, and where (kept for provenance).
    detector: str = ""
    source: str = ""
    #: (condition, lowest, highest) seen in the calibration, for ``gsd``, ``off_nadir`` and
    #: ``sun_elevation``: the rate is held at the edge beyond them (empty: no limits, as in
    #: calibrations written before these were recorded).
    fitted_range: tuple[tuple[str, float, float], ...] = ()
    #: The detection score threshold the yields were measured at (None: not recorded): a
    #: yield holds only for detections kept at that threshold.
    score_threshold: float | None = None

    def rate(self, cls: str, gsd: float, off_nadir: float | None = None, sun_elevation: float | None = None) -> float:
        """Expected detections per visible object of ``cls`` on such a scene: the curve times the class
        yield. Above 1 where the detector also labels other things as ``cls`` (false positives).

        Conditions outside :attr:`fitted_range` are taken at its nearest edge: a curve fitted
        on a simulation whose sun never fell below 39° says nothing about 25° (the fit of
        2026-12-04 would have doubled such a scene's counts).
        """
        factor = dict(self.class_yield).get(cls, 1.0)
        limits = {name: (lo, hi) for name, lo, hi in self.fitted_range}

        def held(name: str, value: float) -> float:
            lo, hi = limits.get(name, (-np.inf, np.inf))
            return float(np.clip(value, lo, hi)) if np.isfinite(value) else value

        return factor * float(
            self.curve(
                held("gsd", gsd),
                None if off_nadir is None else held("off_nadir", off_nadir),
                None if sun_elevation is None else held("sun_elevation", sun_elevation),
            )
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "detector": self.detector,
            "curve": self.curve.as_dict(),
            "class_yield": dict(self.class_yield),
            "source": self.source,
            "fitted_range": {name: [lo, hi] for name, lo, hi in self.fitted_range},
            "score_threshold": self.score_threshold,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CountCalibration:
        """Inverse of :meth:`as_dict`; raises :class:`InputError` on a malformed mapping."""
        try:
            curve = Detectability(**{k: float(v) for k, v in data["curve"].items()})
            yields = tuple(sorted((str(c), float(v)) for c, v in dict(data.get("class_yield", {})).items()))
            ranges = tuple(
                (str(name), float(lo), float(hi)) for name, (lo, hi) in dict(data.get("fitted_range", {})).items()
            )
            threshold = None if data.get("score_threshold") is None else float(data["score_threshold"])
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise InputError(
                f"malformed count calibration ({exc})", fix="re-run `sitewatch calibrate-counts` to write it"
            ) from exc
        if any(v < 0 or not np.isfinite(v) for _, v in yields):
            raise InputError("count calibration has a negative class yield", fix="re-run `sitewatch calibrate-counts`")
        if any(not (np.isfinite(lo) and np.isfinite(hi) and lo <= hi) for _, lo, hi in ranges):
            raise InputError("count calibration has an empty fitted range", fix="re-run `sitewatch calibrate-counts`")
        return cls(
            curve=curve,
            class_yield=yields,
            detector=str(data.get("detector", "")),
            source=str(data.get("source", "")),
            fitted_range=ranges,
            score_threshold=threshold,
        )


#: What counts are corrected with: one curve for every class, or a detector's calibration.
DetectabilityModel = Detectability | CountCalibration

_NAMES = ("p_max", "gsd50", "gsd_scale", "sun50", "sun_scale", "k")
# Bounds (m) of the GSD terms in fits: data from a narrow GSD range must not push the
# half-rate GSD to absurd values (it then says nothing about coarser imagery anyway).
_GSD50 = (0.05, 5.0)
_GSD_SCALE = (0.01, 2.0)
# Bounds (degrees) of the sun terms, for the same reason: a simulation whose sun never fell
# below 39° was fitted with a cliff at 38.9° 0.13° wide, and scenes at 33° were then
# "corrected" by a factor of 10^17. Shadows hide vehicles only at low sun.
_SUN50 = (-20.0, 25.0)
_SUN_SCALE = (2.0, 20.0)


def _span(bounds: tuple[float, float]) -> float:
    return bounds[1] - bounds[0]


def _logit_in(value: float, bounds: tuple[float, float]) -> float:
    x = np.clip((value - bounds[0]) / _span(bounds), 1e-6, 1 - 1e-6)
    return float(np.log(x / (1 - x)))


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
    fitted curve is valid; the GSD and sun terms stay within bounds, so the sun term cannot
    drop by more than a factor of e over less than 2° (the GSD term may still fall steeply:
    counts guard against near-zero rates with ``MIN_DETECTION_RATE``).
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
            gsd50=_GSD50[0] + _span(_GSD50) * float(expit(theta[1])),
            gsd_scale=_GSD_SCALE[0] + _span(_GSD_SCALE) * float(expit(theta[2])),
            sun50=_SUN50[0] + _span(_SUN50) * float(expit(theta[3])),
            sun_scale=_SUN_SCALE[0] + _span(_SUN_SCALE) * float(expit(theta[4])),
            k=float(np.exp(theta[5])),
        )

    def nll(theta: NDArray[np.float64]) -> float:
        p = np.clip(unpack(theta)(g, on, sun), 1e-9, 1 - 1e-9)
        return float(-np.sum(k_det * np.log(p) + (n - k_det) * np.log1p(-p)))

    s = start
    theta0 = np.array(
        [
            np.log(s.p_max / (1 - s.p_max)),
            _logit_in(s.gsd50, _GSD50),
            _logit_in(s.gsd_scale, _GSD_SCALE),
            _logit_in(s.sun50, _SUN50),
            _logit_in(s.sun_scale, _SUN_SCALE),
            np.log(s.k),
        ]
    )
    res = minimize(nll, theta0, method="Nelder-Mead", options={"maxiter": 4000, "xatol": 1e-4, "fatol": 1e-6})
    return unpack(res.x)


def fit_count_calibration(outcomes: Any, *, detector: str = "", source: str = "") -> CountCalibration:
    """Calibrate counts from per-scene, per-class outcomes on ground truth.

    ``outcomes`` is a DataFrame with one row per scene and class: ``gsd``, ``off_nadir``,
    ``sun_elevation``, ``present`` (visible truth objects), ``matched`` (of those, found with
    the right class) and ``detected`` (all detections of that class). The curve is the
    maximum-likelihood fit of matched/present over scene totals; a class's yield is its
    detections over what the curve predicts for it (a ratio estimator), so the corrected
    count ``raw / q`` is unbiased for that detector on imagery like the calibration's.
    """
    need = {"cls", "gsd", "off_nadir", "sun_elevation", "present", "matched", "detected"}
    missing = need - set(outcomes.columns)
    if missing:
        raise InputError(f"calibration outcomes lack columns {sorted(missing)}", fix="build them with scene_outcomes")
    per_scene = outcomes.groupby("scene_id", as_index=False).agg(
        gsd=("gsd", "first"),
        off_nadir=("off_nadir", "first"),
        sun_elevation=("sun_elevation", "first"),
        present=("present", "sum"),
        matched=("matched", "sum"),
    )
    per_scene = per_scene[per_scene["present"] > 0]
    if per_scene.empty:
        raise InputError("no visible truth objects to calibrate on", fix="calibrate on a simulation with activity")
    curve = fit_detectability(
        per_scene["gsd"], per_scene["off_nadir"], per_scene["sun_elevation"], per_scene["matched"], per_scene["present"]
    )
    expected = outcomes["present"] * curve(outcomes["gsd"], outcomes["off_nadir"], outcomes["sun_elevation"])
    totals = outcomes.assign(expected=expected).groupby("cls")[["detected", "expected", "present"]].sum()
    yields = tuple(
        (str(c), round(float(r.detected / r.expected), 4))
        for c, r in totals.iterrows()
        if r.present >= 20 and r.expected > 0  # fewer visible objects say too little about a class
    )
    # Widened to whole thousandths, so no calibration scene falls outside its own range.
    seen = tuple(
        (name, float(np.floor(values.min() * 1000) / 1000), float(np.ceil(values.max() * 1000) / 1000))
        for name in ("gsd", "off_nadir", "sun_elevation")
        if (values := per_scene[name].dropna()).size
    )
    return CountCalibration(curve=curve, class_yield=yields, detector=detector, source=source, fitted_range=seen)


__all__ = [
    "DEFAULT_DETECTABILITY",
    "CountCalibration",
    "Detectability",
    "DetectabilityModel",
    "fit_count_calibration",
    "fit_detectability",
]
