"""Calibration of the alert rules on the simulator's activity model, without rendering images.

For each seed the simulator's own event/episode schedule and daily vehicles are drawn
(``sitewatch.simulate.activity``), sampled on its revisit plan, and thinned binomially by a
random observed fraction and the default detectability curve (the counts a perfect-but-
partial detector would give). The walk-forward back-test then scores each rule. Prints one
JSON object (SIMULATED data). Usage:
``python benchmarks/analytics_simcalibration.py [seeds] [days] [sites] [first_seed] [min_observed]``
(the observed fraction below which a count is insufficient; default the product's).
Thresholds are calibrated on seeds 0-2 (``3 365 3 0``) and evaluated on the held-out
seeds 3-8 (``6 365 3 3``); never tune on the evaluation seeds.
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np
import pandas as pd

from sitewatch.analytics.backtest import RuleScore, backtest
from sitewatch.analytics.series import normalise_observations, with_zone_totals
from sitewatch.counts import DEFAULT_DETECTABILITY, MIN_OBSERVED_FRACTION
from sitewatch.model import CLASSES, Event
from sitewatch.simulate.activity import DECEPTIONS
from sitewatch.simulate.run import SimulationConfig, plan_site


def simulate_counts(
    seed: int, days: int, n_sites: int, min_observed: float = MIN_OBSERVED_FRACTION
) -> tuple[pd.DataFrame, list[Event], pd.DataFrame, dict]:
    """Counts a perfect-but-partial detector would give on the default simulation of ``seed``."""
    cfg = SimulationConfig(seed=seed, sites=n_sites, days=days)
    pick = np.random.default_rng(np.random.SeedSequence(cfg.seed))  # as simulate(): one deception per run
    deception_site, deception = int(pick.integers(cfg.sites)), str(pick.choice(DECEPTIONS))
    rows, events, episodes, kinds = [], [], [], {}
    for i in range(n_sites):
        plan = plan_site(cfg, i, deception=deception if i == deception_site else None)
        layout, history, spec = plan.layout, plan.history, plan.layout.spec
        thin = np.random.default_rng([seed, i, 99])
        kinds.update({(spec.id, z.id): z.kind for z in layout.zones})
        events += [Event(e.id, e.date, e.kind, "sim", site_id=e.site_id, simulated=True) for e in history.events]
        episodes += [(e.id, e.site_id, e.kind, e.start, e.end, e.event_id, e.shape, e.impact) for e in history.episodes]
        for acq in plan.acquisitions:
            vehicles = history.days[acq.acquired.date()]
            p_det = float(DEFAULT_DETECTABILITY(acq.gsd, acq.off_nadir, acq.sun_elevation))
            for z in layout.zones:
                frac = float(np.clip(1.0 - acq.cloud_target * thin.uniform(0, 2), 0.0, 1.0))
                if acq.footprint is not None and thin.random() > acq.footprint[1]:
                    frac = 0.0
                present = {c: 0 for c in CLASSES}
                for v in vehicles:
                    if v.zone_id == z.id:
                        present[v.cls] += 1
                for cls, n in present.items():
                    q = frac * p_det
                    raw = int(thin.binomial(n, q)) if q > 0 else 0
                    rows.append(
                        (
                            spec.id,
                            z.id,
                            cls,
                            pd.Timestamp(acq.acquired.date()),
                            acq.scene_id,
                            raw,
                            raw / q if q > 0 else 0.0,
                            max(q, 1e-6),
                            frac,
                            frac >= min_observed,
                        )
                    )
    obs = pd.DataFrame(
        rows,
        columns=[
            "site_id",
            "zone_id",
            "cls",
            "date",
            "scene_id",
            "raw",
            "estimate",
            "q",
            "observed_fraction",
            "sufficient",
        ],
    )
    ep = pd.DataFrame(
        episodes, columns=["episode_id", "site_id", "kind", "start", "end", "event_id", "shape", "impact"]
    )
    return normalise_observations(obs), events, ep, kinds


def sim_args(argv: list[str]) -> tuple[int, int, int, int, float]:
    """``[seeds] [days] [sites] [first_seed] [min_observed]`` as these scripts take them, with defaults."""
    a = [*argv, *("3", "365", "3", "0", str(MIN_OBSERVED_FRACTION))[len(argv) :]]
    return int(a[0]), int(a[1]), int(a[2]), int(a[3]), float(a[4])


def main() -> None:
    seeds, days, n_sites, first_seed, min_observed = sim_args(sys.argv[1:])
    scores: dict[str, list[RuleScore]] = {}
    t0 = time.perf_counter()
    for seed in range(first_seed, first_seed + seeds):
        obs, events, episodes, kinds = simulate_counts(seed, days, n_sites, min_observed)
        for r in backtest(with_zone_totals(obs), events, episodes=episodes, zone_kinds=kinds):
            scores.setdefault(r.rule, []).append(r)

    def pooled(rs: list[RuleScore]) -> dict[str, float | int | None]:
        alarms, true = sum(r.alarms for r in rs), sum(r.true_alarms for r in rs)
        targets, detected = sum(r.targets for r in rs), sum(r.detected for r in rs)
        leads = [r.median_lead_days for r in rs if r.detected]
        return {
            "recall": round(detected / targets, 3) if targets else None,
            "precision": round(true / alarms, 3) if alarms else None,
            "median_of_median_leads_days": float(np.median(leads)) if leads else None,
            "false_alarms_per_site_year": round((alarms - true) / sum(r.site_years for r in rs), 3),
            "targets": targets,
            "alarms": alarms,
        }

    out = {
        "simulated": True,
        "seeds": list(range(first_seed, first_seed + seeds)),
        "days": days,
        "sites": n_sites,
        "min_observed_fraction": min_observed,
        "seconds": round(time.perf_counter() - t0, 2),
        "rules": {name: pooled(rs) for name, rs in scores.items()},
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
