"""The evidence bundle: everything a site report rests on, as one JSON document.

:func:`collect` gathers it from a store (the only store access besides detections in
:mod:`.html`); :func:`to_json` / :func:`from_json` convert it losslessly, so a bundle can be
re-read into the same domain objects. Geometries are GeoJSON, times ISO 8601, and
non-finite numbers the strings ``"Infinity"``/``"NaN"`` (strict JSON has neither).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import shapely.geometry
from shapely.geometry.base import BaseGeometry

from sitewatch import __version__
from sitewatch.analytics.pipeline import choose_detector
from sitewatch.errors import InputError
from sitewatch.model import Alert, Baseline, Count, Event, Scene, Site
from sitewatch.store.base import RunRecord, Store

#: Version of the bundle layout (bump on incompatible changes).
BUNDLE_FORMAT = 1


@dataclass(frozen=True)
class EvidenceBundle:
    """A site with its scenes, counts and their baselines, alerts, events and processing runs."""

    site: Site
    scenes: tuple[Scene, ...]
    counts: tuple[Count, ...]
    alerts: tuple[Alert, ...]
    events: tuple[Event, ...]
    runs: tuple[RunRecord, ...]
    detectors: tuple[str, ...]  # name@version of every detector with detections at the site
    detector: str | None  # the one the counts are made from (analytics.pipeline.choose_detector)
    generated: dt.datetime
    baselines: tuple[Baseline, ...] = ()  # the bands the counts were judged against (none in older bundles)

    @property
    def simulated(self) -> bool:
        """True when the site, any scene or any event is simulated."""
        return self.site.simulated or any(s.simulated for s in self.scenes) or any(e.simulated for e in self.events)


def collect(store: Store, site_id: str, *, generated: dt.datetime | None = None) -> EvidenceBundle:
    """Read the evidence for ``site_id`` from ``store``, sorted by time.

    Raises :class:`~sitewatch.errors.NotFoundError` when the site is not in the store.
    """
    site = store.get_site(site_id)
    detections = store.list_detections(site_id=site_id)
    return EvidenceBundle(
        site=site,
        scenes=tuple(sorted(store.list_scenes(site_id), key=lambda s: (s.acquired, s.id))),
        counts=tuple(sorted(store.list_counts(site_id), key=lambda c: (c.date, c.zone_id, c.cls, c.scene_id))),
        alerts=tuple(sorted(store.list_alerts(site_id), key=lambda a: (a.start, a.id))),
        events=tuple(sorted(store.list_events(site_id), key=lambda e: (e.date, e.id))),
        runs=tuple(sorted(store.list_runs(), key=lambda r: (r.started, r.id))),
        detectors=tuple(sorted({d.detector for d in detections})),
        detector=choose_detector(detections),
        generated=generated or dt.datetime.now(dt.UTC),
        baselines=tuple(store.list_baselines(site_id)),
    )


def to_json(bundle: EvidenceBundle) -> dict[str, Any]:
    """A JSON-ready dict of ``bundle`` with a top-level ``"simulated"`` flag."""
    doc = {"sitewatch_bundle": BUNDLE_FORMAT, "sitewatch_version": __version__, "simulated": bundle.simulated}
    doc.update(_encode(bundle))
    return doc


def from_json(doc: dict[str, Any], *, path: str | Path | None = None) -> EvidenceBundle:
    """The bundle encoded in ``doc`` (as made by :func:`to_json`)."""
    if doc.get("sitewatch_bundle") != BUNDLE_FORMAT:
        raise InputError(
            f"not a sitewatch evidence bundle of format {BUNDLE_FORMAT} (sitewatch_bundle="
            f"{doc.get('sitewatch_bundle')!r})",
            path=path,
            fix="give a file written by `sitewatch report --bundle`",
        )
    try:
        return typing.cast(EvidenceBundle, _decode(doc, EvidenceBundle))
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(
            f"malformed evidence bundle ({exc})", path=path, fix="re-create it with `sitewatch report --bundle`"
        ) from exc


def write_bundle(bundle: EvidenceBundle, out_path: str | Path) -> Path:
    """Write ``bundle`` as indented JSON to ``out_path`` (parents created)."""
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(to_json(bundle), indent=1, ensure_ascii=False, allow_nan=False) + "\n", encoding="utf-8")
    return out


def read_bundle(path: str | Path) -> EvidenceBundle:
    """Read a bundle written by :func:`write_bundle`."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(f"cannot read evidence bundle ({exc})", path=path, fix="check the path") from exc
    return from_json(doc, path=path)


# -- codec: frozen dataclasses <-> JSON, driven by their type hints -------------------


def _encode(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, BaseGeometry):
        return shapely.geometry.mapping(value)
    if isinstance(value, float) and not math.isfinite(value):
        # Strict JSON has no Infinity/NaN (an unseen zone's upper bound is infinite); float() reads these back.
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dt.date):  # datetime too
        return value.isoformat()
    if isinstance(value, tuple | list):
        return [_encode(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _encode(v) for k, v in value.items()}
    return value


def _decode(value: Any, hint: Any) -> Any:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(hint)
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _decode(value, inner)
    if origin is tuple:
        (inner, *_) = typing.get_args(hint)
        return tuple(_decode(v, inner) for v in value)
    if origin is dict or hint is Any:
        return value
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        hints = typing.get_type_hints(hint)
        names = {f.name for f in dataclasses.fields(hint) if f.init}
        return hint(**{k: _decode(v, hints[k]) for k, v in value.items() if k in names})
    if hint is BaseGeometry:
        return shapely.geometry.shape(value)
    if hint is dt.datetime:
        return dt.datetime.fromisoformat(value)
    if hint is dt.date:
        return dt.date.fromisoformat(value)
    if hint is float:
        return float(value)
    return value
