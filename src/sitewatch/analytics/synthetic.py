"""Synthetic count observations with known upticks, for tests, calibration and benchmarks.

Everything made here is SIMULATED: site ids start with ``sim-``. Sampling is irregular
(a scene on each day with probability ``1 / revisit_days``), counts are negative binomial
around a per-series mean with a weekly pattern, and each uptick multiplies the mean of its
series by ``factor`` over a ramp of ``ramp_days`` ending at its event date.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from sitewatch.analytics.series import normalise_observations


@dataclass(frozen=True)
class Uptick:
    site_id: str
    event_date: pd.Timestamp
    ramp_days: int = 14
    factor: float = 3.0
    zones: tuple[str, ...] = ("z0",)
    classes: tuple[str, ...] = ("truck",)


def synthetic_observations(
    *,
    n_sites: int = 1,
    n_zones: int = 2,
    classes: tuple[str, ...] = ("car", "truck"),
    start: str = "2022-01-01",
    days: int = 365,
    revisit_days: float = 3.0,
    alpha: float = 0.15,
    upticks: tuple[Uptick, ...] = (),
    seed: int = 0,
) -> pd.DataFrame:
    """A SIMULATED observation frame (``sitewatch.analytics.series`` schema), fully observed."""
    rng = np.random.default_rng(seed)
    t0 = pd.Timestamp(start)
    frames = []
    for s in range(n_sites):
        site = f"sim-{s:03d}"
        day_idx = np.flatnonzero(rng.random(days) < 1.0 / revisit_days)
        dates = t0 + pd.to_timedelta(day_idx, unit="D")
        dow = np.asarray(dates.day_of_week)
        ramps = [u for u in upticks if u.site_id == site]
        n_obs = len(day_idx)
        for z in range(n_zones):
            zone = f"z{z}"
            for cls in classes:
                base = rng.gamma(2.0, 4.0) + 0.3
                mean = base * np.where(dow >= 5, 0.7, 1.0)
                for u in ramps:
                    if zone in u.zones and cls in u.classes:
                        lead = (u.event_date - dates).days.to_numpy()
                        inside = (lead >= 0) & (lead < u.ramp_days)
                        mean = mean * np.where(inside, 1.0 + (u.factor - 1.0) * (1.0 - lead / u.ramp_days), 1.0)
                size = 1.0 / alpha
                raw = rng.negative_binomial(size, size / (size + mean))
                frames.append(
                    pd.DataFrame(
                        {
                            "site_id": site,
                            "zone_id": zone,
                            "cls": cls,
                            "date": dates,
                            "scene_id": [f"{site}-{d}" for d in day_idx],
                            "raw": raw.astype("int64"),
                            "estimate": raw.astype(float),
                            "q": np.ones(n_obs),
                            "observed_fraction": np.ones(n_obs),
                            "sufficient": np.ones(n_obs, dtype=bool),
                        }
                    )
                )
    return normalise_observations(pd.concat(frames, ignore_index=True))
