"""Jobs over the API: analyze, detect and ingest run in the background and report progress."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Iterator

import numpy as np
import pytest
from fastapi.testclient import TestClient

from sitewatch.api.app import create_app
from sitewatch.api.settings import ApiSettings
from sitewatch.store import open_store

from .conftest import Keys, World, add_users, build_world, write_scene


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, World, Keys]]:
    root = tmp_path_factory.mktemp("jobs")
    world = build_world(root, n_scenes=6, seed=3)
    keys = add_users(world.url)
    inbox = root / "inbox"
    inbox.mkdir()
    write_scene(inbox / "new.tif", np.random.default_rng(9))
    sidecar = {
        "sitewatch_sidecar": 1,
        "id": "new",
        "acquired": "2024-06-01T02:00:00Z",
        "sensor": "WorldView-3",
        "simulated": True,
    }
    (inbox / "new.json").write_text(json.dumps(sidecar))
    app = create_app(world.url, settings=ApiSettings(ingest_root=str(inbox), rate_per_second=1000, rate_burst=1000))
    with TestClient(app) as client:
        yield client, world, keys


def _wait(client: TestClient, key: str, job_id: str, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/api/v1/jobs/{job_id}", headers={"X-API-Key": key}).json()
        if job["status"] in ("done", "failed"):
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} still {job['status']} after {timeout} s")


def test_analyze_job_runs_the_pipeline(setup):
    client, world, keys = setup
    # Counts rewritten behind the server's back, then served (and so cached by the worker).
    with open_store(world.url) as store:
        stale = [dataclasses.replace(c, raw=999) for c in store.list_counts(world.site.id)]
        store.replace_counts(world.site.id, stale)
    counts_path, h = f"/api/v1/sites/{world.site.id}/counts", {"X-API-Key": keys.viewer}
    assert 999 in [p["raw"] for s in client.get(counts_path, headers=h).json() for p in s["points"]]
    r = client.post(
        "/api/v1/jobs", json={"kind": "analyze", "site_ids": [world.site.id]}, headers={"X-API-Key": keys.analyst}
    )
    assert r.status_code == 202 and r.json()["status"] in ("queued", "running", "done")
    job = _wait(client, keys.viewer, r.json()["id"])
    assert job["status"] == "done", job["error"]
    assert job["user"] == "analyst" and job["done"] == job["total"] > 0
    assert job["result"]["sites"] == 1 and job["result"]["scenes"] == len(world.scenes)
    runs = [j["id"] for j in client.get("/api/v1/jobs", headers={"X-API-Key": keys.viewer}).json()]
    assert job["id"] in runs
    # The job's counts are served as soon as it reads as done, not the cached ones from before it.
    served = sorted(
        (s["zone_id"], s["cls"], p["scene_id"], p["raw"])
        for s in client.get(counts_path, headers=h).json()
        for p in s["points"]
    )
    with open_store(world.url) as store:
        stored = sorted((c.zone_id, c.cls, c.scene_id, c.raw) for c in store.list_counts(world.site.id))
    assert served == stored and 999 not in [raw for *_, raw in served]


def test_detect_job_with_the_simple_detector(setup):
    client, world, keys = setup
    r = client.post("/api/v1/jobs", json={"kind": "detect", "detector": "simple"}, headers={"X-API-Key": keys.analyst})
    job = _wait(client, keys.viewer, r.json()["id"])
    assert job["status"] == "done", job["error"]
    assert job["result"]["scenes"] == len(world.scenes) and job["result"]["detector"].startswith("simple")


def test_ingest_job_reads_only_inside_the_ingest_root(setup):
    client, _, keys = setup
    h = {"X-API-Key": keys.analyst}
    job = _wait(
        client,
        keys.viewer,
        client.post("/api/v1/jobs", json={"kind": "ingest", "paths": ["new.tif"]}, headers=h).json()["id"],
    )
    assert job["status"] == "done", job["error"]
    assert (job["result"]["added"], job["result"]["failed"]) == (1, 0), job["result"]
    scenes = client.get("/api/v1/scenes", params={"site_id": "test-site"}, headers=h).json()
    assert "new" in [sc["id"] for sc in scenes]
    for bad in (["../store.db"], ["/etc/passwd"], ["missing.tif"], []):
        r = client.post("/api/v1/jobs", json={"kind": "ingest", "paths": bad}, headers=h)
        assert r.status_code == 400, (bad, r.text)


def test_jobs_need_an_analyst_and_known_sites(setup):
    client, _, keys = setup
    r = client.post("/api/v1/jobs", json={"kind": "analyze"}, headers={"X-API-Key": keys.viewer})
    assert r.status_code == 403
    r = client.post("/api/v1/jobs", json={"kind": "analyze", "site_ids": ["nope"]}, headers={"X-API-Key": keys.analyst})
    assert r.status_code == 404
    r = client.post(
        "/api/v1/jobs", json={"kind": "detect", "detector": "/tmp/evil.onnx"}, headers={"X-API-Key": keys.analyst}
    )
    assert r.status_code == 422  # only the bundled detectors, by name
    assert client.get("/api/v1/jobs/nope", headers={"X-API-Key": keys.viewer}).status_code == 404


def test_ingest_is_off_without_a_root(world, keys):
    with TestClient(create_app(world.url)) as client:
        r = client.post(
            "/api/v1/jobs", json={"kind": "ingest", "paths": ["x.tif"]}, headers={"X-API-Key": keys.analyst}
        )
    assert r.status_code == 400 and "--ingest-root" in r.json()["detail"]
