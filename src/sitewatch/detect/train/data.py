"""Training data: labelled images in memory, GSD-aware augmentation and CenterNet targets.

Pure numpy/OpenCV (no torch) so it can be tested and reused cheaply. Every sample is
made at the model's working GSD: a crop is first degraded to a source GSD drawn from
the product range (0.3-0.8 m) and then resampled to the model GSD, which is what the
inference slicer does to real scenes.
"""

from __future__ import annotations

import json
import logging
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from sitewatch.detect.boxes import coco_boxes
from sitewatch.detect.train.config import AugmentConfig, SourceConfig
from sitewatch.errors import InputError
from sitewatch.model import CLASSES

log = logging.getLogger(__name__)

#: Output stride of the detector heads.
STRIDE = 4
#: Typical car length (m) used to estimate an image's GSD from its car boxes.
CAR_LENGTH_M = 4.6
#: Images finer than this are stored downsampled (nothing trains finer than 0.3 m).
STORE_GSD = 0.2
#: Around a box of a sparsely labelled image, background is taught this many box sizes out
#: (small: in a car park the next, unboxed car is about one car width away).
SPARSE_MARGIN = 0.5


@dataclass(frozen=True)
class LabelledImage:
    """An RGB image with boxes (x0, y0, x1, y1 px) and class indices into ``CLASSES``."""

    name: str
    image: np.ndarray
    boxes: np.ndarray
    labels: np.ndarray
    gsd: float
    synthetic: bool = False
    #: Its boxes cover only some of the objects it shows (see ``SourceConfig.sparse_labels``).
    sparse: bool = False


def estimate_gsd(boxes: np.ndarray, labels: np.ndarray, min_cars: int = 3) -> float | None:
    """Metres per pixel from the median long side of car boxes, or None with too few cars.

    The long side of an axis-aligned car box barely changes with heading (4.5 m aligned,
    ~4.45 m at 45 degrees), so it is a usable ruler.
    """
    cars = boxes[labels == CLASSES.index("car")]
    if len(cars) < min_cars:
        return None
    long_side = np.maximum(cars[:, 2] - cars[:, 0], cars[:, 3] - cars[:, 1])
    return CAR_LENGTH_M / float(np.median(long_side))


def fill_gsds(gsds: Sequence[float | None]) -> list[float | None]:
    """Unknown GSDs (images with too few car boxes to measure) set to the median of the known.

    A data set's images mostly share a sensor; the model's GSD as a default can be 4x off:
    sparsely boxed 0.1 m crops read as 0.4 m hid their trucks (truck AP50 0.34 measured as 0).
    All stay None when none is known.
    """
    known = [g for g in gsds if g]
    fallback = float(np.median(known)) if known else None
    return [g or fallback for g in gsds]


def _category_map(categories: Sequence[dict], class_map: dict[str, str | None]) -> dict[int, int]:
    out: dict[int, int] = {}
    for cat in categories:
        name = class_map.get(cat["name"], cat["name"])
        if name in CLASSES:
            out[int(cat["id"])] = CLASSES.index(name)
        else:
            log.warning("category %r is not a sitewatch class; its boxes are ignored", cat["name"])
    return out


def load_coco(source: SourceConfig) -> list[LabelledImage]:
    """Read a COCO detection file and its images (RGB), downsampled to :data:`STORE_GSD`."""
    assert source.annotations is not None and source.images is not None
    try:
        coco = json.loads(Path(source.annotations).read_text())
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read COCO file ({exc})", path=source.annotations, fix="give a COCO JSON") from exc
    cats = _category_map(coco.get("categories", []), source.class_map)
    by_image: dict[int, list[dict]] = {}
    for ann in coco.get("annotations", []):
        if ann.get("category_id") in cats and not ann.get("iscrowd", 0):
            by_image.setdefault(int(ann["image_id"]), []).append(ann)
    records = []
    for info in coco.get("images", []):
        anns = by_image.get(int(info["id"]), [])
        boxes = coco_boxes(anns)
        labels = np.array([cats[a["category_id"]] for a in anns], dtype=np.int64)
        gsd = source.gsd if isinstance(source.gsd, float) else (info.get("gsd") or estimate_gsd(boxes, labels))
        records.append((info, boxes, labels, gsd))
    out = []
    gsds = fill_gsds([g for *_, g in records])
    for (info, boxes, labels, _), gsd in zip(records, gsds, strict=True):
        if gsd is None:
            raise InputError(
                "cannot estimate the GSD (no car boxes)", path=source.annotations, fix="set 'gsd' for this source"
            )
        path = Path(source.images) / info["file_name"]
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if bgr is None:
            log.warning("%s: unreadable image skipped", path)
            continue
        image = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        if gsd < STORE_GSD:
            f = gsd / STORE_GSD
            image = cv2.resize(image, None, fx=f, fy=f, interpolation=cv2.INTER_AREA)
            boxes, gsd = boxes * f, STORE_GSD
        sparse = source.sparse_labels is True or (
            isinstance(source.sparse_labels, tuple) and info.get("source") in source.sparse_labels
        )
        out.append(LabelledImage(str(path), image, boxes, labels, float(gsd), source.synthetic, sparse))
    log.info("%s: %d images, %d boxes", source.annotations, len(out), sum(len(r.labels) for r in out))
    return out


