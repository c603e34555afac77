"""A tiny simulation shared by the simulate tests (one site, a few scenes, coarse GSD)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from sitewatch.simulate import SimulationConfig, simulate

TINY = SimulationConfig(seed=7, sites=1, days=21, start=dt.date(2024, 5, 1), gsd_range=(0.7, 0.8))


@pytest.fixture(scope="session")
def tiny_config() -> SimulationConfig:
    return TINY


@pytest.fixture(scope="session")
def tiny_sim(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sim") / "out"
    simulate(out, TINY)
    return out
