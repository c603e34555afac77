"""Pipeline steps on a Dask LocalCluster: same store as a local run, even when a worker is killed."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sitewatch.analytics.pipeline import analyze_store
from sitewatch.detect import load_detector
from sitewatch.detect.pipeline import detect_store
from sitewatch.distributed import dask_client, parse_steps, run_steps
from sitewatch.errors import ClusterError, InputError
from sitewatch.imagery.ingest import ingest_paths
from sitewatch.model import Site
from sitewatch.store.sql import SqlStore

STEPS = ("ingest", "detect", "analyze")
NewStore = Callable[[str], tuple[str, SqlStore]]


def snapshot(store: SqlStore) -> dict[str, Any]:
    """Everything a run writes that must not depend on how it ran."""
    dets = store.list_detections()
    return {
        "scenes": sorted((s.id, s.content_hash) for s in store.list_scenes()),
        "detections": sorted((d.scene_id, d.detector, d.cls, round(d.score, 6), d.box, d.zone_id) for d in dets),
        "counts": [(c.zone_id, c.cls, c.scene_id, c.raw, c.estimate) for c in store.list_counts("tiny")],
        "alerts": [(a.id, a.start, a.end) for a in store.list_alerts("tiny")],
    }


def local_run(store: SqlStore, archive: Path) -> None:
    ingest_paths(store, [archive])
    detect_store(store, load_detector("simple"))
    analyze_store(store)


def test_parse_steps_orders_and_validates() -> None:
    assert parse_steps("analyze, ingest") == ("ingest", "analyze")
    with pytest.raises(InputError, match=r"unknown step.*fix: use some of ingest,detect,analyze"):
        parse_steps("ingest,train")


def test_unreachable_scheduler_is_a_clear_error() -> None:
    with (
        pytest.raises(ClusterError, match=r"tcp://127\.0\.0\.1:9.*cannot reach the Dask scheduler.*fix:"),
        dask_client(scheduler="tcp://127.0.0.1:9", timeout=2),
    ):
        pass


@pytest.fixture(scope="module")
def expected(archive: Path, archive_site: Site, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The store after a plain local run (ingest_paths, detect_store, analyze_store)."""
    from sitewatch.store import open_store

    with open_store(f"sqlite:///{tmp_path_factory.mktemp('local') / 'local.db'}") as local:
        local.upsert_site(archive_site)
        local_run(local, archive)
        result = snapshot(local)
    assert result["detections"] and result["counts"]  # the archive really has something to find
    return result


@pytest.mark.slow
def test_cluster_run_matches_local_run_and_reruns_are_no_ops(
    archive: Path, new_store: NewStore, expected: dict[str, Any]
) -> None:

    n = len(expected["scenes"])
    url, store = new_store("cluster")
    progress: list[tuple[int, int, str]] = []
    with dask_client(workers=2) as client:
        reports = run_steps(client, url, STEPS, [archive], detector="simple", on_progress=lambda *a: progress.append(a))
        assert snapshot(store) == expected
        ingest, detect, analyze = reports
        assert (ingest.done, detect.done, analyze.done) == (n, n, 1)
        assert detect.items == len(expected["detections"]) and not detect.failed
        assert progress[-1][:2] == (1, 1) and any(label.startswith("detect ") for *_, label in progress)
        again = run_steps(client, url, STEPS, [archive], detector="simple")
    assert (again[0].duplicates, again[1].tasks) == (n, 0)  # nothing re-ingested or re-detected
    assert snapshot(store) == expected
    assert [r.kind for r in store.list_runs("cluster")] == ["cluster", "cluster"]


def test_a_bad_file_fails_alone(archive: Path, new_store: NewStore, tmp_path: Path) -> None:
    junk = tmp_path / "junk.tif"
    junk.write_bytes(b"not a tiff")
    url, store = new_store("bad")
    with dask_client(workers=1) as client:
        (report,) = run_steps(client, url, ["ingest"], [junk, archive / "sc000.tif"])
    assert report.done == 1 and [k for k, _ in report.failed] == [str(junk.resolve())]
    assert "junk.tif" in report.failed[0][1]
    assert [s.id for s in store.list_scenes()] == ["sc000"]


def _worker_environ() -> dict[str, str | None]:
    return {k: os.environ.get(k) for k in ("MALLOC_TRIM_THRESHOLD_", "OMP_NUM_THREADS")}


def test_local_workers_keep_glibc_malloc_defaults_and_one_thread() -> None:
    """Dask's MALLOC_TRIM_THRESHOLD_ made every tile array a fresh mmap (+31 % CPU per scene)."""
    with dask_client(workers=1) as client:
        (env,) = client.run(_worker_environ).values()
    assert env == {"MALLOC_TRIM_THRESHOLD_": None, "OMP_NUM_THREADS": "1"}


def _worker_housekeeping(dask_worker: Any) -> dict[str, Any]:
    return {"profiling": "profile" in dask_worker.periodic_callbacks, "tick_ms": dask_worker._tick_interval * 1000}


def test_local_workers_skip_the_dashboard_profiler_and_slow_housekeeping() -> None:
    """The profiler sampled every thread 100 times a second; idle, the cluster kept 0.16 cores busy."""
    with dask_client(workers=1) as client:
        (state,) = client.run(_worker_housekeeping).values()
    assert state == {"profiling": False, "tick_ms": 1000}


@pytest.mark.slow
def test_killing_a_worker_mid_run_loses_and_duplicates_nothing(
    archive: Path, new_store: NewStore, expected: dict[str, Any]
) -> None:
    url, store = new_store("killed")
    killed: list[int] = []
    with dask_client(workers=2) as client:
        pids = client.run(os.getpid)
        victim = sorted(pids.values())[0]

        def kill_once(done: int, total: int, label: str) -> None:
            if done == 1 and label.startswith("detect") and not killed:
                os.kill(victim, signal.SIGKILL)  # the nanny restarts it; the scheduler reschedules its tasks
                killed.append(victim)

        run_steps(client, url, STEPS, [archive], detector="simple", on_progress=kill_once)
        assert killed and victim not in client.run(os.getpid).values()
    assert snapshot(store) == expected
