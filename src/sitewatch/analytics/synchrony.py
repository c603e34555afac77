"""Multi-site synchrony: do upticks at different sites happen together more than by chance?

Statistic: the number of pairs of alarms at *different* sites at most ``window_days``
apart. Null: each site's alarm dates are shifted circularly by an independent random
offset within the common period, which keeps each site's number and spacing of alarms
but breaks any alignment between sites. The p-value is ``(1 + #{null ≥ observed}) /
(1 + n_permutations)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Synchrony:
    statistic: int
    null_mean: float
    p_value: float
    n_permutations: int
    window_days: int
    pairs: tuple[tuple[str, str, str, str], ...]  # (site a, date a, site b, date b)


def _close_pairs(days: list[np.ndarray], window: int) -> int:
    total = 0
    for a, b in combinations(days, 2):
        if a.size and b.size:
            b_sorted = np.sort(b)
            hi = np.searchsorted(b_sorted, a + window, side="right")
            lo = np.searchsorted(b_sorted, a - window, side="left")
            total += int((hi - lo).sum())
    return total


def synchrony(
    alarms: pd.DataFrame,
    *,
    start: pd.Timestamp | None = None,
    end: pd.Timestamp | None = None,
    window_days: int = 7,
    n_permutations: int = 999,
    seed: int = 0,
) -> Synchrony:
    """Synchrony of ``alarms`` (``site_id, date``) over ``[start, end]`` (default: their range)."""
    a = alarms.assign(date=pd.to_datetime(alarms["date"]))
    t0 = pd.Timestamp(start) if start is not None else a["date"].min()
    t1 = pd.Timestamp(end) if end is not None else a["date"].max()
    if a.empty or pd.isna(t0):
        return Synchrony(0, 0.0, 1.0, 0, window_days, ())
    period = max(int((t1 - t0).days) + 1, 1)
    sites = sorted(a["site_id"].unique())
    days = [((a.loc[a["site_id"] == s, "date"] - t0).dt.days).to_numpy() for s in sites]
    observed = _close_pairs(days, window_days)
    rng = np.random.default_rng(seed)
    null = np.array(
        [_close_pairs([(d + rng.integers(period)) % period for d in days], window_days) for _ in range(n_permutations)]
    )
    pairs = []
    for (sa, da), (sb, db) in combinations(zip(sites, days, strict=True), 2):
        for x in da:
            for y in db[np.abs(db - x) <= window_days]:
                pairs.append(
                    (
                        sa,
                        (t0 + pd.Timedelta(days=int(x))).date().isoformat(),
                        sb,
                        (t0 + pd.Timedelta(days=int(y))).date().isoformat(),
                    )
                )
    p = (1 + int((null >= observed).sum())) / (1 + n_permutations)
    return Synchrony(observed, float(null.mean()) if null.size else 0.0, p, n_permutations, window_days, tuple(pairs))
