"""Ingest, detect and analyze on a Dask cluster: one task per file, per scene, per site.

The driver lists the work from the store, submits it, and feeds ``on_progress`` from
``as_completed`` exactly like the local pipeline functions; the tasks write their own
results (see :mod:`.tasks`). If a worker dies, Dask re-runs its tasks elsewhere and the
idempotent writes make the result the same as a clean run. If the whole cluster goes
away, what finished is in the store and re-running the same command resumes.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import CancelledError
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sitewatch.distributed.tasks import TaskResult, analyze_site, detect_one_scene, ingest_file
from sitewatch.errors import ClusterError, InputError
from sitewatch.store.base import RunRecord
from sitewatch.store.sql import SqlStore

if TYPE_CHECKING:
    from distributed import Client, Future

STEPS: tuple[str, ...] = ("ingest", "detect", "analyze")
ProgressFn = Callable[[int, int, str], None]


@dataclass
class StepReport:
    """What one step did on the cluster; ``failed``/``skipped`` hold ``(key, message)``."""

    step: str
    tasks: int = 0
    done: int = 0
    items: int = 0  # scenes added, detections written, counts computed
    duplicates: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0

    def add(self, result: TaskResult) -> None:
        if result.status == "done":
            self.done += 1
            self.items += result.n
        elif result.status == "duplicate":
            self.duplicates += 1
        elif result.status == "skipped":
            self.skipped.append((result.key, result.message))
        else:
            self.failed.append((result.key, result.message))


#: Dask's nanny sets ``MALLOC_TRIM_THRESHOLD_=65536`` in its workers, which turns off glibc's
#: adaptive mmap threshold: every array above 128 kB (image tiles, batches) is then a fresh
#: mmap, page-faulted in and unmapped again. Measured per detected scene: 160x the page
#: faults and +31 % CPU. Workers keep glibc's defaults instead, like a local run.
WORKER_ENVIRON = {"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}

#: Dask's periodic housekeeping, set for batch runs without a dashboard: the workers' statistical
#: profiler (for the dashboard) samples every thread's stack 100 times a second, taking the
#: GIL from the tile reader; the event-loop tick (20 ms), system monitor (500 ms) and memory
#: monitor (100 ms) run at 1 s, 5 s and 1 s. An idle 2-worker LocalCluster measured 0.16
#: cores busy with Dask's defaults, 0.02 with these.
CLUSTER_CONFIG: dict[str, object] = {
    **WORKER_ENVIRON,
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "1s",
    "distributed.admin.system-monitor.interval": "5s",
    "distributed.worker.memory.monitor-interval": "1s",
}


def parse_steps(text: str) -> tuple[str, ...]:
    """``"ingest,detect"`` -> ordered, validated step names."""
    wanted = [s.strip() for s in text.split(",") if s.strip()]
    unknown = sorted(set(wanted) - set(STEPS))
    if unknown or not wanted:
        raise InputError(f"unknown step(s) {', '.join(unknown) or '(none)'}", fix=f"use some of {','.join(STEPS)}")
    return tuple(s for s in STEPS if s in wanted)


@contextlib.contextmanager
def dask_client(*, workers: int | None = None, scheduler: str | None = None, timeout: float = 10.0) -> Iterator[Client]:
    """A client on ``scheduler`` (``tcp://host:port``) or on a new LocalCluster of ``workers`` processes."""
    import dask

    from distributed import Client, LocalCluster

    if scheduler:
        try:
            client = Client(scheduler, timeout=timeout)
        except (OSError, TimeoutError) as exc:
            raise ClusterError(
                f"cannot reach the Dask scheduler ({type(exc).__name__}: {exc})",
                path=scheduler,
                fix="start it (`dask scheduler`, then `dask worker ADDRESS`) or drop --scheduler for a local cluster",
            ) from exc
        with client:
            yield client
        return
    n = workers or os.cpu_count() or 1
    # One thread per process: GDAL and ONNX Runtime scale by processes, and a killed
    # process then takes only its own task with it.
    with (
        dask.config.set(CLUSTER_CONFIG),
        LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None) as cluster,
        Client(cluster) as client,
    ):
        yield client


