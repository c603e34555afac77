"""Counts per site, zone, class and scene, corrected for coverage and detectability.

``compute_counts(site, scene, detections)`` is the entry point; ``observed_fraction`` and
the :class:`Detectability` curve (with :func:`fit_detectability`) and a detector's
:class:`CountCalibration` (:func:`fit_count_calibration`) are its parts.
"""

from sitewatch.counts.coverage import local_utm, observed_fraction
from sitewatch.counts.detectability import (
    DEFAULT_DETECTABILITY,
    CountCalibration,
    Detectability,
    DetectabilityModel,
    fit_count_calibration,
    fit_detectability,
)
from sitewatch.counts.estimate import MIN_OBSERVED_FRACTION, compute_counts, poisson_interval

__all__ = [
    "DEFAULT_DETECTABILITY",
    "MIN_OBSERVED_FRACTION",
    "CountCalibration",
    "Detectability",
    "DetectabilityModel",
    "compute_counts",
    "fit_count_calibration",
    "fit_detectability",
    "local_utm",
    "observed_fraction",
    "poisson_interval",
]
