"""Vehicle chips: cut from (generated) COCO data, turned along x, drawn sprites to scale."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from sitewatch.errors import InputError
from sitewatch.simulate.chips import _obb_chip, load_chips, sprite_to_gsd, synthetic_sprite


def _coco(root: Path, boxes: list[tuple[int, list[float]]]) -> None:
    img = np.full((100, 120, 3), 40, np.uint8)
    for _, (x, y, w, h) in boxes:
        img[int(y) : int(y + h), int(x) : int(x + w)] = 220
    (root / "train").mkdir(parents=True)
    cv2.imwrite(str(root / "train" / "a.png"), img)
    coco = {
        "images": [{"id": 1, "file_name": "a.png", "width": 120, "height": 100}],
        "annotations": [{"id": i + 1, "image_id": 1, "category_id": c, "bbox": b} for i, (c, b) in enumerate(boxes)],
        "categories": [{"id": 1, "name": "car"}, {"id": 2, "name": "truck"}],
    }
    (root / "train.json").write_text(json.dumps(coco))


def test_load_chips_keeps_axis_aligned_boxes_turned_along_x(tmp_path: Path) -> None:
    # A horizontal car, a vertical truck, and a square box (orientation unknown: dropped).
    _coco(tmp_path, [(1, [10, 10, 40, 16]), (2, [70, 20, 18, 60]), (1, [10, 50, 30, 30])])
    chips = load_chips(tmp_path)
    assert [c.rgb.shape for c in chips["car"]] == [(16, 40, 3)]
    assert [c.rgb.shape for c in chips["truck"]] == [(18, 60, 3)]
    assert chips["car"][0].rgb.mean() > 0.5  # the bright vehicle, not the dark ground
    assert chips["car"][0].alpha[8, 20] > 0.9 and chips["car"][0].alpha[0, 0] < 0.5


def test_load_chips_names_the_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"train\.json"):
        load_chips(tmp_path / "nowhere")


def test_obb_chip_turns_an_oriented_vehicle() -> None:
    img = np.zeros((80, 80, 3), np.uint8)
    box = cv2.boxPoints(((40.0, 40.0), (24.0, 8.0), 30.0))
    cv2.fillPoly(img, [np.round(box).astype(np.int32)], (255, 255, 255))
    chip = _obb_chip(img, box.ravel().tolist())
    assert chip.shape[:2] == (8, 24)
    assert chip.mean() > 200


def test_sprites_scale_to_metres_at_gsd() -> None:
    sprite = synthetic_sprite("rail_car", 16.0, 3.0, np.random.default_rng(0))
    assert sprite.synthetic and sprite.rgb.shape == (30, 160, 3)
    rgb, alpha = sprite_to_gsd(sprite, 16.0, 3.0, 0.5)
    assert rgb.shape == (6, 32, 3) and alpha.shape == (6, 32)
    assert rgb.min() >= 0 and rgb.max() <= 1