def run_steps(
    client: Client,
    db_url: str,
    steps: Sequence[str],
    paths: Sequence[str | Path] = (),
    *,
    site_ids: Sequence[str] | None = None,
    detector: str | None = None,
    rerun: bool = False,
    on_progress: ProgressFn | None = None,
) -> list[StepReport]:
    """Run ``steps`` (in pipeline order) on ``client``'s cluster over the store at ``db_url``."""
    from sitewatch.store import open_store

    db_url = _absolute_sqlite(db_url)
    reports: list[StepReport] = []
    with open_store(db_url) as store:
        run = RunRecord(
            f"cluster-{uuid.uuid4().hex[:12]}",
            "cluster",
            _now(),
            None,
            {"steps": list(steps), "workers": len(client.scheduler_info().get("workers", {})), "detector": detector},
        )
        store.record_run(run)
        for step in parse_steps(",".join(steps)):
            started = time.perf_counter()
            futures = _submit(client, store, db_url, step, paths, site_ids, detector, rerun)
            report = _gather(step, futures, on_progress)
            report.seconds = time.perf_counter() - started
            reports.append(report)
        summary = {r.step: {"done": r.done, "items": r.items, "failed": len(r.failed)} for r in reports}
        store.record_run(RunRecord(run.id, run.kind, run.started, _now(), {**run.params, "results": summary}))
    return reports


def _submit(
    client: Client,
    store: SqlStore,
    db_url: str,
    step: str,
    paths: Sequence[str | Path],
    site_ids: Sequence[str] | None,
    detector: str | None,
    rerun: bool,
) -> dict[Future, str]:
    token = uuid.uuid4().hex[:8]
    if step == "ingest":
        from sitewatch.imagery.ingest import iter_images

        files = [str(f.resolve()) for p in map(Path, paths) for f in (iter_images(p) if p.is_dir() else [p])]
        # Known hashes go to every worker once, so re-scanning an archive reads no pixels.
        hashes = frozenset(s.content_hash for s in store.list_scenes())
        (known,) = client.scatter([hashes], broadcast=True)  # a list: scatter the set as one object
        return {client.submit(ingest_file, db_url, f, known, key=f"ingest-{token}-{i}"): f for i, f in enumerate(files)}
    sites = [store.get_site(s) for s in site_ids] if site_ids else store.list_sites()
    if step == "detect":
        from sitewatch.distributed.tasks import worker_detector

        name = worker_detector(detector).name  # the name decides which scenes are already done
        done = set() if rerun else store.detected_scene_ids(name)
        scene_sites: dict[str, list[str]] = {}
        for site in sites:
            for scene in store.list_scenes(site.id):
                if scene.id not in done:
                    scene_sites.setdefault(scene.id, []).append(site.id)
        return {
            client.submit(detect_one_scene, db_url, sid, ids, detector, key=f"detect-{token}-{sid}"): sid
            for sid, ids in scene_sites.items()
        }
    return {client.submit(analyze_site, db_url, s.id, key=f"analyze-{token}-{s.id}"): s.id for s in sites}


def _gather(step: str, futures: dict[Future, str], on_progress: ProgressFn | None) -> StepReport:
    from distributed import as_completed

    report = StepReport(step, tasks=len(futures))
    if on_progress:
        on_progress(0, len(futures), step)
    try:
        for i, future in enumerate(as_completed(futures), start=1):
            result: TaskResult = future.result()
            report.add(result)
            if on_progress:
                on_progress(i, len(futures), f"{step} {Path(futures[future]).name}")
    except (OSError, TimeoutError, CancelledError) as exc:  # comm closed, timed out, futures dropped
        raise ClusterError(
            f"lost the Dask cluster during {step} after {report.done + len(report.failed)} of {len(futures)} tasks "
            f"({type(exc).__name__}: {exc})",
            fix="finished work is in the store; restart the scheduler and run the same command again to resume",
        ) from exc
    return report


def _absolute_sqlite(url: str) -> str:
    """Workers may run elsewhere: a relative SQLite path must not depend on their directory."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
        return parsed.set(database=str(Path(parsed.database).expanduser().resolve())).render_as_string(
            hide_password=False
        )
    return url


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def report_dict(reports: Sequence[StepReport]) -> dict[str, Any]:
    """JSON-ready summary of a run (for ``--json`` and the benchmarks)."""
    return {
        r.step: {
            "tasks": r.tasks,
            "done": r.done,
            "items": r.items,
            "duplicates": r.duplicates,
            "skipped": len(r.skipped),
            "failed": r.failed,
            "seconds": round(r.seconds, 3),
        }
        for r in reports
    }
