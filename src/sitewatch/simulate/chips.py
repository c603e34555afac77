"""Vehicle appearances: real chips cut from labelled overhead images, and drawn sprites.

Real chips come from TRAIN splits only. ``aerial-vehicles`` (about 0.1-0.15 m/px; cars,
trucks, buses, other vehicles) has axis-aligned boxes, so only boxes clearly aligned with
an image axis are kept and turned so the vehicle's long axis runs along x;
``fair1m-vehicles`` (about 0.45 m/px) has oriented boxes, used for construction
vehicles. Classes no data set has (rail cars, locomotives, cranes, tankers) are drawn to
the sizes in ``docs/domain.md`` with texture, and marked ``synthetic_look``. Sprites are
later area-downscaled to the scene GSD, like a sensor integrating over a pixel.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from sitewatch.config import shared_dir
from sitewatch.errors import InputError
from sitewatch.simulate.texture import fractal_noise

if TYPE_CHECKING:
    from sitewatch.simulate.activity import Vehicle

#: Typical (length range m, width range m, height m) per class.
CLASS_SIZE: dict[str, tuple[tuple[float, float], tuple[float, float], float]] = {
    "car": ((3.9, 5.2), (1.7, 2.0), 1.5),
    "truck": ((6.5, 10.5), (2.3, 2.6), 3.2),
    "bus": ((10.5, 12.5), (2.4, 2.6), 3.1),
    "tanker": ((11.0, 15.0), (2.4, 2.6), 3.3),
    "rail_car": ((14.0, 19.5), (2.9, 3.2), 4.0),
    "locomotive": ((17.0, 20.5), (3.0, 3.2), 4.3),
    "crane": ((10.0, 14.0), (2.6, 2.9), 3.6),
    "construction_vehicle": ((6.0, 9.5), (2.5, 3.2), 3.0),
    "other_vehicle": ((4.5, 8.0), (1.9, 2.5), 2.5),
}

#: Category ids of the aerial-vehicles COCO files, extended with the classes it lacks.
COCO_CATEGORY_IDS: dict[str, int] = {
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

_SPRITE_GSD = 0.1  # m/px at which synthetic sprites are drawn
_DISPLAY_TO_ALBEDO = 0.75  # chips are display-stretched; scenes apply their own exposure


@dataclass(frozen=True)
class Sprite:
    """A vehicle seen from above, long axis along x: RGB albedo (0-1) and alpha, float32."""

    rgb: np.ndarray
    alpha: np.ndarray
    synthetic: bool

    @property
    def aspect(self) -> float:
        return self.rgb.shape[0] / self.rgb.shape[1]


def aerial_vehicles_dir() -> Path:
    return shared_dir() / "data" / "aerial-vehicles"


def _feathered_alpha(h: int, w: int, inset: float = 0.06) -> np.ndarray:
    """A rectangle with soft, slightly rounded edges: the vehicle inside its tight box."""
    a = np.zeros((h, w), np.float32)
    dy, dx = max(1, round(h * inset)), max(1, round(w * inset))
    a[dy : h - dy, dx : w - dx] = 1.0
    sigma = max(0.6, 0.08 * min(h, w))
    return cv2.GaussianBlur(a, (0, 0), sigma)


def _train_split(root: Path, dataset: str) -> tuple[dict[str, Any], dict[int, str], dict[int, Path]]:
    """The TRAIN split's COCO JSON of ``root``, its class names by id and image paths by id."""
    ann_path = root / "train.json"
    try:
        coco = json.loads(ann_path.read_text())
    except (OSError, ValueError) as exc:
        raise InputError(
            f"cannot read vehicle chips: {exc}",
            path=ann_path,
            fix=f"set SITEWATCH_SHARED to the folder holding data/{dataset}",
        ) from exc
    names = {c["id"]: c["name"] for c in coco["categories"]}
    files = {im["id"]: root / "train" / im["file_name"] for im in coco["images"]}
    return coco, names, files


def _rgb(cache: dict[int, np.ndarray], image_id: int, files: dict[int, Path]) -> np.ndarray:
    """Image ``image_id`` as RGB, decoded once per load (``cache``)."""
    if image_id not in cache:
        bgr = cv2.imread(str(files[image_id]), cv2.IMREAD_COLOR)
        if bgr is None:
            raise InputError("cannot decode image", path=files[image_id], fix="check the shared data copy")
        cache[image_id] = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    return cache[image_id]


