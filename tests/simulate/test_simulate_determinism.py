"""Same seed, same bytes; another seed, another site and history."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from sitewatch.simulate import SimulationConfig, simulate
from sitewatch.simulate.activity import simulate_history
from sitewatch.simulate.layout import SITE_SPECS, generate_layout


def _hashes(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_same_seed_same_files(tiny_sim: Path, tiny_config: SimulationConfig, tmp_path: Path) -> None:
    again = tmp_path / "again"
    simulate(again, tiny_config)
    assert _hashes(again) == _hashes(tiny_sim)


def test_other_seed_other_site_and_activity(tiny_config: SimulationConfig) -> None:
    def draw(seed: int) -> tuple[object, ...]:
        rng = np.random.default_rng(seed)
        layout = generate_layout(SITE_SPECS[0], rng)
        hist = simulate_history(layout, tiny_config.start, 20, rng)
        return layout.slots[:5], tuple((d, len(v)) for d, v in sorted(hist.days.items()))

    assert draw(1) == draw(1)
    a, b = draw(1), draw(2)
    assert a[0] != b[0] and a[1] != b[1]