def class_counts(images: Sequence[LabelledImage]) -> Counter[int]:
    return Counter(int(c) for im in images for c in im.labels)


def sampling_weights(images: Sequence[LabelledImage], source_weights: Sequence[float], crop_m: float) -> np.ndarray:
    """Probability of drawing each image: by ground area (crops it holds) and class rarity.

    An image holding a rare class is drawn up to sqrt(n_common / n_rare) times more often,
    which with the focal loss keeps trucks, buses and construction vehicles from being
    drowned by cars.
    """
    counts = class_counts(images)
    top = max(counts.values(), default=1)
    w = np.empty(len(images))
    for i, (im, sw) in enumerate(zip(images, source_weights, strict=True)):
        area = im.image.shape[0] * im.image.shape[1] * im.gsd**2 / crop_m**2
        rarity = max((math.sqrt(top / counts[int(c)]) for c in set(im.labels.tolist())), default=1.0)
        w[i] = sw * max(area, 1.0) * rarity
    return w / w.sum()


def _crop_window(im: LabelledImage, size_src: float, rng: np.random.Generator) -> tuple[float, float]:
    h, w = im.image.shape[:2]
    if len(im.boxes) and rng.random() < 0.6:
        # Centre near a random object so rare classes are actually seen.
        b = im.boxes[rng.integers(len(im.boxes))]
        cx, cy = (b[0] + b[2]) / 2, (b[1] + b[3]) / 2
        x0 = cx - size_src * rng.uniform(0.15, 0.85)
        y0 = cy - size_src * rng.uniform(0.15, 0.85)
    else:
        x0 = rng.uniform(min(0.0, w - size_src), max(0.0, w - size_src))
        y0 = rng.uniform(min(0.0, h - size_src), max(0.0, h - size_src))
    return x0, y0


def _cut(image: np.ndarray, x0: int, y0: int, size: int) -> np.ndarray:
    """``size`` x ``size`` pixels from (x0, y0), zero-padded where it leaves the image."""
    h, w = image.shape[:2]
    out = np.zeros((size, size, 3), dtype=np.uint8)
    sx0, sy0, sx1, sy1 = max(x0, 0), max(y0, 0), min(x0 + size, w), min(y0 + size, h)
    if sx1 > sx0 and sy1 > sy0:
        out[sy0 - y0 : sy1 - y0, sx0 - x0 : sx1 - x0] = image[sy0:sy1, sx0:sx1]
    return out