@lru_cache(maxsize=4)
def load_chips(
    root: Path | None = None,
    *,
    classes: tuple[str, ...] = ("car", "truck", "bus", "other_vehicle"),
    per_class: int = 120,
) -> dict[str, tuple[Sprite, ...]]:
    """Real chips per class from ``root/train.json`` (TRAIN split only).

    Raises :class:`InputError` if the folder or its JSON is missing or unreadable.
    """
    coco, names, files = _train_split(root or aerial_vehicles_dir(), "aerial-vehicles")
    picked: dict[str, list[dict]] = {c: [] for c in classes}
    for ann in sorted(coco["annotations"], key=lambda a: a["id"]):
        cls = names[ann["category_id"]]
        _, _, w, h = ann["bbox"]
        if cls in picked and max(w, h) >= 16 and max(w, h) / max(min(w, h), 1e-6) >= 1.7:
            picked[cls].append(ann)
    out: dict[str, tuple[Sprite, ...]] = {}
    images: dict[int, np.ndarray] = {}
    for cls, anns in picked.items():
        step = max(1, len(anns) // per_class)
        sprites = []
        for ann in anns[::step][:per_class]:
            x, y, w, h = ann["bbox"]
            crop = _rgb(images, ann["image_id"], files)[int(y) : int(np.ceil(y + h)), int(x) : int(np.ceil(x + w))]
            if crop.shape[0] > crop.shape[1]:
                crop = np.ascontiguousarray(np.rot90(crop))
            rgb = crop.astype(np.float32) * np.float32(_DISPLAY_TO_ALBEDO / 255.0)
            sprites.append(Sprite(rgb, _feathered_alpha(*rgb.shape[:2]), synthetic=False))
        out[cls] = tuple(sprites)
    return out


def fair1m_dir() -> Path:
    return shared_dir() / "data" / "fair1m-vehicles"


def _obb_chip(image: np.ndarray, obb: list[float]) -> np.ndarray:
    """Cut an oriented box out of ``image`` and turn it so its long side runs along x."""
    (cx, cy), (w, h), angle = cv2.minAreaRect(np.asarray(obb, np.float32).reshape(4, 2))
    if w < h:
        w, h, angle = h, w, angle + 90.0
    m = cv2.getRotationMatrix2D((cx, cy), angle, 1.0)
    r = int(np.hypot(w, h)) + 4  # rotate only a neighbourhood of the box
    x0, y0 = max(int(cx) - r, 0), max(int(cy) - r, 0)
    patch = image[y0 : int(cy) + r + 1, x0 : int(cx) + r + 1]
    m[:, 2] += m[:, :2] @ np.array([x0, y0]) - np.array([x0, y0])
    turned = cv2.warpAffine(patch, m, (patch.shape[1], patch.shape[0]), flags=cv2.INTER_LINEAR)
    return cv2.getRectSubPix(turned, (max(2, round(w)), max(2, round(h))), (cx - x0, cy - y0))


@lru_cache(maxsize=4)
def load_obb_chips(
    root: Path | None = None, *, classes: tuple[str, ...] = ("construction_vehicle",), min_length: float = 14.0
) -> dict[str, tuple[Sprite, ...]]:
    """Real chips of ``classes`` from the oriented boxes of ``fair1m-vehicles`` (TRAIN split only)."""
    coco, names, files = _train_split(root or fair1m_dir(), "fair1m-vehicles")
    out: dict[str, list[Sprite]] = {c: [] for c in classes}
    images: dict[int, np.ndarray] = {}
    for ann in sorted(coco["annotations"], key=lambda a: a["id"]):
        cls = names[ann["category_id"]]
        pts = np.asarray(ann.get("obb") or [], float).reshape(-1, 2)
        if cls not in out or len(pts) != 4:
            continue
        if max(np.linalg.norm(pts[1] - pts[0]), np.linalg.norm(pts[2] - pts[1])) < min_length:
            continue  # FAIR1M labels some car-sized objects "Dump Truck"
        chip = _obb_chip(_rgb(images, ann["image_id"], files), ann["obb"])
        rgb = chip.astype(np.float32) * np.float32(_DISPLAY_TO_ALBEDO / 255)
        out[cls].append(Sprite(rgb, _feathered_alpha(rgb.shape[0], rgb.shape[1], inset=0.04), synthetic=False))
    return {c: tuple(v) for c, v in out.items() if v}


def real_chips(
    aerial_root: Path | None = None, fair1m_root: Path | None = None
) -> tuple[dict[str, tuple[Sprite, ...]], str]:
    """All real chips by class and a note on where they came from; empty if the data are missing."""
    chips: dict[str, tuple[Sprite, ...]] = {}
    notes = []
    for name, load, root in (
        ("aerial-vehicles", load_chips, aerial_root),
        ("fair1m-vehicles", load_obb_chips, fair1m_root),
    ):
        try:
            got = load(root)
        except InputError as exc:
            notes.append(f"{name} unavailable ({exc.problem})")
            continue
        chips.update(got)
        notes.append(f"{name} train split: {', '.join(sorted(got))}")
    return chips, "; ".join(notes)


def _palette(rng: np.random.Generator, colours: list[tuple[float, float, float]]) -> np.ndarray:
    c = np.asarray(colours[int(rng.integers(len(colours)))], np.float32)
    return c * np.float32(rng.uniform(0.9, 1.1))


def synthetic_sprite(cls: str, length: float, width: float, rng: np.random.Generator) -> Sprite:
    """Draw a top view of a ``cls`` vehicle of ``length`` x ``width`` metres at 0.1 m/px."""
    w, h = max(8, round(length / _SPRITE_GSD)), max(4, round(width / _SPRITE_GSD))
    u = (np.arange(w, dtype=np.float32) + 0.5) / w  # along the vehicle
    v = (np.arange(h, dtype=np.float32) + 0.5) / h  # across it
    cyl = (0.55 + 0.5 * np.cos((v - 0.5) * np.pi))[:, None, None]  # cylinder shading across
    img = np.ones((h, w, 3), np.float32)
    yellow = [(0.78, 0.62, 0.16), (0.82, 0.50, 0.12), (0.70, 0.66, 0.22)]
    if cls == "rail_car":
        body = _palette(rng, [(0.36, 0.23, 0.17), (0.26, 0.27, 0.26), (0.31, 0.34, 0.25), (0.52, 0.51, 0.48)])
        style = int(rng.integers(3))
        img *= body
        if style == 0:  # box car: roof ribs
            img *= (1.0 + 0.08 * np.sign(np.sin(u * length / 1.1 * np.pi)))[None, :, None]
        elif style == 1:  # open wagon with a darker load
            img[int(0.12 * h) : int(0.88 * h), int(0.04 * w) : int(0.96 * w)] *= 0.55
        else:  # tank wagon
            img *= cyl
        img[:, : max(1, w // 40)] *= 0.5
        img[:, -max(1, w // 40) :] *= 0.5
    elif cls == "locomotive":
        body = _palette(rng, [(0.22, 0.36, 0.26), (0.40, 0.25, 0.18), (0.24, 0.30, 0.42)])
        img *= body
        cab = int(0.18 * w)
        img[:, :cab] *= 1.15
        img[int(0.25 * h) : int(0.75 * h), int(0.35 * w) : int(0.6 * w)] *= 0.45  # radiator grille
        img[int(0.4 * h) : int(0.6 * h), int(0.7 * w) : int(0.74 * w)] *= 0.25  # exhaust
    elif cls == "tanker":
        cab_col = _palette(rng, [(0.55, 0.15, 0.12), (0.20, 0.30, 0.45), (0.85, 0.85, 0.82)])
        tank_col = _palette(rng, [(0.80, 0.80, 0.78), (0.60, 0.62, 0.60), (0.30, 0.38, 0.28)])
        cab = int(0.17 * w)
        img[:, :cab] *= cab_col
        img[:, cab : cab + max(1, w // 30)] *= 0.25
        img[:, cab + max(1, w // 30) :] *= tank_col * cyl
    elif cls == "crane":
        img *= _palette(rng, yellow)
        img[int(0.3 * h) : int(0.7 * h), int(0.05 * w) : int(0.98 * w)] *= 1.12  # folded boom
        img[int(0.3 * h) : int(0.7 * h), :] *= (1.0 - 0.25 * (np.sin(u * length * 2.5) > 0.6))[None, :, None]
        img[: int(0.35 * h), int(0.55 * w) : int(0.75 * w)] *= 0.5  # cabin
    elif cls == "construction_vehicle":
        img *= _palette(rng, yellow)
        if rng.random() < 0.5:  # dump truck: cab, then a darker loaded bed
            img[int(0.08 * h) : int(0.92 * h), int(0.3 * w) : int(0.96 * w)] *= 0.6
        else:  # excavator: house and arm
            img[:, int(0.45 * w) :] *= 0.35
            img[int(0.35 * h) : int(0.65 * h), int(0.45 * w) :] *= 2.4
    else:  # generic vehicle: cab and load area
        img *= _palette(rng, [(0.8, 0.8, 0.78), (0.3, 0.35, 0.5), (0.5, 0.2, 0.15), (0.25, 0.3, 0.25)])
        img[:, int(0.25 * w) : int(0.27 * w)] *= 0.4
    img *= (0.94 + 0.12 * fractal_noise((h, w), rng, cell=max(4.0, h / 2), octaves=3))[..., None]
    return Sprite(np.clip(img, 0, 1), _feathered_alpha(h, w, inset=0.02), synthetic=True)


def sprite_to_gsd(sprite: Sprite, length: float, width: float, gsd: float) -> tuple[np.ndarray, np.ndarray]:
    """Area-resample ``sprite`` to ``length`` x ``width`` metres at ``gsd`` m/px."""
    w, h = max(2, round(length / gsd)), max(1, round(width / gsd))
    interp = cv2.INTER_AREA if w < sprite.rgb.shape[1] else cv2.INTER_LINEAR
    return cv2.resize(sprite.rgb, (w, h), interpolation=interp), cv2.resize(sprite.alpha, (w, h), interpolation=interp)


class VehicleLooks:
    """The sprite of each vehicle: a real chip when its class has them, else a drawn one.

    Drawn sprites are cached by (class, look) so a vehicle looks the same on every date.
    """

    def __init__(self, chips: dict[str, tuple[Sprite, ...]]) -> None:
        self.chips = chips
        self._drawn: dict[tuple[str, int], Sprite] = {}

    def synthetic(self, cls: str) -> bool:
        return not self.chips.get(cls)

    def __call__(self, v: Vehicle) -> Sprite:
        options = self.chips.get(v.cls)
        if options:
            return options[v.look % len(options)]
        key = (v.cls, v.look)
        if key not in self._drawn:
            self._drawn[key] = synthetic_sprite(v.cls, v.length, v.width, np.random.default_rng(v.look))
        return self._drawn[key]
