"""The repository interface every store back end implements.

Stages talk only to :class:`Store`; SQLite (default) and PostGIS are back ends behind it,
chosen by URL. Writes that replace a set (detections of a scene, counts of a site) are
atomic: a crash leaves the old set or the new one, never half of either.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from sitewatch.model import Alert, Baseline, Count, Detection, Event, Scene, Site


@dataclass(frozen=True)
class RunRecord:
    """Provenance of one processing run (what ran, on what, with which model, when)."""

    id: str
    kind: str  # "ingest" | "detect" | "analyze" | ...
    started: dt.datetime
    finished: dt.datetime | None
    params: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)


@runtime_checkable
class Store(Protocol):
    """Persistence for sites, scenes, detections, counts, events, alerts and runs."""

    url: str

    # -- sites ---------------------------------------------------------------
    def upsert_site(self, site: Site) -> None: ...
    def get_site(self, site_id: str) -> Site: ...  # raises NotFoundError
    def list_sites(self) -> list[Site]: ...

    # -- scenes --------------------------------------------------------------
    def add_scene(self, scene: Scene, site_ids: Sequence[str]) -> bool:
        """Store a scene linked to the sites it covers; False if its content hash is known."""
        ...

    def get_scene(self, scene_id: str) -> Scene: ...
    def list_scenes(
        self, site_id: str | None = None, start: dt.datetime | None = None, end: dt.datetime | None = None
    ) -> list[Scene]: ...

    # -- detections ----------------------------------------------------------
    def replace_detections(self, scene_id: str, detector: str, detections: Iterable[Detection]) -> int:
        """Atomically replace the detections of ``scene_id`` made by ``detector``."""
        ...

    def list_detections(
        self,
        *,
        scene_id: str | None = None,
        site_id: str | None = None,
        classes: Sequence[str] | None = None,
        start: dt.datetime | None = None,
        end: dt.datetime | None = None,
        detector: str | None = None,
    ) -> list[Detection]: ...

    def detected_scene_ids(self, detector: str) -> set[str]:
        """Scenes that already have a completed detection run by ``detector`` (for resuming)."""
        ...

    # -- counts --------------------------------------------------------------
    def replace_counts(self, site_id: str, counts: Iterable[Count]) -> int: ...
    def list_counts(self, site_id: str, zone_id: str | None = None, cls: str | None = None) -> list[Count]: ...
    def replace_baselines(self, site_id: str, baselines: Iterable[Baseline]) -> int: ...
    def list_baselines(self, site_id: str, zone_id: str | None = None, cls: str | None = None) -> list[Baseline]: ...

    # -- events --------------------------------------------------------------
    def upsert_events(self, events: Iterable[Event]) -> int: ...
    def list_events(self, site_id: str | None = None) -> list[Event]: ...

    # -- alerts --------------------------------------------------------------
    def replace_alerts(self, site_id: str, alerts: Iterable[Alert]) -> int: ...
    def list_alerts(self, site_id: str | None = None) -> list[Alert]: ...
    def get_alert(self, alert_id: str) -> Alert: ...

    # -- provenance ----------------------------------------------------------
    def record_run(self, run: RunRecord) -> None: ...
    def list_runs(self, kind: str | None = None) -> list[RunRecord]: ...

    def close(self) -> None: ...
    def __enter__(self) -> Store: ...  # ``with open_store(url) as store:`` closes it on the way out
    def __exit__(self, *exc: object) -> None: ...