def sample_crop(
    im: LabelledImage,
    rng: np.random.Generator,
    *,
    crop: int,
    model_gsd: float,
    aug: AugmentConfig | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One ``crop`` x ``crop`` training crop at ``model_gsd`` with its boxes and labels.

    With ``aug=None`` the crop is only resampled (no degradation, no jitter).
    """
    if aug is None:
        src_gsd, out_gsd = im.gsd, model_gsd
    else:
        lo, hi = aug.source_gsd
        # Log-uniform source GSD; sources coarser than the range keep their own.
        src_gsd = max(im.gsd, math.exp(rng.uniform(math.log(lo), math.log(hi))))
        j = aug.scale_jitter
        out_gsd = model_gsd * math.exp(rng.uniform(math.log(1 - j), math.log(1 + j)))
    size_src = crop * out_gsd / im.gsd
    fx0, fy0 = _crop_window(im, size_src, rng)
    x0, y0, n = math.floor(fx0), math.floor(fy0), math.ceil(size_src)
    patch = _cut(im.image, x0, y0, n)
    if src_gsd > im.gsd * 1.05:
        small = max(2, round(n * im.gsd / src_gsd))
        patch = cv2.resize(patch, (small, small), interpolation=cv2.INTER_AREA)
    interp = cv2.INTER_AREA if patch.shape[0] > crop else cv2.INTER_LINEAR
    patch = cv2.resize(patch, (crop, crop), interpolation=interp)
    scale = crop / n
    boxes = (im.boxes - np.array([x0, y0, x0, y0], dtype=np.float32)) * scale
    boxes, labels = _keep_owned(boxes, im.labels, crop)
    if aug is not None:
        patch, boxes = _geometric(patch, boxes, rng, aug)
        patch = _photometric(patch, rng, aug)
    return patch, boxes, labels


def _keep_owned(boxes: np.ndarray, labels: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    # Same rule as the inference slicer: a crop owns the objects whose centre it holds.
    cx, cy = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2
    keep = (cx >= 0) & (cx < size) & (cy >= 0) & (cy < size)
    boxes = np.clip(boxes[keep], 0, size)
    ok = ((boxes[:, 2] - boxes[:, 0]) >= 1) & ((boxes[:, 3] - boxes[:, 1]) >= 1)
    return boxes[ok], labels[keep][ok]


def _geometric(
    patch: np.ndarray, boxes: np.ndarray, rng: np.random.Generator, aug: AugmentConfig
) -> tuple[np.ndarray, np.ndarray]:
    size = patch.shape[0]
    if aug.flips and rng.random() < 0.5:
        patch = patch[:, ::-1]
        boxes = np.stack([size - boxes[:, 2], boxes[:, 1], size - boxes[:, 0], boxes[:, 3]], axis=1)
    if aug.rot90:
        for _ in range(int(rng.integers(4))):
            # Counter-clockwise quarter turn: (x, y) -> (y, size - x).
            patch = np.rot90(patch)
            boxes = np.stack([boxes[:, 1], size - boxes[:, 2], boxes[:, 3], size - boxes[:, 0]], axis=1)
    return np.ascontiguousarray(patch), boxes.astype(np.float32).reshape(-1, 4)


def _photometric(patch: np.ndarray, rng: np.random.Generator, aug: AugmentConfig) -> np.ndarray:
    img: np.ndarray = patch.astype(np.float32)
    if aug.colour > 0:
        gain = 1 + rng.uniform(-aug.colour, aug.colour, size=3) * 0.5
        contrast = 1 + rng.uniform(-aug.colour, aug.colour)
        mean = img.mean()
        img = (img - mean) * contrast + mean * (1 + rng.uniform(-aug.colour, aug.colour))
        img *= gain
    if aug.haze > 0 and rng.random() < 0.4:
        a = rng.uniform(0.05, aug.haze)
        img = img * (1 - a) + a * rng.uniform(170, 250)
    if aug.blur > 0 and rng.random() < aug.blur:
        img = cv2.GaussianBlur(img, (0, 0), sigmaX=rng.uniform(0.3, 1.2))
    if aug.noise > 0:
        img += rng.normal(0, rng.uniform(0, aug.noise), size=img.shape).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)


def encode_targets(
    boxes: np.ndarray, labels: np.ndarray, class_index: Sequence[int], size: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CenterNet targets at stride :data:`STRIDE`.

    Returns the class heatmap (C, S, S) with an elliptical Gaussian per object, the
    regression target (4, S, S) = (dx, dy, log w, log h) in output cells, and the mask of
    cells holding an object centre. ``class_index`` maps canonical class index -> channel.
    """
    s = size // STRIDE
    lookup = {c: i for i, c in enumerate(class_index)}
    heat = np.zeros((len(class_index), s, s), dtype=np.float32)
    reg = np.zeros((4, s, s), dtype=np.float32)
    mask = np.zeros((s, s), dtype=np.float32)
    ys, xs = np.mgrid[0:s, 0:s].astype(np.float32)
    for (x0, y0, x1, y1), c in zip(boxes / STRIDE, labels, strict=True):
        ch = lookup.get(int(c))
        if ch is None:
            continue
        w, h = max(x1 - x0, 0.25), max(y1 - y0, 0.25)
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        ix, iy = min(int(cx), s - 1), min(int(cy), s - 1)
        # TTFNet-style ellipse (alpha 0.54) with a floor so tiny cars still get a blob.
        sx, sy = max(0.54 * w / 6, 0.4), max(0.54 * h / 6, 0.4)
        r = math.ceil(3 * max(sx, sy))
        ya, yb, xa, xb = max(iy - r, 0), min(iy + r + 1, s), max(ix - r, 0), min(ix + r + 1, s)
        g = np.exp(-((xs[ya:yb, xa:xb] - ix) ** 2) / (2 * sx**2) - ((ys[ya:yb, xa:xb] - iy) ** 2) / (2 * sy**2))
        np.maximum(heat[ch, ya:yb, xa:xb], g, out=heat[ch, ya:yb, xa:xb])
        heat[ch, iy, ix] = 1.0
        reg[:, iy, ix] = (cx - ix, cy - iy, math.log(w), math.log(h))
        mask[iy, ix] = 1.0
    return heat, reg, mask


def background_weight(boxes: np.ndarray, size: int, sparse: bool) -> np.ndarray:
    """Weight (S, S) of each output cell's background loss for a crop of ``size`` px.

    1 everywhere; but where the labels are sparse, only within :data:`SPARSE_MARGIN` box
    sizes (at least a cell) of a box: anywhere else an unboxed vehicle may stand.
    """
    s = size // STRIDE
    if not sparse:
        return np.ones((s, s), dtype=np.float32)
    weight = np.zeros((s, s), dtype=np.float32)
    for x0, y0, x1, y1 in boxes / STRIDE:
        mx, my = max((x1 - x0) * SPARSE_MARGIN, 1.0), max((y1 - y0) * SPARSE_MARGIN, 1.0)
        xa, xb = max(math.floor(x0 - mx), 0), min(math.ceil(x1 + mx), s)
        ya, yb = max(math.floor(y0 - my), 0), min(math.ceil(y1 + my), s)
        weight[ya:yb, xa:xb] = 1.0
    return weight
