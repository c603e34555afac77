"""The SQLAlchemy store: SQLite (WAL) by default, PostGIS by URL.

Every public method is one transaction. On SQLite, writes take the write lock up front
(``BEGIN IMMEDIATE``) so concurrent writers wait on ``busy_timeout`` (and BEGIN is retried
with backoff beyond it) instead of failing half-way, and readers keep reading their WAL
snapshot meanwhile. On PostgreSQL, write transactions take one transaction-scoped advisory
lock, which gives the same one-writer semantics (the check-then-insert of ``add_scene`` and
``upsert_site`` cannot race) while readers never wait.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.util import CommandError
from shapely.geometry.base import BaseGeometry
from sqlalchemy import Connection, Engine, Row, create_engine, delete, event, func, insert, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from sitewatch.errors import NotFoundError, StoreError
from sitewatch.model import Alert, Baseline, Count, Detection, Event, Hypothesis, Scene, Site, Zone
from sitewatch.store import schema as t
from sitewatch.store.base import RunRecord

MIGRATIONS = Path(__file__).with_name("migrations")
#: How long (ms) an SQLite writer waits for another one before giving up.
BUSY_TIMEOUT_MS = 30_000
#: Tries at BEGIN on SQLite, each waiting up to ``BUSY_TIMEOUT_MS``, before the error is raised.
BEGIN_ATTEMPTS = 5
#: Pause (s) before the second try, doubled before each later one.
BEGIN_BACKOFF_S = 0.05
#: Key of the PostgreSQL advisory lock that serialises sitewatch writers ("sitewatc" in ASCII).
PG_WRITE_LOCK = 0x7369746577617463


class SqlStore:
    """:class:`sitewatch.store.base.Store` over SQLAlchemy Core."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._engine = make_engine(url)
        try:
            with self._tx(write=True) as conn:
                _migrate(conn)
        except StoreError:
            self._engine.dispose()
            raise
        except SQLAlchemyError as exc:
            self._engine.dispose()
            raise StoreError(
                f"cannot open or migrate the store ({_first_line(exc)})",
                path=_display(url),
                fix="check the --db path/URL and that the file is a sitewatch database",
            ) from exc
        except CommandError as exc:
            self._engine.dispose()
            raise StoreError(
                f"the database schema is not one this version knows ({_first_line(exc)})",
                path=_display(url),
                fix="upgrade sitewatch, or point --db at another database",
            ) from exc

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> SqlStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SqlStore({_display(self.url)!r})"

    @contextlib.contextmanager
    def _tx(self, *, write: bool = False) -> Iterator[Connection]:
        conn = self._engine.connect()
        if write:
            conn = conn.execution_options(sqlite_begin="IMMEDIATE")
        try:
            with conn.begin():
                if write and conn.dialect.name == "postgresql":
                    conn.execute(select(func.pg_advisory_xact_lock(PG_WRITE_LOCK)))
                yield conn
        except OperationalError as exc:
            raise StoreError(
                f"database error ({_first_line(exc)})",
                path=_display(self.url),
                fix="retry; if another process holds a long write lock, wait for it to finish",
            ) from exc
        finally:
            conn.close()

    # -- sites ---------------------------------------------------------------
    def upsert_site(self, site: Site) -> None:
        with self._tx(write=True) as conn:
            row = _site_row(site)
            exists = conn.execute(select(t.sites.c.id).where(t.sites.c.id == site.id)).first()
            if exists:
                conn.execute(update(t.sites).where(t.sites.c.id == site.id).values(row))
            else:
                conn.execute(insert(t.sites).values(row))
            conn.execute(delete(t.zones).where(t.zones.c.site_id == site.id))
            if site.zones:
                conn.execute(insert(t.zones), [_zone_row(site.id, i, z) for i, z in enumerate(site.zones)])
            # Scenes ingested before the site existed still cover it: link them now.
            _link_scenes_to_site(conn, site)

    def get_site(self, site_id: str) -> Site:
        with self._tx() as conn:
            row = conn.execute(select(t.sites).where(t.sites.c.id == site_id)).first()
            if row is None:
                raise NotFoundError(f"no site {site_id!r} in the store", fix="run `sitewatch sites list` to see ids")
            return _site_from_rows(row, _zone_rows(conn, [site_id]).get(site_id, []))

    def list_sites(self) -> list[Site]:
        with self._tx() as conn:
            rows = conn.execute(select(t.sites).order_by(t.sites.c.id)).all()
            zones = _zone_rows(conn, [r.id for r in rows])
            return [_site_from_rows(r, zones.get(r.id, [])) for r in rows]

    # -- scenes --------------------------------------------------------------
    def add_scene(self, scene: Scene, site_ids: Sequence[str]) -> bool:
        with self._tx(write=True) as conn:
            known = conn.execute(select(t.scenes.c.id).where(t.scenes.c.content_hash == scene.content_hash)).first()
            if known:
                return False
            if conn.execute(select(t.scenes.c.id).where(t.scenes.c.id == scene.id)).first():
                raise StoreError(
                    f"scene id {scene.id!r} is already used by an image with different content",
                    path=scene.uri,
                    fix="give this image its own id in its sidecar JSON",
                )
            _check_sites(conn, site_ids)
            conn.execute(insert(t.scenes).values(_scene_row(scene)))
            # Also every site stored now that the scene covers: one imported by another
            # process after the caller listed the sites would otherwise never be linked.
            linked = dict.fromkeys([*site_ids, *_sites_covering(conn, scene.footprint)])
            if linked:
                conn.execute(insert(t.scene_sites), [{"scene_id": scene.id, "site_id": s} for s in linked])
            return True

    def get_scene(self, scene_id: str) -> Scene:
        with self._tx() as conn:
            row = conn.execute(select(t.scenes).where(t.scenes.c.id == scene_id)).first()
            if row is None:
                raise NotFoundError(f"no scene {scene_id!r} in the store", fix="ingest it with `sitewatch ingest`")
            return _scene_from_row(row)

    def list_scenes(
        self, site_id: str | None = None, start: dt.datetime | None = None, end: dt.datetime | None = None
    ) -> list[Scene]:
        q = select(t.scenes).order_by(t.scenes.c.acquired, t.scenes.c.id)
        if site_id is not None:
            q = q.join(t.scene_sites, t.scene_sites.c.scene_id == t.scenes.c.id).where(
                t.scene_sites.c.site_id == site_id
            )
        if start is not None:
            q = q.where(t.scenes.c.acquired >= start)
        if end is not None:
            q = q.where(t.scenes.c.acquired <= end)
        with self._tx() as conn:
            return [_scene_from_row(r) for r in conn.execute(q)]

    def scene_site_ids(self, scene_id: str) -> list[str]:
        """Sites a scene covers (linked at ingest or when the site was imported)."""
        q = (
            select(t.scene_sites.c.site_id)
            .where(t.scene_sites.c.scene_id == scene_id)
            .order_by(t.scene_sites.c.site_id)
        )
        with self._tx() as conn:
            return list(conn.scalars(q))

    # -- detections ----------------------------------------------------------
    def replace_detections(self, scene_id: str, detector: str, detections: Iterable[Detection]) -> int:
        with self._tx(write=True) as conn:
            if not conn.execute(select(t.scenes.c.id).where(t.scenes.c.id == scene_id)).first():
                raise NotFoundError(f"no scene {scene_id!r} in the store", fix="ingest it before detecting")
            where = (t.detections.c.scene_id == scene_id) & (t.detections.c.detector == detector)
            conn.execute(delete(t.detections).where(where))
            rows = [_detection_row(d, scene_id, detector) for d in detections]
            if rows:
                conn.execute(insert(t.detections), rows)
            run_key = (t.detection_runs.c.scene_id == scene_id) & (t.detection_runs.c.detector == detector)
            conn.execute(delete(t.detection_runs).where(run_key))
            conn.execute(
                insert(t.detection_runs).values(scene_id=scene_id, detector=detector, completed=_now(), n=len(rows))
            )
            return len(rows)

    def list_detections(
        self,
        *,
        scene_id: str | None = None,
        site_id: str | None = None,
        classes: Sequence[str] | None = None,
        start: dt.datetime | None = None,
        end: dt.datetime | None = None,
        detector: str | None = None,
    ) -> list[Detection]:
        d = t.detections.c
        q = select(t.detections).order_by(d.scene_id, d.id)
        if scene_id is not None:
            q = q.where(d.scene_id == scene_id)
        if site_id is not None:
            q = q.where(d.site_id == site_id)
        if classes is not None:
            q = q.where(d.cls.in_(list(classes)))
        if detector is not None:
            q = q.where(d.detector == detector)
        if start is not None or end is not None:
            q = q.join(t.scenes, t.scenes.c.id == d.scene_id)
            if start is not None:
                q = q.where(t.scenes.c.acquired >= start)
            if end is not None:
                q = q.where(t.scenes.c.acquired <= end)
        with self._tx() as conn:
            return [_detection_from_row(r) for r in conn.execute(q)]

    def detected_scene_ids(self, detector: str) -> set[str]:
        q = select(t.detection_runs.c.scene_id).where(t.detection_runs.c.detector == detector)
        with self._tx() as conn:
            return set(conn.scalars(q))

    # -- counts --------------------------------------------------------------
    def replace_counts(self, site_id: str, counts: Iterable[Count]) -> int:
        with self._tx(write=True) as conn:
            _check_sites(conn, [site_id])
            conn.execute(delete(t.counts).where(t.counts.c.site_id == site_id))
            rows = [_count_row(c, site_id) for c in counts]
            if rows:
                conn.execute(insert(t.counts), rows)
            return len(rows)

    def list_counts(self, site_id: str, zone_id: str | None = None, cls: str | None = None) -> list[Count]:
        c = t.counts.c
        q = select(t.counts).where(c.site_id == site_id).order_by(c.date, c.zone_id, c.cls, c.scene_id)
        if zone_id is not None:
            q = q.where(c.zone_id == zone_id)
        if cls is not None:
            q = q.where(c.cls == cls)
        with self._tx() as conn:
            return [Count(**_cols(r, _COUNT_FIELDS)) for r in conn.execute(q)]

    def replace_baselines(self, site_id: str, baselines: Iterable[Baseline]) -> int:
        with self._tx(write=True) as conn:
            _check_sites(conn, [site_id])
            conn.execute(delete(t.baselines).where(t.baselines.c.site_id == site_id))
            rows = [_baseline_row(b, site_id) for b in baselines]
            if rows:
                conn.execute(insert(t.baselines), rows)
            return len(rows)

    def list_baselines(self, site_id: str, zone_id: str | None = None, cls: str | None = None) -> list[Baseline]:
        c = t.baselines.c
        q = select(t.baselines).where(c.site_id == site_id).order_by(c.zone_id, c.cls, c.date)
        if zone_id is not None:
            q = q.where(c.zone_id == zone_id)
        if cls is not None:
            q = q.where(c.cls == cls)
        with self._tx() as conn:
            return [Baseline(**_cols(r, _BASELINE_FIELDS)) for r in conn.execute(q)]

    # -- events --------------------------------------------------------------
    def upsert_events(self, events: Iterable[Event]) -> int:
        rows = {e.id: _event_row(e) for e in events}
        with self._tx(write=True) as conn:
            if rows:
                conn.execute(delete(t.events).where(t.events.c.id.in_(list(rows))))
                conn.execute(insert(t.events), list(rows.values()))
            return len(rows)

    def list_events(self, site_id: str | None = None) -> list[Event]:
        q = select(t.events).order_by(t.events.c.date, t.events.c.id)
        if site_id is not None:
            q = q.where(t.events.c.site_id == site_id)
        with self._tx() as conn:
            return [Event(**_cols(r, _EVENT_FIELDS)) for r in conn.execute(q)]

    # -- alerts --------------------------------------------------------------
    def replace_alerts(self, site_id: str, alerts: Iterable[Alert]) -> int:
        with self._tx(write=True) as conn:
            _check_sites(conn, [site_id])
            conn.execute(delete(t.alerts).where(t.alerts.c.site_id == site_id))
            rows = [_alert_row(a, site_id) for a in alerts]
            if rows:
                conn.execute(insert(t.alerts), rows)
            return len(rows)

    def list_alerts(self, site_id: str | None = None) -> list[Alert]:
        q = select(t.alerts).order_by(t.alerts.c.start, t.alerts.c.id)
        if site_id is not None:
            q = q.where(t.alerts.c.site_id == site_id)
        with self._tx() as conn:
            return [_alert_from_row(r) for r in conn.execute(q)]

    def get_alert(self, alert_id: str) -> Alert:
        with self._tx() as conn:
            row = conn.execute(select(t.alerts).where(t.alerts.c.id == alert_id)).first()
        if row is None:
            raise NotFoundError(f"no alert {alert_id!r} in the store", fix="run `sitewatch analyze` to make alerts")
        return _alert_from_row(row)

    # -- provenance ----------------------------------------------------------
    def record_run(self, run: RunRecord) -> None:
        row = {"id": run.id, "kind": run.kind, "started": run.started, "finished": run.finished, "params": run.params}
        with self._tx(write=True) as conn:
            conn.execute(delete(t.runs).where(t.runs.c.id == run.id))
            conn.execute(insert(t.runs).values(row))

    def list_runs(self, kind: str | None = None) -> list[RunRecord]:
        q = select(t.runs).order_by(t.runs.c.started, t.runs.c.id)
        if kind is not None:
            q = q.where(t.runs.c.kind == kind)
        with self._tx() as conn:
            return [RunRecord(r.id, r.kind, r.started, r.finished, dict(r.params)) for r in conn.execute(q)]


