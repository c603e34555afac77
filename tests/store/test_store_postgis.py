"""PostGIS specifics and concurrent writers on both back ends (no lost or duplicated writes).

The back-end-neutral tests are in ``test_store_sql.py``; the ``db_url`` fixture in
``conftest.py`` runs them (and these) on SQLite and, when configured, on PostGIS.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
import sqlalchemy as sa
from shapely.geometry import box

from sitewatch.model import Site
from sitewatch.store import open_store

# Each writer process adds its own scenes with detections, re-imports the shared site and
# races the other one on the same 10 shared images (only one of each may be stored).
WRITER = textwrap.dedent(
    """
    import datetime as dt, sys
    from shapely.geometry import box
    from sitewatch.model import Detection, Scene, Site, Zone
    from sitewatch.store import open_store

    url, tag, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    site = Site("s1", "Site", box(0, 0, 1, 1), (Zone("pad", "Pad", "pad", box(0.1, 0.1, 0.4, 0.4)),))

    def scene(sid, content):
        fp = box(-0.5, -0.5, 0.6, 0.6)
        t = dt.datetime(2024, 3, 1, tzinfo=dt.UTC) + dt.timedelta(hours=len(sid))
        return Scene(sid, f"/x/{sid}.tif", t, "WV3", 0.3, "EPSG:32651", fp, fp, content, 10, 10, 3)

    with open_store(url) as store:
        for i in range(n):
            store.upsert_site(site)
            store.add_scene(scene(f"{tag}-{i}", f"{tag}-{i}"), ["s1"])
            dets = [
                Detection(f"{tag}-{i}", "truck", 0.9, (k, k, k + 2, k + 2), box(0.2, 0.2, 0.21, 0.21), "d@1", "s1")
                for k in range(5)
            ]
            store.replace_detections(f"{tag}-{i}", "d@1", dets)
            store.add_scene(scene(f"shared-{i}-{tag}", f"shared-{i}"), ["s1"])
    """
)


def test_two_processes_writing_at_once_lose_and_duplicate_nothing(db_url: str) -> None:
    n = 15
    open_store(db_url).close()  # migrate once, so the writers race on data, not on DDL
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, db_url, tag, str(n)], stderr=subprocess.PIPE, text=True)
        for tag in ("a", "b")
    ]
    errors = [p.communicate(timeout=240)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], errors
    with open_store(db_url) as store:
        ids = [s.id for s in store.list_scenes("s1")]
        own = sorted(i for i in ids if not i.startswith("shared-"))
        assert own == sorted(f"{tag}-{i}" for tag in "ab" for i in range(n))
        shared = [i for i in ids if i.startswith("shared-")]
        assert sorted({i.rsplit("-", 1)[0] for i in shared}) == sorted(f"shared-{i}" for i in range(n))
        assert len(shared) == n  # one winner per shared image
        assert len(store.list_detections(detector="d@1")) == 2 * n * 5
        assert store.detected_scene_ids("d@1") == set(own)
        assert [s.id for s in store.list_sites()] == ["s1"]


def _postgis_only(db_url: str) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("PostGIS only")


def test_postgis_geometry_columns_have_gist_indexes(db_url: str) -> None:
    _postgis_only(db_url)
    open_store(db_url).close()
    gist = sa.text("SELECT tablename FROM pg_indexes WHERE schemaname = current_schema() AND indexdef LIKE '%gist%'")
    column_type = sa.text(
        "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
        "WHERE attrelid = 'detections'::regclass AND attname = 'geometry'"
    )
    engine = sa.create_engine(db_url)
    with engine.connect() as conn:
        assert {"sites", "zones", "scenes", "detections"} <= set(conn.execute(gist).scalars())
        assert conn.execute(column_type).scalar() == "geometry(Geometry,4326)"
    engine.dispose()


def test_postgis_spatial_query_runs_on_stored_geometries(db_url: str) -> None:
    """Stored geometries are real PostGIS geometries: ST_Intersects sees the right rows."""
    _postgis_only(db_url)
    with open_store(db_url) as store:
        store.upsert_site(Site("near", "Near", box(0, 0, 1, 1)))
        store.upsert_site(Site("far", "Far", box(50, 50, 51, 51)))
    query = sa.text("SELECT id FROM sites WHERE ST_Intersects(aoi, ST_MakeEnvelope(0.5, 0.5, 2, 2, 4326))")
    engine = sa.create_engine(db_url)
    with engine.connect() as conn:
        assert list(conn.execute(query).scalars()) == ["near"]
    engine.dispose()
