"""SIGKILL `sitewatch ingest`, `detect` and `analyze` at seeded random points, resume, compare.

Each trial runs the real CLI entry point in a forked child (so a trial does not pay the
~2 s of imports again) that SIGKILLs itself just before or just after its k-th SQL
statement, k drawn from a seeded RNG over the statements a clean run of that command
executes. Killing at statement boundaries reaches every state the store can be left in
(before a write, mid-transaction with the write uncommitted, after a commit), always
mid-work and reproducibly; a wall-clock delay on a busy machine could land after the
command had already finished. The command is then run again to completion, and the store
must pass SQLite's integrity checks, keep every scene's detections and their run record in
step, and equal a clean run's results: scenes, detections per scene, counts and alerts.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event

from sitewatch.store import open_store

from .conftest import archive_site, copy_sqlite, write_archive

N_SCENES = 20
TRIALS = {"ingest": 7, "detect": 7, "analyze": 6}  # 20 in all
SEED = 10


def _child(argv: list[str], kill_at: int | None, after: bool, counter: Path | None) -> None:
    """Run ``sitewatch <argv>`` in this (forked) process, dying by SIGKILL at statement ``kill_at``."""
    from sitewatch.cli.main import app

    seen = 0

    def _hook(*_args: Any) -> None:
        nonlocal seen
        seen += 1
        if seen == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)

    event.listen(Engine, "after_cursor_execute" if after else "before_cursor_execute", _hook)
    try:
        app(argv, prog_name="sitewatch")  # exits through SystemExit with the command's code
    finally:
        if counter is not None:
            counter.write_text(str(seen))


@pytest.fixture(autouse=True, scope="module")
def _warm() -> None:
    """Import what the commands import lazily, once, so forked children start warm."""
    import sitewatch.analytics.pipeline
    import sitewatch.cli.main
    import sitewatch.detect.pipeline
    import sitewatch.imagery.ingest  # noqa: F401

    with open_store("sqlite://"):  # loads alembic and the migration scripts
        pass


def run_cli(argv: list[str], *, kill_at: int | None = None, after: bool = False, counter: Path | None = None) -> int:
    """Exit code of the command (``-SIGKILL`` when killed)."""
    proc = multiprocessing.get_context("fork").Process(target=_child, args=(argv, kill_at, after, counter))
    proc.start()
    proc.join(timeout=300)
    assert proc.exitcode is not None, f"sitewatch {argv[0]} hung"
    return proc.exitcode


def snapshot(url: str) -> dict[str, Any]:
    """What a run leaves in the store, without row ids, run ids or timestamps."""
    with open_store(url) as store:
        scenes = store.list_scenes()
        return {
            "scenes": sorted(
                (s.id, s.content_hash, s.footprint.wkb, s.valid.wkb, tuple(store.scene_site_ids(s.id))) for s in scenes
            ),
            "detections": {
                s.id: sorted(
                    (d.detector, d.cls, round(d.score, 6), d.box, d.geometry.wkb, d.site_id, d.zone_id)
                    for d in store.list_detections(scene_id=s.id)
                )
                for s in scenes
            },
            "detected": sorted(store.detected_scene_ids("simple-tophat@1")),
            "counts": sorted(store.list_counts("tiny"), key=repr),
            "alerts": sorted(store.list_alerts(), key=lambda a: a.id),
        }


def check_consistent(db: Path) -> None:
    """SQLite's own checks, and every scene's detections match its detection-run record."""
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        mismatched = conn.execute(
            """SELECT r.scene_id, r.n, COUNT(d.id) FROM detection_runs r
               LEFT JOIN detections d ON d.scene_id = r.scene_id AND d.detector = r.detector
               GROUP BY r.scene_id, r.detector HAVING r.n != COUNT(d.id)"""
        ).fetchall()
        orphans = conn.execute(
            """SELECT DISTINCT d.scene_id FROM detections d LEFT JOIN detection_runs r
               ON r.scene_id = d.scene_id AND r.detector = d.detector WHERE r.scene_id IS NULL"""
        ).fetchall()
    conn.close()
    assert mismatched == [] and orphans == [], (mismatched, orphans)


def test_sigkill_at_random_points_then_resume_equals_clean_run(tmp_path: Path) -> None:
    archive = write_archive(tmp_path / "archive", N_SCENES)
    commands = {
        "ingest": ["ingest", str(archive)],
        "detect": ["detect", "--model", "simple"],
        "analyze": ["analyze"],
    }
    # Clean run, one stage at a time: the store before each stage is that stage's start
    # point for its trials; the store after it is what every resumed trial must equal.
    stage_db = tmp_path / "clean.db"
    with open_store(f"sqlite:///{stage_db}") as store:
        store.upsert_site(archive_site())
    before: dict[str, Path] = {}
    expected: dict[str, dict[str, Any]] = {}
    n_statements: dict[str, int] = {}
    for name, argv in commands.items():
        before[name] = tmp_path / f"before-{name}.db"
        copy_sqlite(stage_db, before[name])
        counter = tmp_path / f"{name}.statements"
        assert run_cli([*argv, "--db", str(stage_db)], counter=counter) == 0
        n_statements[name] = int(counter.read_text())
        expected[name] = snapshot(f"sqlite:///{stage_db}")
    final = expected["analyze"]
    assert len(final["scenes"]) == N_SCENES and final["alerts"], "the clean run must exercise alerts"
    assert sum(map(len, final["detections"].values())) > N_SCENES and final["counts"]

    rng = random.Random(SEED)
    interrupted = dict.fromkeys(TRIALS, 0)  # trials whose kill left the stage's work unfinished
    for name, trials in TRIALS.items():
        for trial in range(trials):
            kill_at, after = rng.randint(1, n_statements[name]), rng.random() < 0.5
            db = tmp_path / f"{name}-{trial}.db"
            copy_sqlite(before[name], db)
            argv = [*commands[name], "--db", str(db)]
            where = f"{name} trial {trial}: killed {'after' if after else 'before'} statement {kill_at}"
            assert run_cli(argv, kill_at=kill_at, after=after) == -signal.SIGKILL, where
            check_consistent(db)
            interrupted[name] += snapshot(f"sqlite:///{db}") != expected[name]
            assert run_cli(argv) == 0, where  # resume
            check_consistent(db)
            assert snapshot(f"sqlite:///{db}") == expected[name], where
            db.unlink()
    # Not vacuous: for every command some kills really cut the work short.
    assert all(interrupted.values()), interrupted
