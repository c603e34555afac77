"""The `sitewatch passes` command end to end (its own Typer app, so other commands cannot interfere)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from sitewatch.cli import passes as passes_cli


@pytest.fixture
def app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        """test app"""

    passes_cli.register(app)
    return app


def _run(app: typer.Typer, *args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(app, ["passes", *args], catch_exceptions=False)


def test_table_json_and_ics(app: typer.Typer, tle_file: Path, tmp_path: Path) -> None:
    out_json, out_ics = tmp_path / "p.json", tmp_path / "p.ics"
    result = _run(
        app,
        "39.6596,124.7057",
        "--from",
        "2026-05-30",
        "--to",
        "2026-06-01",
        "--tle",
        str(tle_file),
        "--sat",
        "WorldView-3",
        "--json",
        str(out_json),
        "--ics",
        str(out_ics),
    )
    assert result.exit_code == 0, result.output
    assert "WORLDVIEW" in result.output and "SKYSAT" not in result.output
    doc = json.loads(out_json.read_text())
    assert doc["simulated"] is False and doc["site"]["lat"] == pytest.approx(39.6596)
    assert doc["passes"] and {p["satellite"] for p in doc["passes"]} == {"WORLDVIEW-3 (WV-3)"}
    assert all("2026-05-30" <= p["time"] < "2026-06-01" for p in doc["passes"])
    assert f"{len(doc['passes'])} passes above 20° elevation" in result.output
    ics = out_ics.read_bytes().decode()
    assert ics.count("BEGIN:VEVENT") == len(doc["passes"]) and ics.startswith("BEGIN:VCALENDAR\r\n")


def test_feasible_only(app: typer.Typer, tle_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "p.json"
    args = ["39.66,124.71", "--from", "2026-05-30", "--to", "2026-06-02", "--tle", str(tle_file), "--json", str(out)]
    assert _run(app, *args, "--feasible-only").exit_code == 0
    feasible = json.loads(out.read_text())["passes"]
    assert _run(app, *args).exit_code == 0
    every = json.loads(out.read_text())["passes"]
    assert feasible == [p for p in every if p["feasible"]] and len(feasible) < len(every)
    assert _run(app, *args, "--next").exit_code == 0
    hint = json.loads(out.read_text())["passes"]
    first: dict[int, Any] = {}
    for p in feasible:
        first.setdefault(p["norad_id"], p)
    assert hint == sorted(first.values(), key=lambda p: p["time"]) and len(hint) == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "2026-06-02", "--to", "2026-05-30"], "not after --from"),
        (["--from", "30/05/2026"], "not an ISO date"),
        (["--from", "2026-05-30", "--sat", "Hubble"], "unknown satellite 'Hubble'"),
        (["--from", "2026-11-23"], "days from the requested range"),
    ],
)
def test_bad_input_is_one_clear_line(app: typer.Typer, tle_file: Path, args: list[str], message: str) -> None:
    result = _run(app, "39.66,124.71", "--tle", str(tle_file), *args)
    assert result.exit_code == 1
    assert message in result.output and "fix:" in result.output


def test_stale_allowed_with_warning(app: typer.Typer, tle_file: Path) -> None:
    result = _run(
        app, "39.66,124.71", "--tle", str(tle_file), "--from", "2026-07-01", "--to", "2026-07-02", "--allow-stale"
    )
    assert result.exit_code == 0 and "warning:" in result.output and "may be off" in result.output


def test_malformed_tle_file(app: typer.Typer, tmp_path: Path) -> None:
    bad = tmp_path / "bad.tle"
    bad.write_text("WORLDVIEW-3\n1 40115U garbage\n2 40115 garbage\n")
    result = _run(app, "39.66,124.71", "--tle", str(bad), "--from", "2026-05-30")
    assert result.exit_code == 1 and str(bad) in result.output and "expected TLE line 1" in result.output


def test_stored_site_by_id(app: typer.Typer, tle_file: Path, tmp_path: Path) -> None:
    pytest.importorskip("sitewatch.store.sql")
    from shapely.geometry import box

    from sitewatch.model import Site
    from sitewatch.store import open_store

    db = tmp_path / "s.db"
    store = open_store(f"sqlite:///{db}")
    store.upsert_site(Site("sim-sohae", "Sohae (simulated)", box(124.70, 39.65, 124.72, 39.67), simulated=True))
    store.close()
    args = ["--db", str(db), "--tle", str(tle_file), "--from", "2026-05-30", "--to", "2026-05-31"]
    result = _run(app, "sim-sohae", *args)
    assert result.exit_code == 0, result.output
    assert "SIMULATED site" in result.output and "(39.6600, 124.7100)" in result.output
    missing = _run(app, "nowhere", *args)
    assert missing.exit_code == 1 and "nowhere" in missing.output
