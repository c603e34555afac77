"""Background jobs of the API server: ingest, detect and analyze, one at a time, with progress.

Jobs run the same library functions as the CLI (:func:`~sitewatch.imagery.ingest.ingest_paths`,
:func:`~sitewatch.detect.pipeline.detect_store`,
:func:`~sitewatch.analytics.pipeline.analyze_store`) on a single worker thread, since each
already uses the CPU fully. Job state lives in this process (it is not persisted); the
runs themselves are recorded in the store by those functions.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import secrets
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sitewatch.errors import InputError, SitewatchError
from sitewatch.store.base import Store

KINDS: tuple[str, ...] = ("ingest", "detect", "analyze")
#: Detectors a client may ask for by name (never a model path on the server).
DETECTORS: tuple[str, ...] = ("default", "simple")


@dataclass
class JobState:
    """Mutable state of one job (only the runner thread writes it; readers take snapshots)."""

    id: str
    kind: str
    user: str
    params: dict[str, Any]
    submitted: dt.datetime
    status: str = "queued"  # queued | running | done | failed
    done: int = 0
    total: int = 0
    label: str = ""
    started: dt.datetime | None = None
    finished: dt.datetime | None = None
    result: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


def summarise(report: object) -> dict[str, Any]:
    """The scalar fields of a pipeline report, with lists and dicts given as their length."""
    if not dataclasses.is_dataclass(report) or isinstance(report, type):
        return {}
    out: dict[str, Any] = {}
    for f in dataclasses.fields(report):
        value = getattr(report, f.name)
        out[f.name] = len(value) if isinstance(value, list | tuple | dict | set) else value
    return out


def resolve_inputs(root: Path | None, paths: Sequence[str]) -> list[Path]:
    """``paths`` (relative to the server's ingest root) as absolute paths inside it.

    Refuses anything that escapes the root (``..``, absolute paths, symlinks out).
    """
    if root is None:
        raise InputError(
            "ingest through the API is off on this server",
            fix="start it with `sitewatch serve --ingest-root DIR`, or run `sitewatch ingest`",
        )
    if not paths:
        raise InputError("no paths to ingest", fix="give files or folders relative to the ingest root")
    base = root.resolve()
    out = []
    for p in paths:
        full = (base / p).resolve()
        if Path(p).is_absolute() or not full.is_relative_to(base):
            raise InputError(f"path {p!r} is outside the ingest root", fix="give a path relative to the ingest root")
        if not full.exists():
            raise InputError(f"path {p!r} does not exist under the ingest root", fix="check the name")
        out.append(full)
    return out


class JobRunner:
    """Runs jobs one after another on a worker thread and keeps their state."""

    def __init__(self, store: Store, on_finished: Callable[[], None] | None = None) -> None:
        self.store, self.on_finished = store, on_finished
        self._jobs: dict[str, JobState] = {}
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sitewatch-job")

    def submit(self, kind: str, user: str, params: dict[str, Any], work: Callable[..., object]) -> JobState:
        """Queue ``work(store, on_progress)``; returns the job's initial state."""
        job = JobState(secrets.token_hex(6), kind, user, params, dt.datetime.now(dt.UTC))
        with self._lock:
            self._jobs[job.id] = job
        self._pool.submit(self._run, job, work)
        return dataclasses.replace(job)

    def get(self, job_id: str) -> JobState | None:
        with self._lock:
            job = self._jobs.get(job_id)
            return dataclasses.replace(job) if job else None

    def list(self) -> list[JobState]:
        with self._lock:
            return [dataclasses.replace(j) for j in sorted(self._jobs.values(), key=lambda j: j.submitted)]

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _run(self, job: JobState, work: Callable[..., object]) -> None:
        def progress(done: int, total: int, label: str) -> None:
            with self._lock:
                job.done, job.total, job.label = done, total, label

        with self._lock:
            job.status, job.started = "running", dt.datetime.now(dt.UTC)
        result: dict[str, Any] = {}
        error: str | None = None
        try:
            report = work(self.store, progress)
        except SitewatchError as exc:
            status, error = "failed", str(exc)
        except Exception as exc:  # a job must end in a state a client can read, whatever broke
            status, error = "failed", f"{type(exc).__name__}: {exc}"
        else:
            status, result = "done", summarise(report)
        if self.on_finished is not None:
            self.on_finished()  # before the job reads as finished, so a client never sees stale results
        with self._lock:
            job.status, job.result, job.error = status, result, error
            job.finished = dt.datetime.now(dt.UTC)


def work_for(
    kind: str, *, site_ids: list[str] | None, detector: str | None, inputs: list[Path]
) -> Callable[[Store, Callable[[int, int, str], None]], object]:
    """The pipeline call a job of ``kind`` makes (imports deferred: they are heavy)."""
    if kind == "ingest":

        def ingest(store: Store, progress: Callable[[int, int, str], None]) -> object:
            from sitewatch.imagery.ingest import ingest_paths

            return ingest_paths(store, inputs, on_progress=progress)

        return ingest
    if kind == "detect":

        def detect(store: Store, progress: Callable[[int, int, str], None]) -> object:
            from sitewatch.detect import load_detector
            from sitewatch.detect.pipeline import detect_store

            spec = None if detector in (None, "default") else detector
            return detect_store(store, load_detector(spec), site_ids=site_ids, on_progress=progress)

        return detect
    if kind == "analyze":

        def analyze(store: Store, progress: Callable[[int, int, str], None]) -> object:
            from sitewatch.analytics.pipeline import analyze_store

            return analyze_store(store, site_ids=site_ids, on_progress=progress)

        return analyze
    raise InputError(f"unknown job kind {kind!r}", fix=f"use one of {', '.join(KINDS)}")
