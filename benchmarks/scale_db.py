"""Query latency of the store on a large detections table: SQLite against PostGIS.

Fills a fresh store on each back end with ``--rows`` synthetic detections spread over
``--scenes`` scenes and ``--sites`` sites, then times (median of ``--repeat`` runs, ms):

- ``scene``: ``list_detections(scene_id=...)`` (what counting one scene reads),
- ``site_month``: ``list_detections(site_id=..., classes=["truck"], start, end)`` for 30 days,
- ``site_classes``: per-class totals of one site (GROUP BY),
- ``bbox_count``: detections inside a 200 m box (bbox columns on SQLite, GIST on PostGIS).

PostGIS runs only when ``SITEWATCH_TEST_PG_URL`` (or ``--pg-url``) is set; it uses its own
schema, dropped afterwards. Prints one JSON object; the rows are synthetic, not detections.

    python benchmarks/scale_db.py [--rows 1000000] [--scenes 2000] [--sites 20]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import shapely
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from sitewatch.model import CLASSES, Scene, Site
from sitewatch.store import open_store
from sitewatch.store import schema as t
from sitewatch.store.sql import SqlStore

if TYPE_CHECKING:
    import psycopg

START = dt.datetime(2023, 1, 1, tzinfo=dt.UTC)
BATCH = 200_000


def site_aoi(i: int) -> shapely.Polygon:
    return shapely.box(120 + i * 0.1, 38, 120 + i * 0.1 + 0.02, 38.02)


def fill(store: SqlStore, rows: int, scenes: int, sites: int, seed: int = 0) -> float:
    """Sites, scenes and ``rows`` detections; returns the seconds the detections took to load."""
    for i in range(sites):
        store.upsert_site(Site(f"site{i:03d}", f"Site {i}", site_aoi(i)))
    for j in range(scenes):
        aoi = site_aoi(j % sites)
        acquired = START + dt.timedelta(hours=6 * j)
        scene = Scene(
            f"sc{j:06d}",
            f"/archive/sc{j:06d}.tif",
            acquired,
            "WV3",
            0.3,
            "EPSG:32651",
            aoi,
            aoi,
            f"hash{j}",
            3000,
            3000,
            3,
        )
        store.add_scene(scene, [f"site{j % sites:03d}"])
    rng = np.random.default_rng(seed)
    # Rows arrive scene by scene, as the pipeline writes them (replace_detections per scene).
    per_scene = rng.multinomial(rows, np.full(scenes, 1 / scenes))
    scene_of_row = np.repeat(np.arange(scenes), per_scene)
    started = time.perf_counter()
    engine = store._engine  # bulk load below the per-scene API, which replaces one scene at a time
    postgis = engine.dialect.name == "postgresql"
    for lo in range(0, rows, BATCH):
        scene_idx = scene_of_row[lo : lo + BATCH]
        n = len(scene_idx)
        site_idx = scene_idx % sites
        x = 120 + site_idx * 0.1 + rng.random(n) * 0.02
        y = 38 + rng.random(n) * 0.02
        boxes = shapely.box(x, y, x + 4e-5, y + 2e-5)
        columns: dict[str, list[Any]] = {
            "scene_id": [f"sc{s:06d}" for s in scene_idx.tolist()],
            "detector": ["bench@1"] * n,
            "cls": [CLASSES[c] for c in rng.integers(0, len(CLASSES), n).tolist()],
            "score": [0.5] * n,
            "x0": [0.0] * n,
            "y0": [0.0] * n,
            "x1": [10.0] * n,
            "y1": [5.0] * n,
            "site_id": [f"site{si:03d}" for si in site_idx.tolist()],
            "minx": x.tolist(),
            "miny": y.tolist(),
            "maxx": (x + 4e-5).tolist(),
            "maxy": (y + 2e-5).tolist(),
        }
        # Geometries encoded for the whole batch at once, as the store's Geometry type would
        # one by one: hex EWKB with the SRID for PostGIS, plain WKB for SQLite.
        if postgis:
            columns["geometry"] = shapely.to_wkb(shapely.set_srid(boxes, 4326), hex=True, include_srid=True).tolist()
            _copy_postgis(engine, columns)
        else:
            columns["geometry"] = shapely.to_wkb(boxes).tolist()
            _insert_sqlite(engine, columns)
    with engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE")  # fresh planner statistics on both back ends
    return time.perf_counter() - started


def _insert_sqlite(engine: sa.Engine, columns: dict[str, list[Any]]) -> None:
    """One executemany per batch on the DBAPI connection, in one transaction."""
    names = list(columns)
    sql = f"INSERT INTO detections ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})"
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute("BEGIN")  # the store's connections are in autocommit mode: without it, a commit per row
        cur.executemany(sql, list(zip(*columns.values(), strict=True)))
        raw.commit()
    finally:
        raw.close()


def _copy_postgis(engine: sa.Engine, columns: dict[str, list[Any]]) -> None:
    """COPY is how one loads millions of rows into PostgreSQL (text format, one buffer per batch)."""
    names = list(columns)
    text = "".join("\t".join(map(str, row)) + "\n" for row in zip(*columns.values(), strict=True))
    raw = engine.raw_connection()
    try:
        cur = cast("psycopg.Cursor[Any]", raw.cursor())  # SQLAlchemy types it as a plain DB-API cursor
        with cur, cur.copy(f"COPY detections ({', '.join(names)}) FROM STDIN") as copy:
            copy.write(text)
        raw.commit()
    finally:
        raw.close()


def timed(fn: Callable[[], Any], repeat: int) -> dict[str, float]:
    times, size = [], 0
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - started) * 1000)
        size = len(result) if hasattr(result, "__len__") else int(result)
    return {"median_ms": round(statistics.median(times), 2), "min_ms": round(min(times), 2), "result": size}


def queries(store: SqlStore, scenes: int, sites: int, repeat: int) -> dict[str, Any]:
    engine = store._engine
    x0, y0 = 120 + 0.1 * (sites // 2), 38.005
    env = (x0, y0, x0 + 0.0025, y0 + 0.0018)  # ~200 m
    if engine.dialect.name == "postgresql":
        bbox_sql = sa.text("SELECT count(*) FROM detections WHERE geometry && ST_MakeEnvelope(:a, :b, :c, :d, 4326)")
    else:
        bbox_sql = sa.text(
            "SELECT count(*) FROM detections WHERE minx <= :c AND maxx >= :a AND miny <= :d AND maxy >= :b"
        )

    def bbox_count() -> int:
        with engine.connect() as conn:
            return int(conn.execute(bbox_sql, dict(zip("abcd", env, strict=True))).scalar_one())

    def site_classes() -> list[Any]:
        q = (
            sa.select(t.detections.c.cls, sa.func.count())
            .where(t.detections.c.site_id == "site001")
            .group_by(t.detections.c.cls)
        )
        with engine.connect() as conn:
            return list(conn.execute(q))

    month = (START + dt.timedelta(days=10), START + dt.timedelta(days=40))
    return {
        "scene": timed(lambda: store.list_detections(scene_id=f"sc{scenes // 2:06d}"), repeat),
        "site_month": timed(
            lambda: store.list_detections(site_id="site001", classes=["truck"], start=month[0], end=month[1]), repeat
        ),
        "site_classes": timed(site_classes, repeat),
        "bbox_count": timed(bbox_count, repeat),
    }


@contextmanager
def postgis_schema(base_url: str) -> Iterator[str]:
    schema = f"sw_bench_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(base_url)
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    try:
        url = make_url(base_url).update_query_dict({"options": f"-csearch_path={schema},public"})
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        admin.dispose()


def bench(url: str, args: argparse.Namespace) -> dict[str, Any]:
    with open_store(url) as store:
        load = fill(store, args.rows, args.scenes, args.sites)
        result = {
            "load_seconds": round(load, 1),
            "rows_per_s": round(args.rows / load),
            **queries(store, args.scenes, args.sites, args.repeat),
        }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--scenes", type=int, default=2000)
    parser.add_argument("--sites", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--pg-url", default=os.environ.get("SITEWATCH_TEST_PG_URL"))
    args = parser.parse_args()
    out: dict[str, Any] = {"benchmark": "scale_db", "rows": args.rows, "scenes": args.scenes, "sites": args.sites}
    with tempfile.TemporaryDirectory(prefix="sw-db-") as tmp:
        db = Path(tmp) / "bench.db"
        out["sqlite"] = bench(f"sqlite:///{db}", args)
        out["sqlite"]["file_bytes"] = db.stat().st_size
    if args.pg_url:
        with postgis_schema(args.pg_url) as url:
            out["postgis"] = bench(url, args)
    else:
        out["postgis"] = "skipped: set SITEWATCH_TEST_PG_URL or --pg-url"
    if isinstance(out["postgis"], dict):
        out["ratio_postgis_over_sqlite_ms"] = {
            k: round(out["postgis"][k]["median_ms"] / max(out["sqlite"][k]["median_ms"], 1e-3), 3)
            for k in ("scene", "site_month", "site_classes", "bbox_count")
        }
    out["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
