"""The analyze stage over a real (SQLite) store, and the analyze/events/backtest commands."""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from shapely.geometry import Point, box
from typer.testing import CliRunner

from sitewatch.analytics.pipeline import analyze_store
from sitewatch.cli.main import app
from sitewatch.counts import local_utm
from sitewatch.imagery.raster import reproject_geometry
from sitewatch.model import Detection, Event, Scene, Site, Zone
from sitewatch.store import open_store

LON, LAT = 124.7057, 39.6596
START = dt.datetime(2024, 1, 1, 2, 0, tzinfo=dt.UTC)
EVENT = dt.date(2024, 7, 20)


def _box(x0: float, y0: float, x1: float, y1: float):
    crs = local_utm(Point(LON, LAT))
    cx, cy = reproject_geometry(Point(LON, LAT), "EPSG:4326", crs).coords[0]
    return reproject_geometry(box(cx + x0, cy + y0, cx + x1, cy + y1), crs, "EPSG:4326")


def _site() -> Site:
    zones = (
        Zone("pad", "Launch pad", "pad", _box(0, 0, 100, 100)),
        Zone("hall", "Assembly hall", "assembly_hall", _box(200, 0, 300, 100)),
    )
    return Site("sim-x", "Simulated site", _box(-50, -50, 350, 150), zones, simulated=True)


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store with 80 SIMULATED scenes, trucks rising in both zones in the 12 days before EVENT."""
    path = tmp_path_factory.mktemp("store") / "sw.db"
    store = open_store(f"sqlite:///{path}")
    site = _site()
    store.upsert_site(site)
    rng = np.random.default_rng(0)
    for i in range(80):
        t = START + dt.timedelta(days=3 * i)
        lead = (EVENT - t.date()).days
        valid = _box(-50, -50, 350, 150) if i % 9 else _box(-50, -50, 230, 150)  # some scenes miss most of the hall
        scene = Scene(
            f"sc{i:03d}",
            f"mem://{i}",
            t,
            "WorldView-3",
            0.3,
            "EPSG:32651",
            valid,
            valid,
            f"h{i}",
            100,
            100,
            3,
            off_nadir=5.0,
            sun_elevation=50.0,
            simulated=True,
        )
        store.add_scene(scene, [site.id])
        dets = []
        for x0 in (0, 200):  # pad, hall
            mean = 3.0 + (12.0 if 0 <= lead <= 12 else 0.0)
            for _ in range(rng.poisson(mean)):
                x, y = x0 + rng.uniform(5, 95), rng.uniform(5, 95)
                if not valid.contains(_box(x - 1, y - 1, x + 1, y + 1).centroid):
                    continue
                dets.append(
                    Detection(scene.id, "truck", 0.9, (0, 0, 5, 5), _box(x - 1, y - 1, x + 1, y + 1), "test@1", site.id)
                )
        store.replace_detections(scene.id, "test@1", dets)
    store.upsert_events([Event("sim-x-ev1", EVENT, "missile_test", "sim", site_id=site.id, simulated=True)])
    store.close()
    return path


def test_analyze_store_counts_alerts_and_is_idempotent(db: Path) -> None:
    store = open_store(f"sqlite:///{db}")
    try:
        report = analyze_store(store)
        assert report.sites == 1 and report.scenes == 80
        assert report.counts == 80 * 2 * 9 and report.insufficient == 9 * 9  # hall half-seen on every 9th scene
        counts = store.list_counts("sim-x", zone_id="pad", cls="truck")
        assert len(counts) == 80 and all(c.estimate >= c.raw for c in counts)
        alerts = store.list_alerts("sim-x")
        assert len(alerts) >= 1
        hit = [a for a in alerts if EVENT - dt.timedelta(days=13) <= a.start <= EVENT]
        assert hit, [a.start for a in alerts]
        a = hit[0]
        assert a.explanation.startswith("SIMULATED") and "truck" in a.explanation and "vs" in a.explanation
        assert a.hypotheses[0].name == "test/launch preparation"
        assert "truck" in a.classes and set(a.zones) <= {"pad", "hall"}
        bands = store.list_baselines("sim-x")
        truck_bands = [b for b in bands if (b.zone_id, b.cls) == ("pad", "truck")]
        assert 0 < len(truck_bands) < 80 and min(b.date for b in truck_bands) > counts[0].date  # causal
        assert all(0 <= b.lo <= b.expected <= b.hi for b in bands)
        assert any(b.cls == "all" for b in bands)  # the zone totals the alerts also judge
        # The stored band is the one the alert sentence quotes ("... vs M ± S on comparable days").
        m = re.search(r"(\d+) trucks in the [\w ]+ vs (\d+) ± (\d+)", a.explanation)
        assert m, a.explanation
        quoted = (int(m[2]), int(m[3]))
        near = [b for b in bands if b.cls == "truck" and a.start <= b.date <= a.end]
        assert any((round(b.expected), round((b.hi - b.expected) / 2)) == quoted for b in near), (quoted, near)
        again = analyze_store(store)
        assert [x.id for x in again.alerts] == [x.id for x in report.alerts]
        assert store.list_baselines("sim-x") == bands
        assert len(store.list_alerts("sim-x")) == len(alerts)
        assert any(r.kind == "analyze" for r in store.list_runs())
    finally:
        store.close()


def test_cli_analyze_backtest_events_synchrony(db: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    out = runner.invoke(app, ["analyze", "--db", str(db), "--json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)["alerts"]
    bt = runner.invoke(app, ["backtest", "--db", str(db), "--json"])
    assert bt.exit_code == 0, bt.output
    rules = {r["rule"]: r for r in json.loads(bt.output)["rules"]}
    assert rules["nb_cusum"]["detected"] == 1 and rules["nb_cusum"]["targets"] == 1
    assert "zscore" in rules and json.loads(bt.output)["simulated"] is True
    ev = tmp_path / "events.csv"
    ev.write_text("event_id,site_id,date,kind,description\nsim-x-ev2,sim-x,2024-03-01,engine_test,test\n")
    imp = runner.invoke(app, ["events", "import", str(ev), "--db", str(db), "--json"])
    assert imp.exit_code == 0 and json.loads(imp.output)["matched"] == 1
    listed = json.loads(runner.invoke(app, ["events", "list", "--db", str(db), "--site", "sim-x", "--json"]).output)
    assert [e["id"] for e in listed] == ["sim-x-ev2", "sim-x-ev1"]
    sync = runner.invoke(app, ["analyze", "synchrony", "--db", str(db), "--json", "--permutations", "49"])
    assert sync.exit_code == 0 and json.loads(sync.output)["statistic"] == 0  # one site: no pairs


def test_cli_series_and_changepoints(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    days = np.arange(0, 300, 3)
    lam = np.where((days >= 240) & (days < 255), 30.0, 8.0)
    csv = tmp_path / "s.csv"
    lines = ["timestamp,count"] + [
        f"{dt.date(2024, 1, 1) + dt.timedelta(days=int(d))}T10:00:00Z,{rng.poisson(m)}"
        for d, m in zip(days, lam, strict=True)
    ]
    csv.write_text("\n".join(lines) + "\n")
    runner = CliRunner()
    out = runner.invoke(app, ["analyze", "series", "--input", str(csv), "--json"])
    assert out.exit_code == 0, out.output
    alerts = json.loads(out.output)
    assert len(alerts) == 1 and {"start", "end", "score"} <= set(alerts[0])
    assert dt.date.fromisoformat(alerts[0]["start"]) >= dt.date(2024, 1, 1) + dt.timedelta(days=237)
    cp = runner.invoke(app, ["analyze", "changepoints", "--input", str(csv), "--json"])
    assert cp.exit_code == 0 and len(json.loads(cp.output)["changepoints"]) >= 1
    bad = tmp_path / "bad.csv"
    bad.write_text("timestamp,count\n2024-01-01,1\n")
    err = runner.invoke(app, ["analyze", "series", "--input", str(bad)])
    assert err.exit_code == 1 and "at least 2" in err.output


def test_cli_analyze_takes_the_calibration_of_a_model_given_by_path(db: Path, tmp_path: Path) -> None:
    from sitewatch.counts import DEFAULT_DETECTABILITY, CountCalibration
    from sitewatch.detect import CALIBRATION_KEY

    copy = tmp_path / "sw.db"
    shutil.copy(db, copy)
    runner = CliRunner()
    model = tmp_path / "mine.onnx"
    (tmp_path / "mine.json").write_text(json.dumps({"name": "mine", "version": "1"}))
    out = runner.invoke(app, ["analyze", "--db", str(copy), "--calibration", str(model)])
    assert out.exit_code != 0 and "calibrate-counts" in out.output  # not calibrated yet: says how

    def pad_trucks() -> list[float]:
        store = open_store(f"sqlite:///{copy}")
        try:
            return [c.estimate for c in store.list_counts("sim-x", zone_id="pad", cls="truck")]
        finally:
            store.close()

    assert runner.invoke(app, ["analyze", "--db", str(copy)]).exit_code == 0
    plain = pad_trucks()
    # Half a detection per visible truck: the corrected counts double.
    cal = CountCalibration(DEFAULT_DETECTABILITY, (("truck", 0.5),), detector="test@1")
    (tmp_path / "mine.json").write_text(json.dumps({"name": "mine", "version": "1", CALIBRATION_KEY: cal.as_dict()}))
    out = runner.invoke(app, ["analyze", "--db", str(copy), "--calibration", str(model)])
    assert out.exit_code == 0, out.output
    assert pad_trucks() == pytest.approx([2 * v for v in plain])
    other = runner.invoke(app, ["analyze", "--db", str(copy), "--calibration", str(model), "--detector", "x@2"])
    assert other.exit_code != 0 and "test@1" in other.output
