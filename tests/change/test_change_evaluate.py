"""Evaluation: object change on simulator-style truth, pixel change on labelled pairs, and the CLI."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from sitewatch.change.evaluate import Score, evaluate_pairs, evaluate_sim
from sitewatch.cli.main import app
from sitewatch.errors import InputError
from sitewatch.simulate.writer import OBJECTS_HEADER

LON, LAT = 125.75, 39.03
M = 1 / 111_000  # about one metre in degrees of latitude


def _write_truth(root: Path, rows: list[tuple[str, str, str, float, bool]]) -> Path:
    """rows: (scene_id, object_id, cls, metres north of the origin, visible)."""
    (root / "truth").mkdir(parents=True)
    with (root / "truth" / "scenes.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["scene_id", "site_id", "acquired"])
        w.writerow(["s1", "site", "2024-03-01T02:00:00Z"])
        w.writerow(["s2", "site", "2024-03-05T02:00:00Z"])
    with (root / "truth" / "objects.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(OBJECTS_HEADER)
        for scene, oid, cls, north, vis in rows:
            w.writerow([scene, oid, cls, "site", "z", 0, 0, 1, 1, LON, LAT + north * M, vis, False, False])
    return root


def test_sim_truth_scores_appeared_and_departed(tmp_path: Path) -> None:
    sim = _write_truth(
        tmp_path / "sim",
        [
            ("s1", "o1", "car", 0, True),
            ("s1", "o2", "truck", 50, True),
            ("s1", "o3", "car", 100, False),
            ("s2", "o1", "car", 0, True),
            ("s2", "o3", "car", 100, True),
            ("s2", "o4", "car", 150, True),
        ],
    )
    report = evaluate_sim(sim)
    assert report.pairs == 1 and "oracle" in report.source
    # o2 left, o4 arrived; o3 was only hidden by cloud on s1, so reporting it is not an error.
    assert report.departed == Score(1, 0, 0) and report.appeared == Score(1, 0, 0)


def test_sim_truth_counts_false_changes(tmp_path: Path) -> None:
    # The same car parked 30 m further on: a matcher without a gate would call it stayed/moved;
    # with the gate it becomes one departure and one arrival that did not happen.
    sim = _write_truth(tmp_path / "sim", [("s1", "o1", "car", 0, True), ("s2", "o1", "car", 30, True)])
    report = evaluate_sim(sim)
    assert report.appeared == Score(0, 1, 0) and report.departed == Score(0, 1, 0)
    assert report.appeared.precision == 0.0


def _write_pairs(root: Path, texture, noisy, n: int = 2) -> Path:  # type: ignore[no-untyped-def]
    for d in ("A", "B", "label"):
        (root / d).mkdir(parents=True)
    for i in range(n):
        base = texture((256, 256), seed=20 + i)
        a, b = noisy(base, 3, seed=1), noisy(base, 3, seed=2)
        label = np.zeros((256, 256), np.uint8)
        b[40 + 20 * i : 80 + 20 * i, 100:150] = (230, 225, 220)
        label[40 + 20 * i : 80 + 20 * i, 100:150] = 255
        Image.fromarray(a).save(root / "A" / f"p{i}.png")
        Image.fromarray(b).save(root / "B" / f"p{i}.png")
        Image.fromarray(label).save(root / "label" / f"p{i}.png")
    return root


def test_pairs_scores_pixels(tmp_path: Path, texture, noisy) -> None:  # type: ignore[no-untyped-def]
    root = _write_pairs(tmp_path / "pairs", texture, noisy)
    (root / "A" / "orphan.png").write_bytes((root / "A" / "p0.png").read_bytes())
    report = evaluate_pairs(root)
    assert set(report.per_pair) == {"p0.png", "p1.png"} and "orphan.png" in report.skipped
    assert report.total.f1 > 0.9 and report.total.iou > 0.85
    assert report.total.tp + report.total.fn == 2 * 40 * 50


def test_pairs_folder_layout_is_checked(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="A/, B/ and label/"):
        evaluate_pairs(tmp_path)


def test_cli_evaluate_change(tmp_path: Path, texture, noisy) -> None:  # type: ignore[no-untyped-def]
    root = _write_pairs(tmp_path / "pairs", texture, noisy, n=1)
    runner = CliRunner()
    res = runner.invoke(app, ["evaluate-change", "--pairs", str(root), "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert doc["pairs"] == 1 and doc["f1"] > 0.9
    sim = _write_truth(tmp_path / "sim", [("s1", "o1", "car", 0, True), ("s2", "o2", "car", 80, True)])
    res = runner.invoke(app, ["evaluate-change", "--sim", str(sim)])
    assert res.exit_code == 0, res.output
    assert "SIMULATED" in res.output and "appeared" in res.output
    res = runner.invoke(app, ["evaluate-change"])
    assert res.exit_code != 0
