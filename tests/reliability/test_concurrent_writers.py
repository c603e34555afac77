"""Two `sitewatch ingest` processes and the API write one store at once: nothing is lost.

While two CLI processes ingest different folders, two threads call the API's write
endpoints through one client: one comments on an alert, the other imports new sites whose
AOI covers every scene (so site linking races scene linking). On SQLite (WAL, busy timeout,
BEGIN retried) and on PostGIS when ``SITEWATCH_TEST_PG_URL`` is set, every command must exit
0 without "database is locked", every request must answer 2xx, and the store must end with
every scene once, every scene linked to every site, every comment and one audit entry per
write request.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from sitewatch.api.accounts import Accounts
from sitewatch.model import Alert, Site
from sitewatch.sites.geojson import sites_to_geojson
from sitewatch.store import open_store

from ..api.conftest import add_users
from ..store.conftest import db_url  # noqa: F401  (the sqlite/postgis store fixture)
from .conftest import archive_site, write_scene

PER_FOLDER = 12
ALERT = "alert-tiny-1"


def _alert() -> Alert:
    return Alert(ALERT, "tiny", dt.date(2024, 1, 1), dt.date(2024, 1, 2), 3.0, "medium", ("west",), ("car",), "test")


def _until_done(procs: list[subprocess.Popen[bytes]], minimum: int) -> Iterator[int]:
    """0, 1, 2, ... while any process runs, and at least ``minimum`` times."""
    i = 0
    while i < minimum or any(p.poll() is None for p in procs):
        yield i
        i += 1


def test_two_cli_ingests_and_the_api_write_at_once(db_url: str, tmp_path: Path) -> None:  # noqa: F811
    from sitewatch.api.app import create_app
    from sitewatch.api.settings import ApiSettings

    folders = {"a": tmp_path / "a", "b": tmp_path / "b"}
    for n, (prefix, folder) in enumerate(folders.items()):
        folder.mkdir()
        for i in range(PER_FOLDER):
            write_scene(folder, 100 * n + i, prefix=prefix)  # distinct content in each folder
    site = archive_site()
    with open_store(db_url) as store:
        store.upsert_site(site)
        store.replace_alerts("tiny", [_alert()])
    analyst = add_users(db_url).analyst
    app = create_app(db_url, settings=ApiSettings(rate_per_second=1e6, rate_burst=10**6))

    statuses: list[int] = []
    comments: list[str] = []
    in_flight: list[tuple[dt.datetime, dt.datetime]] = []  # when each API write was sent and answered
    new_sites: list[str] = []
    headers = {"X-API-Key": analyst}
    with TestClient(app) as client:
        cmd = [sys.executable, "-m", "sitewatch.cli.main", "ingest", "--db", db_url, "--json"]
        procs = [
            subprocess.Popen([*cmd, str(f)], stdout=subprocess.PIPE, stderr=subprocess.PIPE) for f in folders.values()
        ]

        def post(path: str, body: dict[str, Any]) -> None:
            """One API write, its status and when it was in flight recorded."""
            sent = dt.datetime.now(dt.UTC)
            r = client.post(f"/api/v1{path}", json=body, headers=headers)
            in_flight.append((sent, dt.datetime.now(dt.UTC)))
            statuses.append(r.status_code)

        def comment() -> None:
            for i in _until_done(procs, 5):
                text = f"note {i}"
                post(f"/alerts/{ALERT}/comments", {"text": text})
                comments.append(text)

        def import_sites() -> None:
            for i in _until_done(procs, 3):
                twin = Site(f"api-{i}", f"API site {i}", site.aoi, simulated=True)
                post("/sites", sites_to_geojson([twin]))
                new_sites.append(twin.id)

        writers: list[Callable[[], None]] = [comment, import_sites]
        threads = [threading.Thread(target=w) for w in writers]
        for t in threads:
            t.start()
        outs = [p.communicate(timeout=300) for p in procs]
        for t in threads:
            t.join(timeout=300)

    errors = [err.decode() for _, err in outs]
    assert [p.returncode for p in procs] == [0, 0], errors
    assert not any("locked" in e.lower() for e in errors), errors
    assert [json.loads(out)["added"] for out, _ in outs] == [PER_FOLDER, PER_FOLDER]
    assert statuses and all(200 <= s < 300 for s in statuses), sorted(set(statuses))

    with open_store(db_url) as store:
        scenes = store.list_scenes()
        expected_ids = sorted(f"{p}{100 * n + i:03d}" for n, p in enumerate(folders) for i in range(PER_FOLDER))
        assert sorted(s.id for s in scenes) == expected_ids
        every_site = sorted(["tiny", *new_sites])
        assert sorted(s.id for s in store.list_sites()) == every_site
        unlinked = {s.id: sorted(set(every_site) ^ set(store.scene_site_ids(s.id))) for s in scenes}
        unlinked = {k: v for k, v in unlinked.items() if v}
        assert unlinked == {}, unlinked
        ingests = store.list_runs("ingest")
    accounts = Accounts(db_url)
    try:
        notes = accounts.notes([ALERT])[ALERT]
        assert sorted(n.text for n in notes) == sorted(comments)
        writes = [e for e in accounts.list_audit(limit=10_000) if e.method == "POST"]
        assert len(writes) == len(statuses)
    finally:
        accounts.close()
    # Not vacuous: API writes were in flight while the CLI processes were writing. A note's
    # time is taken before its transaction waits for the lock, so a request that waited out
    # a whole ingest carries a time before it: compare request spans, not note times.
    first, last = min(r.started for r in ingests), max(r.finished for r in ingests if r.finished)
    assert any(sent <= last and first <= answered for sent, answered in in_flight), (first, last, in_flight)
