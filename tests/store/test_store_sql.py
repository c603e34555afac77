"""SQL store: migrations, round trips for every object, idempotent and atomic writes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from shapely.geometry import Polygon, box

from sitewatch.errors import NotFoundError, StoreError
from sitewatch.model import Alert, Baseline, Count, Detection, Event, Hypothesis, Scene, Site, Zone
from sitewatch.store import open_store
from sitewatch.store.base import RunRecord, Store
from sitewatch.store.schema import metadata
from sitewatch.store.sql import MIGRATIONS, SqlStore

UTC = dt.UTC


@pytest.fixture
def store(db_url: str) -> Iterator[SqlStore]:
    s = open_store(db_url)
    yield s
    s.close()


def make_site(site_id: str = "s1", x: float = 0.0) -> Site:
    zones = (
        Zone("pad", "Launch pad", "pad", box(x + 0.1, 0.1, x + 0.4, 0.4)),
        Zone("hall", "Assembly hall", "assembly_hall", box(x + 0.5, 0.5, x + 0.9, 0.9)),
    )
    return Site(site_id, f"Site {site_id}", box(x, 0, x + 1, 1), zones, "KP", "a test site", simulated=True)


def make_scene(scene_id: str = "sc1", day: int = 1, content: str | None = None, x: float = 0.0) -> Scene:
    fp = box(x - 0.5, -0.5, x + 0.6, 0.6)
    return Scene(
        id=scene_id,
        uri=f"/data/{scene_id}.tif",
        acquired=dt.datetime(2024, 3, day, 2, 13, tzinfo=UTC),
        sensor="WorldView-3",
        gsd=0.31,
        crs="EPSG:32651",
        footprint=fp,
        valid=fp.difference(box(x - 0.5, -0.5, x, 0)),
        content_hash=content or f"hash-{scene_id}",
        width=100,
        height=80,
        bands=3,
        off_nadir=12.3,
        sun_elevation=45.1,
        sun_azimuth=150.2,
        cloud_cover=0.12,
        simulated=True,
        extra={"metadata_source": "sidecar"},
    )


def make_detection(scene_id: str, i: int, detector: str = "simple@1", cls: str = "truck") -> Detection:
    return Detection(
        scene_id, cls, 0.5 + i / 100, (i, i, i + 5, i + 3), box(0.1, 0.1, 0.11, 0.11), detector, "s1", "pad"
    )


def test_open_creates_schema_at_head_and_matches_the_tables(db_url: str) -> None:
    s = open_store(db_url)
    assert isinstance(s, Store)
    s.close()
    engine = sa.create_engine(db_url)
    with engine.connect() as conn:
        # Other modules may own tables in the same database: compare only the store's own.
        # PostGIS-only GIST indexes (``gix_*``, migration 0003) are not in the portable metadata.
        ours = {
            "include_name": lambda name, kind, _parent: (
                (kind != "table" or name in metadata.tables) and not (kind == "index" and str(name).startswith("gix_"))
            )
        }
        ctx = MigrationContext.configure(conn, opts=ours)
        assert ctx.get_current_revision() == ScriptDirectory(str(MIGRATIONS)).get_current_head()
        # The migrations build exactly the schema the code declares.
        assert compare_metadata(ctx, metadata) == []
        if conn.dialect.name == "sqlite":
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    engine.dispose()
    open_store(db_url).close()  # re-opening an up-to-date store is a no-op


def test_open_rejects_a_non_database_file(tmp_path: Path) -> None:
    junk = tmp_path / "junk.db"
    junk.write_text("not sqlite at all " * 100)
    with pytest.raises(StoreError, match=r"junk\.db.*fix:"):
        open_store(f"sqlite:///{junk}")


def test_default_url_comes_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SITEWATCH_DB", f"sqlite:///{tmp_path / 'env.db'}")
    s = open_store()
    s.close()
    assert (tmp_path / "env.db").exists()


def test_site_round_trip_and_update(store: SqlStore) -> None:
    site = make_site()
    store.upsert_site(site)
    assert store.get_site("s1") == site
    smaller = Site("s1", "Renamed", box(0, 0, 0.5, 0.5), (site.zones[0],))
    store.upsert_site(smaller)
    assert store.list_sites() == [smaller]


def test_unknown_ids_raise_not_found(store: SqlStore) -> None:
    with pytest.raises(NotFoundError, match="no site 'nope'"):
        store.get_site("nope")
    with pytest.raises(NotFoundError):
        store.get_scene("nope")
    with pytest.raises(NotFoundError):
        store.get_alert("nope")
    with pytest.raises(NotFoundError):
        store.replace_detections("nope", "d@1", [])
    with pytest.raises(NotFoundError, match="unknown site"):
        store.add_scene(make_scene(), ["nope"])


def test_scene_round_trip_links_and_time_filters(store: SqlStore) -> None:
    store.upsert_site(make_site("s1"))
    store.upsert_site(make_site("s2", x=10))
    a, b = make_scene("a", day=1), make_scene("b", day=5)
    assert store.add_scene(a, ["s1"]) and store.add_scene(b, ["s1"])
    assert store.get_scene("a") == a
    assert store.get_scene("a").extra == a.extra
    assert store.get_scene("a").acquired.tzinfo is not None
    assert [s.id for s in store.list_scenes("s1")] == ["a", "b"]
    assert store.list_scenes("s2") == []
    start = dt.datetime(2024, 3, 3, tzinfo=UTC)
    assert [s.id for s in store.list_scenes(start=start)] == ["b"]
    assert [s.id for s in store.list_scenes(end=start)] == ["a"]


def test_add_scene_is_idempotent_by_content_hash(store: SqlStore) -> None:
    store.upsert_site(make_site())
    assert store.add_scene(make_scene("a"), ["s1"]) is True
    assert store.add_scene(make_scene("a-again", content="hash-a"), ["s1"]) is False
    assert [s.id for s in store.list_scenes()] == ["a"]
    with pytest.raises(StoreError, match="already used by an image with different content"):
        store.add_scene(make_scene("a", content="other"), [])


def test_site_imported_after_scene_is_linked(store: SqlStore) -> None:
    store.add_scene(make_scene("a"), [])
    store.upsert_site(make_site("s1"))
    store.upsert_site(make_site("far", x=50))
    assert [s.id for s in store.list_scenes("s1")] == ["a"]
    assert store.list_scenes("far") == []
    store.upsert_site(make_site("s1"))  # re-import does not duplicate links
    assert store.scene_site_ids("a") == ["s1"]


def test_detections_replace_filter_and_resume(store: SqlStore) -> None:
    store.upsert_site(make_site())
    store.add_scene(make_scene("a", day=1), ["s1"])
    store.add_scene(make_scene("b", day=9), ["s1"])
    dets = [make_detection("a", i) for i in range(3)] + [make_detection("a", 9, cls="car")]
    assert store.replace_detections("a", "simple@1", dets) == 4
    assert store.replace_detections("b", "simple@1", [make_detection("b", 1)]) == 1
    assert store.replace_detections("a", "onnx@2", [make_detection("a", 1, detector="onnx@2")]) == 1
    assert store.list_detections(scene_id="a", detector="simple@1") == dets
    assert len(store.list_detections(classes=["car"])) == 1
    assert len(store.list_detections(site_id="s1", detector="simple@1")) == 5
    late = dt.datetime(2024, 3, 5, tzinfo=UTC)
    assert {d.scene_id for d in store.list_detections(start=late)} == {"b"}
    assert store.detected_scene_ids("simple@1") == {"a", "b"}
    # A rerun replaces, it does not add.
    assert store.replace_detections("a", "simple@1", dets[:1]) == 1
    assert store.list_detections(scene_id="a", detector="simple@1") == dets[:1]
    # An empty run still marks the scene as done.
    store.add_scene(make_scene("c", day=10), [])
    store.replace_detections("c", "simple@1", [])
    assert "c" in store.detected_scene_ids("simple@1")


def test_failed_replace_leaves_old_detections(store: SqlStore) -> None:
    store.upsert_site(make_site())
    store.add_scene(make_scene("a"), ["s1"])
    old = [make_detection("a", i) for i in range(3)]
    store.replace_detections("a", "simple@1", old)

    def crashing() -> Iterator[Detection]:
        yield make_detection("a", 50)
        raise RuntimeError("detector crashed")

    with pytest.raises(RuntimeError, match="detector crashed"):
        store.replace_detections("a", "simple@1", crashing())
    assert store.list_detections(scene_id="a") == old


def test_counts_round_trip_and_atomic_replace(store: SqlStore) -> None:
    store.upsert_site(make_site())
    counts = [
        Count("s1", "pad", "truck", dt.date(2024, 3, d), f"sc{d}", d, 0.9, d * 1.1, d * 0.8, d * 1.5, d != 2)
        for d in (1, 2, 3)
    ]
    assert store.replace_counts("s1", counts) == 3
    assert store.list_counts("s1") == counts
    assert store.list_counts("s1", zone_id="hall") == []
    assert store.list_counts("s1", cls="truck") == counts

    def bad() -> Iterator[Count]:
        yield counts[0]
        yield Count("other", "pad", "truck", dt.date(2024, 3, 9), "x", 1, 1, 1, 1, 1)

    with pytest.raises(ValueError, match="passed to replace_counts"):
        store.replace_counts("s1", bad())
    assert store.list_counts("s1") == counts


def test_baselines_round_trip_filter_and_atomic_replace(store: SqlStore) -> None:
    store.upsert_site(make_site())
    bands = [
        Baseline("s1", zone, cls, dt.date(2024, 3, d), d * 1.0, max(0.0, d - 2.5), d + 2.5)
        for zone, cls in (("pad", "truck"), ("pad", "all"), ("hall", "car"))
        for d in (1, 2)
    ]
    assert store.replace_baselines("s1", bands) == 6
    assert store.list_baselines("s1") == sorted(bands, key=lambda b: (b.zone_id, b.cls, b.date))
    assert store.list_baselines("s1", zone_id="pad", cls="truck") == bands[:2]
    assert store.list_baselines("s1", cls="car") == bands[4:]
    assert store.list_baselines("other") == []
    stray = Baseline("other", "pad", "truck", dt.date(2024, 3, 9), 1.0, 0.0, 3.0)
    with pytest.raises(ValueError, match="passed to replace_baselines"):
        store.replace_baselines("s1", [bands[0], stray])
    assert len(store.list_baselines("s1")) == 6  # the failed replace changed nothing
    assert store.replace_baselines("s1", bands[:1]) == 1
    assert store.list_baselines("s1") == bands[:1]


def test_events_upsert(store: SqlStore) -> None:
    e1 = Event("e1", dt.date(2023, 11, 21), "satellite_launch", "nk-missile-tests", "s1", "sohae", 39.66, 124.7)
    e2 = Event("e2", dt.date(2023, 5, 30), "satellite_launch", "csis", description="SLV", simulated=True)
    assert store.upsert_events([e1, e2]) == 2
    assert store.list_events() == [e2, e1]
    e1b = Event("e1", dt.date(2023, 11, 21), "satellite_launch", "nk-missile-tests", "s1", description="updated")
    store.upsert_events([e1b])
    assert store.list_events(site_id="s1") == [e1b]


def test_alerts_round_trip(store: SqlStore) -> None:
    store.upsert_site(make_site())
    alert = Alert(
        "al1",
        "s1",
        dt.date(2024, 3, 1),
        dt.date(2024, 3, 4),
        3.2,
        "high",
        ("pad",),
        ("truck", "crane"),
        "trucks on the pad 3x baseline",
        evidence=("scene:a", "scene:b"),
        hypotheses=(Hypothesis("launch preparation", 0.6, "pad activity"), Hypothesis("maintenance", 0.3)),
        caveats=("one sensor only",),
    )
    assert store.replace_alerts("s1", [alert]) == 1
    assert store.get_alert("al1") == alert
    assert store.list_alerts("s1") == [alert]
    store.replace_alerts("s1", [])
    assert store.list_alerts() == []


def test_runs_record_and_update(store: SqlStore) -> None:
    start = dt.datetime(2024, 1, 1, tzinfo=UTC)
    store.record_run(RunRecord("r1", "detect", start, None, {"model": "simple@1"}))
    store.record_run(RunRecord("r2", "ingest", start + dt.timedelta(hours=1), None))
    store.record_run(RunRecord("r1", "detect", start, start + dt.timedelta(minutes=5), {"model": "simple@1", "n": 3}))
    runs = store.list_runs()
    assert [r.id for r in runs] == ["r1", "r2"]
    assert runs[0].finished == start + dt.timedelta(minutes=5) and runs[0].params == {"model": "simple@1", "n": 3}
    assert [r.id for r in store.list_runs("ingest")] == ["r2"]


def test_naive_datetimes_are_refused(store: SqlStore) -> None:
    naive = make_scene()
    object.__setattr__(naive, "acquired", dt.datetime(2024, 3, 1, 2, 13))
    with pytest.raises(sa.exc.StatementError, match="naive datetime"):
        store.add_scene(naive, [])
    assert store.list_scenes() == []


def test_non_rectangular_geometry_survives(store: SqlStore) -> None:
    tri = Polygon([(0, 0), (1, 0), (0.5, 0.8)])
    site = Site("tri", "Triangle", tri)
    store.upsert_site(site)
    assert store.get_site("tri").aoi.equals_exact(tri, 0)


def test_open_rejects_a_schema_from_the_future(db_url: str) -> None:
    open_store(db_url).close()
    engine = sa.create_engine(db_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '9999'")
    engine.dispose()
    with pytest.raises(StoreError, match=r"schema is not one this version knows.*fix: upgrade sitewatch"):
        open_store(db_url)