# -- engine and migrations ------------------------------------------------------


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets WAL, a busy timeout, foreign keys and explicit BEGIN."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy (not the sqlite3 module) decide when transactions begin, so DDL and
        # BEGIN IMMEDIATE behave; then set the pragmas every connection needs.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA journal_mode = WAL")
        cur.execute("PRAGMA synchronous = NORMAL")
        cur.execute("PRAGMA foreign_keys = ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        _begin_sqlite(conn, conn.get_execution_options().get("sqlite_begin", "DEFERRED"))

    return engine


def _begin_sqlite(conn: Connection, mode: str) -> None:
    """``BEGIN <mode>``, tried again with backoff while SQLite reports the database busy.

    The busy timeout covers the usual wait for another writer, but SQLite returns
    SQLITE_BUSY without waiting in some cases (e.g. while another connection recovers the
    WAL after a crash), and a writer may hold the lock past the timeout. Only BEGIN is
    retried: with ``BEGIN IMMEDIATE`` it is where a write transaction waits for the lock, and
    nothing has run yet, so trying again is safe.
    """
    for attempt in range(BEGIN_ATTEMPTS):
        try:
            conn.exec_driver_sql(f"BEGIN {mode}")
            return
        except OperationalError as exc:
            if attempt == BEGIN_ATTEMPTS - 1 or not _is_busy(exc):
                raise
        _retry_sleep(BEGIN_BACKOFF_S * 2**attempt)


def _is_busy(exc: OperationalError) -> bool:
    text = str(exc.orig).lower()
    return "database is locked" in text or "database is busy" in text


def _retry_sleep(seconds: float) -> None:
    """Pause between BEGIN tries (a function of its own so tests can step in)."""
    time.sleep(seconds)


def _migrate(conn: Connection) -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = conn
    command.upgrade(cfg, "head")


def _display(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _check_sites(conn: Connection, site_ids: Sequence[str]) -> None:
    wanted = set(site_ids)
    if not wanted:
        return
    found = set(conn.scalars(select(t.sites.c.id).where(t.sites.c.id.in_(wanted))))
    missing = sorted(wanted - found)
    if missing:
        raise NotFoundError(
            f"unknown site id(s) {', '.join(missing)}", fix="import the sites first with `sitewatch sites import`"
        )


def _sites_covering(conn: Connection, footprint: BaseGeometry) -> list[str]:
    """Ids of the stored sites whose AOI ``footprint`` intersects (the test ``upsert_site`` links by)."""
    if footprint.is_empty:
        return []
    s = t.sites.c
    minx, miny, maxx, maxy = footprint.bounds
    bbox_hit = (s.minx <= maxx) & (s.maxx >= minx) & (s.miny <= maxy) & (s.maxy >= miny)
    rows = conn.execute(select(s.id, s.aoi).where(bbox_hit).order_by(s.id)).all()
    return [r.id for r in rows if footprint.intersects(r.aoi)]


def _link_scenes_to_site(conn: Connection, site: Site) -> None:
    s = t.scenes.c
    minx, miny, maxx, maxy = site.aoi.bounds
    bbox_hit = (s.minx <= maxx) & (s.maxx >= minx) & (s.miny <= maxy) & (s.maxy >= miny)
    linked = select(t.scene_sites.c.scene_id).where(t.scene_sites.c.site_id == site.id)
    candidates = conn.execute(select(s.id, s.footprint).where(bbox_hit).where(s.id.not_in(linked))).all()
    new = [{"scene_id": r.id, "site_id": site.id} for r in candidates if r.footprint.intersects(site.aoi)]
    if new:
        conn.execute(insert(t.scene_sites), new)


# -- rows <-> model objects -----------------------------------------------------------


def _bbox(geom: BaseGeometry) -> dict[str, float | None]:
    if geom.is_empty:
        return {"minx": None, "miny": None, "maxx": None, "maxy": None}
    minx, miny, maxx, maxy = geom.bounds
    return {"minx": minx, "miny": miny, "maxx": maxx, "maxy": maxy}


def _cols(row: Row[Any], names: Sequence[str]) -> dict[str, Any]:
    m = row._mapping
    return {n: m[n] for n in names}


def _site_row(site: Site) -> dict[str, Any]:
    return {
        "id": site.id,
        "name": site.name,
        "country": site.country,
        "description": site.description,
        "simulated": site.simulated,
        "aoi": site.aoi,
        **_bbox(site.aoi),
    }


def _zone_row(site_id: str, position: int, z: Zone) -> dict[str, Any]:
    return {
        "site_id": site_id,
        "id": z.id,
        "name": z.name,
        "kind": z.kind,
        "geometry": z.geometry,
        "position": position,
    }


def _zone_rows(conn: Connection, site_ids: Sequence[str]) -> dict[str, list[Row[Any]]]:
    out: dict[str, list[Row[Any]]] = {}
    if not site_ids:
        return out
    q = select(t.zones).where(t.zones.c.site_id.in_(list(site_ids))).order_by(t.zones.c.site_id, t.zones.c.position)
    for r in conn.execute(q):
        out.setdefault(r.site_id, []).append(r)
    return out


def _site_from_rows(row: Row[Any], zone_rows: Sequence[Row[Any]]) -> Site:
    zones = tuple(Zone(z.id, z.name, z.kind, z.geometry) for z in zone_rows)
    return Site(row.id, row.name, row.aoi, zones, row.country, row.description, bool(row.simulated))


_SCENE_FIELDS = (
    "id",
    "uri",
    "acquired",
    "sensor",
    "gsd",
    "crs",
    "footprint",
    "valid",
    "content_hash",
    "width",
    "height",
    "bands",
    "off_nadir",
    "sun_elevation",
    "sun_azimuth",
    "cloud_cover",
    "simulated",
)


def _scene_row(scene: Scene) -> dict[str, Any]:
    row = {n: getattr(scene, n) for n in _SCENE_FIELDS}
    return {**row, "extra": dict(scene.extra), **_bbox(scene.footprint)}


def _scene_from_row(row: Row[Any]) -> Scene:
    values = _cols(row, _SCENE_FIELDS)
    values["simulated"] = bool(values["simulated"])
    return Scene(**values, extra=dict(row.extra or {}))


def _detection_row(d: Detection, scene_id: str, detector: str) -> dict[str, Any]:
    if d.scene_id != scene_id or d.detector != detector:
        raise ValueError(
            f"detection of {d.scene_id!r} by {d.detector!r} passed to replace_detections({scene_id!r}, {detector!r})"
        )
    x0, y0, x1, y1 = d.box
    return {
        "scene_id": scene_id,
        "detector": detector,
        "cls": d.cls,
        "score": d.score,
        "x0": x0,
        "y0": y0,
        "x1": x1,
        "y1": y1,
        "geometry": d.geometry,
        "site_id": d.site_id,
        "zone_id": d.zone_id,
        **_bbox(d.geometry),
    }


def _detection_from_row(r: Row[Any]) -> Detection:
    return Detection(r.scene_id, r.cls, r.score, (r.x0, r.y0, r.x1, r.y1), r.geometry, r.detector, r.site_id, r.zone_id)


_COUNT_FIELDS = (
    "site_id",
    "zone_id",
    "cls",
    "date",
    "scene_id",
    "raw",
    "observed_fraction",
    "estimate",
    "lo",
    "hi",
    "sufficient",
)


def _count_row(c: Count, site_id: str) -> dict[str, Any]:
    if c.site_id != site_id:
        raise ValueError(f"count of site {c.site_id!r} passed to replace_counts({site_id!r})")
    return {n: getattr(c, n) for n in _COUNT_FIELDS}


_BASELINE_FIELDS = ("site_id", "zone_id", "cls", "date", "expected", "lo", "hi")


def _baseline_row(b: Baseline, site_id: str) -> dict[str, Any]:
    if b.site_id != site_id:
        raise ValueError(f"baseline of site {b.site_id!r} passed to replace_baselines({site_id!r})")
    return {n: getattr(b, n) for n in _BASELINE_FIELDS}


_EVENT_FIELDS = ("id", "date", "kind", "source", "site_id", "facility", "lat", "lon", "description", "simulated")


def _event_row(e: Event) -> dict[str, Any]:
    return {n: getattr(e, n) for n in _EVENT_FIELDS}


def _alert_row(a: Alert, site_id: str) -> dict[str, Any]:
    if a.site_id != site_id:
        raise ValueError(f"alert of site {a.site_id!r} passed to replace_alerts({site_id!r})")
    return {
        "id": a.id,
        "site_id": a.site_id,
        "start": a.start,
        "end": a.end,
        "score": a.score,
        "severity": a.severity,
        "zones": list(a.zones),
        "classes": list(a.classes),
        "explanation": a.explanation,
        "evidence": list(a.evidence),
        "hypotheses": [{"name": h.name, "confidence": h.confidence, "rationale": h.rationale} for h in a.hypotheses],
        "caveats": list(a.caveats),
        "status": a.status,
    }


def _alert_from_row(r: Row[Any]) -> Alert:
    return Alert(
        id=r.id,
        site_id=r.site_id,
        start=r.start,
        end=r.end,
        score=r.score,
        severity=r.severity,
        zones=tuple(r.zones),
        classes=tuple(r.classes),
        explanation=r.explanation,
        evidence=tuple(r.evidence),
        hypotheses=tuple(Hypothesis(**h) for h in r.hypotheses),
        caveats=tuple(r.caveats),
        status=r.status,
    )
