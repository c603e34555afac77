"""COCO training tiles from the scene renderer."""

from __future__ import annotations

import json
from pathlib import Path

import cv2

from sitewatch.simulate.training import generate_training_set


def test_training_set_is_coco_with_gsd(tmp_path: Path) -> None:
    path = generate_training_set(tmp_path, n_tiles=2, tile_size=160, gsd_range=(0.4, 0.6), seed=1)
    coco = json.loads(path.read_text())
    assert path == tmp_path / "train.json" and coco["info"]["simulated"] is True
    assert {c["name"]: c["id"] for c in coco["categories"]} == {
        "car": 1,
        "truck": 2,
        "bus": 3,
        "rail_car": 4,
        "crane": 5,
        "construction_vehicle": 6,
        "other_vehicle": 7,
        "tanker": 8,
        "locomotive": 9,
    }
    assert len(coco["images"]) == 2
    for im in coco["images"]:
        assert 0.4 <= im["gsd"] <= 0.6
        img = cv2.imread(str(tmp_path / "train" / im["file_name"]))
        assert img is not None and img.shape == (160, 160, 3)
    for a in coco["annotations"]:
        x, y, w, h = a["bbox"]
        assert x >= 0 and y >= 0 and x + w <= 160.01 and y + h <= 160.01 and w > 0 and h > 0


def test_training_set_can_target_rare_classes(tmp_path: Path) -> None:
    path = generate_training_set(tmp_path, n_tiles=1, tile_size=256, seed=2, classes=["rail_car", "locomotive"])
    coco = json.loads(path.read_text())
    cats = {a["category_id"] for a in coco["annotations"]}
    assert cats and cats <= {4, 9}
    assert all(a["synthetic_look"] for a in coco["annotations"])
