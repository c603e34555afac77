"""Speed of `sitewatch simulate`: CPU seconds per scene and the projected default run.

Prints one JSON object. ``ratio_to_budget`` is the projected CPU time of the default run
(what `sitewatch demo` uses) over its 180 s single-core budget: below 1.0 is on target.
CPU time (not wall time) is used because the machine may be shared.

    python benchmarks/simulate_speed.py [--days 30]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
import time

import numpy as np

from sitewatch.simulate import SimulationConfig, simulate
from sitewatch.simulate.acquisition import plan_acquisitions
from sitewatch.simulate.layout import SITE_SPECS

BUDGET_S = 180.0


def default_scene_count(cfg: SimulationConfig) -> int:
    """Scenes the default run makes, from the same acquisition plans (no rendering)."""
    n = 0
    for i, spec in enumerate(SITE_SPECS[: cfg.sites]):
        acq_stream = np.random.SeedSequence([cfg.seed, i]).spawn(4)[3]
        n += len(
            plan_acquisitions(
                spec.id,
                spec.lat,
                spec.lon,
                cfg.start,
                cfg.days,
                np.random.default_rng(acq_stream),
                gsd_range=cfg.gsd_range,
                mean_gap=cfg.mean_revisit_days,
            )
        )
    return n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--days", type=int, default=30)
    args = parser.parse_args()
    default = SimulationConfig()
    sample = dataclasses.replace(default, sites=1, days=args.days)
    with tempfile.TemporaryDirectory() as tmp:
        cpu0, wall0 = time.process_time(), time.perf_counter()
        summary = simulate(tmp, sample)
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    per_scene = cpu / max(summary.scenes, 1)
    n_default = default_scene_count(default)
    projected = per_scene * n_default  # includes one-off costs (chips, base map) spread over scenes
    print(
        json.dumps(
            {
                "benchmark": "simulate_speed",
                "sample_scenes": summary.scenes,
                "sample_cpu_s": round(cpu, 2),
                "sample_wall_s": round(wall, 2),
                "cpu_s_per_scene": round(per_scene, 3),
                "default_scenes": n_default,
                "projected_default_cpu_s": round(projected, 1),
                "budget_s": BUDGET_S,
                "ratio_to_budget": round(projected / BUDGET_S, 3),
            }
        )
    )


if __name__ == "__main__":
    main()
