"""Simulated sites, scenes, activity and ground truth (everything marked SIMULATED).

``simulate(out_dir, SimulationConfig(...))`` writes the "Simulation directory" of
docs/architecture.md; :func:`sitewatch.simulate.training.generate_training_set` writes
COCO training tiles with the same renderer.
"""

from sitewatch.simulate.run import SimulationConfig, SimulationSummary, simulate

__all__ = ["SimulationConfig", "SimulationSummary", "simulate"]
