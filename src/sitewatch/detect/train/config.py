"""Training configuration: a YAML file read into frozen dataclasses (no torch here).

Paths may start with ``shared:`` (the read-only shared data folder, see
:func:`sitewatch.config.shared_dir`); other relative paths are relative to the YAML file.
A user's own labels are one more ``coco`` entry under ``data.train``; no code changes.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from sitewatch.config import shared_dir
from sitewatch.detect import model_path
from sitewatch.errors import InputError, ModelError
from sitewatch.model import CLASSES

SOURCE_KINDS = ("coco", "simulator")
#: Arithmetic an exported graph may use (``TrainConfig.precision``).
PRECISIONS = ("fp32", "int8")


@dataclass(frozen=True)
class SourceConfig:
    """One labelled data source.

    ``gsd`` is the source's metres per pixel, or ``"auto"`` to estimate it per image from the
    median car length. ``class_map`` renames source category names to canonical classes
    (``null`` drops a category). ``weight`` scales how often its images are sampled.
    ``sparse_labels`` says the boxes cover only some of the objects an image shows (``true``
    for every image, or the COCO image ``source`` values for which it holds): such images
    teach background only near their boxes, so unboxed vehicles are not learnt as background.
    """

    kind: str
    annotations: Path | None = None
    images: Path | None = None
    gsd: float | str = "auto"
    class_map: dict[str, str | None] = field(default_factory=dict)
    weight: float = 1.0
    synthetic: bool = False
    sparse_labels: bool | tuple[str, ...] = False
    #: Options passed to the simulator (``kind: simulator``).
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AugmentConfig:
    #: Source GSD range (m/px) simulated before resampling to the model GSD.
    source_gsd: tuple[float, float] = (0.3, 0.8)
    #: Extra relative scale jitter around the model GSD.
    scale_jitter: float = 0.15
    rot90: bool = True
    flips: bool = True
    colour: float = 0.25
    haze: float = 0.35
    blur: float = 0.3
    noise: float = 4.0


@dataclass(frozen=True)
class TrainConfig:
    name: str
    seed: int = 0
    #: The model's working GSD (m/px); tiles are resampled to it at inference.
    gsd: float = 0.4
    #: Classes the model outputs; ``None``: every canonical class present in the data.
    classes: tuple[str, ...] | None = None
    widths: tuple[int, int, int, int] = (16, 32, 64, 128)
    crop: int = 256
    batch: int = 16
    steps: int = 4000
    #: Wall-clock budget in minutes; training stops (and exports) when it runs out.
    minutes: float | None = None
    lr: float = 2e-3
    weight_decay: float = 1e-4
    val_every: int = 500
    threads: int = 2
    train: tuple[SourceConfig, ...] = ()
    val: tuple[SourceConfig, ...] = ()
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    #: Weights to start from, e.g. to fine-tune with a new data source: a training
    #: checkpoint (``.pt``), an exported model (``.onnx``), or ``default`` (the committed model).
    init: Path | None = None
    #: Where checkpoints and logs go.
    out_dir: Path = Path("runs/detector")
    #: Where the ONNX model, its metadata and card are written (``None``: ``out_dir``).
    export_dir: Path | None = None
    #: Arithmetic of the exported graph: ``fp32``, or ``int8`` (post-training quantization,
    #: about twice as fast on CPU; its metrics are measured on the int8 graph).
    precision: str = "fp32"
    #: Text for the model card: how the run was started, and free notes.
    command: str = ""
    notes: str = ""


def _resolve(value: str | None, base: Path) -> Path | None:
    if value is None:
        return None
    if value.startswith("shared:"):
        return shared_dir() / value.removeprefix("shared:").lstrip("/")
    path = Path(value).expanduser()
    return path if path.is_absolute() else (base / path).resolve()


def _source(raw: dict[str, Any], base: Path, where: Path) -> SourceConfig:
    kind = raw.get("kind", "coco")
    if kind not in SOURCE_KINDS:
        raise InputError(f"unknown data source kind {kind!r}", path=where, fix=f"use one of {', '.join(SOURCE_KINDS)}")
    if kind == "coco" and not raw.get("annotations"):
        raise InputError("a coco source needs 'annotations'", path=where, fix="give the COCO JSON path")
    class_map = dict(raw.get("class_map") or {})
    for target in class_map.values():
        if target is not None and target not in CLASSES:
            raise InputError(
                f"class_map maps to unknown class {target!r}", path=where, fix=f"use one of {', '.join(CLASSES)}"
            )
    annotations = _resolve(raw.get("annotations"), base)
    images = _resolve(raw.get("images"), base)
    if kind == "coco" and images is None and annotations is not None:
        images = annotations.with_suffix("")  # train.json -> train/
    gsd = raw.get("gsd", "auto")
    if gsd != "auto" and not (isinstance(gsd, int | float) and gsd > 0):
        raise InputError(f"bad gsd {gsd!r}", path=where, fix="give metres per pixel (> 0) or 'auto'")
    sparse = raw.get("sparse_labels", False)
    if not (isinstance(sparse, bool) or (isinstance(sparse, list) and all(isinstance(v, str) for v in sparse))):
        raise InputError(
            f"bad sparse_labels {sparse!r}", path=where, fix="give true, false or a list of image 'source' values"
        )
    return SourceConfig(
        kind=kind,
        annotations=annotations,
        images=images,
        gsd=float(gsd) if gsd != "auto" else "auto",
        class_map=class_map,
        weight=float(raw.get("weight", 1.0)),
        synthetic=bool(raw.get("synthetic", kind == "simulator")),
        sparse_labels=sparse if isinstance(sparse, bool) else tuple(sparse),
        options=_options(raw.get("options") or {}, base),
    )


def _options(options: dict[str, Any], base: Path) -> dict[str, Any]:
    out = dict(options)
    if "out_dir" in out:
        out["out_dir"] = _resolve(str(out["out_dir"]), base)
    if "classes" in out:
        out["classes"] = list(out["classes"])
    return out


def load_config(path: str | Path, **overrides: Any) -> TrainConfig:
    """Read a training config YAML; ``overrides`` replace top-level keys (e.g. ``steps``)."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError as exc:
        raise InputError(
            "config file not found", path=path, fix="give a YAML file, e.g. configs/detector.yaml"
        ) from exc
    except yaml.YAMLError as exc:
        raise InputError(f"invalid YAML ({exc})", path=path, fix="fix the syntax") from exc
    if not isinstance(raw, dict) or "name" not in raw:
        raise InputError("config must be a mapping with at least 'name'", path=path, fix="see configs/detector.yaml")
    raw.update({k: v for k, v in overrides.items() if v is not None})
    base = path.resolve().parent
    known = {f.name for f in fields(TrainConfig)}
    unknown = set(raw) - known
    if unknown:
        raise InputError(f"unknown config keys: {', '.join(sorted(unknown))}", path=path, fix=f"use {sorted(known)}")
    classes = raw.get("classes")
    if classes is not None:
        bad = [c for c in classes if c not in CLASSES]
        if bad:
            raise InputError(f"unknown classes {bad}", path=path, fix=f"use classes from {', '.join(CLASSES)}")
        # Keep the canonical order whatever order the file lists them in.
        raw["classes"] = tuple(c for c in CLASSES if c in classes)
    if raw.get("precision", "fp32") not in PRECISIONS:
        fix = f"use one of {', '.join(PRECISIONS)}"
        raise InputError(f"unknown precision {raw['precision']!r}", path=path, fix=fix)
    raw["train"] = tuple(_source(s, base, path) for s in raw.get("train") or ())
    raw["val"] = tuple(_source(s, base, path) for s in raw.get("val") or ())
    if not raw["train"]:
        raise InputError("no training data sources", path=path, fix="list at least one source under 'train'")
    aug = dict(raw.get("augment") or {})
    if "source_gsd" in aug:
        aug["source_gsd"] = tuple(aug["source_gsd"])
    raw["augment"] = AugmentConfig(**aug)
    raw["widths"] = tuple(raw.get("widths", TrainConfig.widths))
    raw["out_dir"] = _resolve(str(raw.get("out_dir", "runs/detector")), base)
    if raw.get("init") is not None:
        init = str(raw["init"])
        fix = "give a .pt checkpoint of `sitewatch train`, an exported .onnx model, or a bundled model's name"
        if Path(init).suffix in (".pt", ".onnx"):
            raw["init"] = _resolve(init, base)
        elif "/" in init or "." in Path(init).name:
            raise InputError(f"init {init!r} is neither a checkpoint nor a model", path=path, fix=fix)
        else:  # "default" or a bundled model's name
            try:
                raw["init"] = model_path(init)
            except ModelError as exc:
                raise InputError(f"init {init!r}: {exc.problem}", path=path, fix=fix) from exc
    if raw.get("export_dir") is not None:
        raw["export_dir"] = _resolve(str(raw["export_dir"]), base)
    return TrainConfig(**raw)
