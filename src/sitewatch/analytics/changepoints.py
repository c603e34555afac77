"""Change points in a count series: PELT (ruptures) with a stated penalty rule.

Counts are variance-stabilised with the Anscombe transform ``2·sqrt(x + 3/8)`` (variance
≈ 1 for Poisson counts, more with over-dispersion), so a mean-shift (L2) cost fits. The
penalty is BIC-like: ``pen = 2 · σ̂² · ln(n)``, with ``σ̂`` the robust noise scale of the
transformed series from its first differences (MAD / √2), so over-dispersed series are not
cut at every wiggle.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import ruptures as rpt

from sitewatch.errors import SeriesError


@dataclass(frozen=True)
class Segment:
    start: pd.Timestamp
    end: pd.Timestamp
    mean: float
    n: int


@dataclass(frozen=True)
class ChangePoints:
    """Segments between change points, and the penalty that produced them."""

    segments: tuple[Segment, ...]
    penalty: float
    sigma: float

    @property
    def dates(self) -> list[pd.Timestamp]:
        """First day of each segment after the first: the change points."""
        return [s.start for s in self.segments[1:]]


def noise_scale(y: np.ndarray) -> float:
    """Robust standard deviation of ``y`` around a slowly moving mean (MAD of differences / √2)."""
    d = np.diff(y)
    if d.size == 0:
        return 1.0
    mad = 1.4826 * float(np.median(np.abs(d - np.median(d))))
    return max(mad / np.sqrt(2.0), 1e-6) if mad > 0 else max(float(np.std(d)) / np.sqrt(2.0), 1e-6)


def find_changepoints(
    dates: pd.Series, counts: pd.Series, *, penalty: float | None = None, min_size: int = 3
) -> ChangePoints:
    """PELT change points of ``counts`` (ordered by ``dates``); ``penalty`` overrides the BIC-like rule."""
    x = np.asarray(counts, dtype=float)
    if x.size < 2 * min_size:
        raise SeriesError(
            f"{x.size} observations; change points need at least {2 * min_size}", fix="give a longer series"
        )
    y = 2.0 * np.sqrt(x + 3.0 / 8.0)
    sigma = noise_scale(y)
    pen = float(penalty) if penalty is not None else 2.0 * sigma**2 * np.log(x.size)
    ends = rpt.Pelt(model="l2", min_size=min_size, jump=1).fit(y.reshape(-1, 1)).predict(pen=pen)
    d = pd.to_datetime(pd.Series(dates)).reset_index(drop=True)
    segments = []
    start = 0
    for end in ends:
        segments.append(Segment(d.iloc[start], d.iloc[end - 1], float(x[start:end].mean()), end - start))
        start = end
    return ChangePoints(tuple(segments), pen, sigma)
