"""Detector training tiles drawn with the scene renderer, written as PNG + COCO JSON.

Tiles are windows of procedural sites at random GSDs, half of them centred on rail, pad or
construction slots, with slots filled favouring the classes seen least so far (so rail
cars, locomotives, cranes and tankers are well represented), under random sun, haze and
light cloud. Category ids follow
``aerial-vehicles`` (1-7) plus 8 tanker and 9 locomotive. Everything is marked SIMULATED.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from sitewatch import SIMULATED_MARK
from sitewatch.errors import InputError
from sitewatch.simulate.acquisition import Acquisition, solar_position
from sitewatch.simulate.activity import Vehicle
from sitewatch.simulate.chips import CLASS_SIZE, COCO_CATEGORY_IDS, VehicleLooks, real_chips
from sitewatch.simulate.layout import RAIL_SLOT, SITE_SPECS, SiteLayout, generate_layout
from sitewatch.simulate.render import BaseMap, Window, render_base, render_scene

_TILES_PER_LAYOUT, _MAX_LAYOUTS = 50, 8  # a fresh procedural site per 50 tiles, for varied ground
_MIN_KEPT = 0.5  # keep a box cut by the tile edge if this share of it remains


def _fill_window(
    layout: SiteLayout, win: Window, wanted: Sequence[str], rng: np.random.Generator, seen: dict[str, int]
) -> list[Vehicle]:
    """Vehicles in the slots under ``win``, favouring the classes seen least so far."""
    out: list[Vehicle] = []
    fill = rng.uniform(0.35, 0.9)
    for i, slot in enumerate(layout.slots):
        if not (win.west <= slot.x <= win.west + win.extent and win.north - win.extent <= slot.y <= win.north):
            continue
        options = [c for c in wanted if c in slot.classes and CLASS_SIZE[c][0][0] <= slot.max_length]
        if not options or rng.random() > fill:
            continue
        w = np.array([1.0 / (1 + seen[c]) for c in options])
        cls = options[int(rng.choice(len(options), p=w / w.sum()))]
        seen[cls] += 1
        (lmin, lmax), (wmin, wmax), height = CLASS_SIZE[cls]
        length = float(rng.uniform(lmin, min(lmax, slot.max_length)))
        flip = 180.0 if rng.random() < 0.5 else 0.0
        out.append(
            Vehicle(
                f"t{i}",
                cls,
                slot.zone_id,
                slot.x + float(rng.normal(0, 0.3)),
                slot.y + float(rng.normal(0, 0.3)),
                (slot.heading + flip + float(rng.normal(0, 0.1 if slot.classes & RAIL_SLOT else 5))) % 360,
                length,
                float(rng.uniform(wmin, wmax)),
                height,
                int(rng.integers(2**31)),
            )
        )
    return out


def _window_on_slots(layout: SiteLayout, extent: float, wanted: Sequence[str], rng: np.random.Generator) -> Window:
    """A window centred near a slot that can hold one of the least common wanted classes."""
    candidates = [s for s in layout.slots if s.classes & set(wanted)]
    rare = [s for s in candidates if s.classes & {"rail_car", "locomotive", "crane", "tanker", "construction_vehicle"}]
    pool = rare if rare and rng.random() < 0.5 else candidates
    s = pool[int(rng.integers(len(pool)))]
    half = extent / 2
    cx = float(np.clip(s.x + rng.uniform(-half / 2, half / 2), half, layout.size - half))
    cy = float(np.clip(s.y + rng.uniform(-half / 2, half / 2), half, layout.size - half))
    return Window(cx - half, cy + half, extent)


def _acquisition(layout: SiteLayout, gsd: float, rng: np.random.Generator, n: int) -> Acquisition:
    day = dt.date(2024, 1, 1) + dt.timedelta(days=int(rng.integers(366)))
    t = dt.datetime.combine(day, dt.time(0), dt.UTC) + dt.timedelta(
        hours=10.5 + float(rng.normal(0, 0.6)) - layout.spec.lon / 15
    )
    elevation, azimuth = solar_position(t, layout.spec.lat, layout.spec.lon)
    return Acquisition(
        scene_id=f"tile-{n:06d}",
        site_id=layout.spec.id,
        acquired=t.replace(microsecond=0),
        sensor="simulated",
        gsd=gsd,
        off_nadir=float(abs(rng.normal(0, 12)) % 30),
        sun_elevation=elevation,
        sun_azimuth=azimuth,
        cloud_target=float(rng.uniform(0.05, 0.3)) if rng.random() < 0.15 else 0.0,
        haze=float(rng.uniform(0, 0.2)),
        shift_px=(0.0, 0.0),
        footprint=None,
        seed=int(rng.integers(2**31)),
    )


def generate_training_set(
    out_dir: str | Path,
    *,
    n_tiles: int,
    tile_size: int = 512,
    gsd_range: tuple[float, float] = (0.3, 0.8),
    seed: int = 0,
    classes: Sequence[str] | None = None,
    split: str = "train",
) -> Path:
    """Write ``n_tiles`` SIMULATED PNG tiles and their COCO JSON; return the JSON path.

    Layout (as ``aerial-vehicles``): ``out_dir/<split>.json`` with ``file_name`` relative
    to ``out_dir/<split>/``. ``images[].gsd`` is each tile's GSD (m/px); annotations carry
    ``synthetic_look`` (drawn, not a real chip). Boxes cut by the tile edge are kept
    (clipped) when at least half of them is inside; vehicles under cloud are dropped.
    """
    wanted = tuple(classes) if classes else tuple(COCO_CATEGORY_IDS)
    unknown = [c for c in wanted if c not in COCO_CATEGORY_IDS]
    if unknown or n_tiles < 1 or tile_size < 32:
        raise InputError(
            f"bad training-set request: classes {unknown}, n_tiles {n_tiles}, tile_size {tile_size}",
            fix=f"use classes from {', '.join(COCO_CATEGORY_IDS)}, n_tiles >= 1, tile_size >= 32",
        )
    out = Path(out_dir)
    img_dir = out / split
    img_dir.mkdir(parents=True, exist_ok=True)
    (out / "SIMULATED.txt").write_text(f"{SIMULATED_MARK} training tiles generated by sitewatch.simulate.training\n")
    rng = np.random.default_rng(seed)
    looks = VehicleLooks(real_chips()[0])
    bases: list[BaseMap] = []
    for i in range(min(_MAX_LAYOUTS, math.ceil(n_tiles / _TILES_PER_LAYOUT))):
        layout = generate_layout(SITE_SPECS[i % len(SITE_SPECS)], rng)
        bases.append(render_base(layout, rng))
    seen = dict.fromkeys(wanted, 0)
    images: list[dict] = []
    annotations: list[dict] = []
    for n in range(n_tiles):
        base = bases[n % len(bases)]
        gsd = round(float(rng.uniform(*gsd_range)), 3)
        win = _window_on_slots(base.layout, tile_size * gsd, wanted, rng)
        vehicles = _fill_window(base.layout, win, wanted, rng, seen)
        acq = _acquisition(base.layout, gsd, rng, n)
        scene = render_scene(base, acq, vehicles, looks, window=win)
        image = scene.image[:tile_size, :tile_size]
        name = f"{split}_{n:06d}.png"
        cv2.imwrite(str(img_dir / name), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        images.append(
            {
                "id": n + 1,
                "file_name": name,
                "width": tile_size,
                "height": tile_size,
                "gsd": gsd,
                "sun_elevation": round(acq.sun_elevation, 2),
                "off_nadir": round(acq.off_nadir, 1),
                "simulated": True,
            }
        )
        for v, box, visible in zip(vehicles, scene.boxes, scene.visible, strict=True):
            x0, y0 = max(box[0], 0.0), max(box[1], 0.0)
            x1, y1 = min(box[2], float(tile_size)), min(box[3], float(tile_size))
            full = (box[2] - box[0]) * (box[3] - box[1])
            if not visible or x1 <= x0 or y1 <= y0 or (x1 - x0) * (y1 - y0) < _MIN_KEPT * full:
                continue
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": n + 1,
                    "category_id": COCO_CATEGORY_IDS[v.cls],
                    "bbox": [round(x0, 2), round(y0, 2), round(x1 - x0, 2), round(y1 - y0, 2)],
                    "area": round((x1 - x0) * (y1 - y0), 2),
                    "iscrowd": 0,
                    "synthetic_look": looks.synthetic(v.cls),
                }
            )
    coco = {
        "info": {
            "description": f"{SIMULATED_MARK} vehicle tiles from sitewatch.simulate",
            "simulated": True,
            "seed": seed,
            "gsd_range": list(gsd_range),
        },
        "images": images,
        "annotations": annotations,
        "categories": [
            {"id": i, "name": c, "supercategory": "vehicle"}
            for c, i in sorted(COCO_CATEGORY_IDS.items(), key=lambda kv: kv[1])
        ],
    }
    path = out / f"{split}.json"
    path.write_text(json.dumps(coco))
    return path
