"""Access control, sessions, limits and hostile paths."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from sitewatch.api.accounts import split_token
from sitewatch.api.app import create_app
from sitewatch.api.settings import ApiSettings

PASSWORD = "correct horse battery"  # as in conftest.add_users
PARAMS = {
    "site_id": "test-site",
    "scene_id": "scene-00",
    "alert_id": "alert-1",
    "zone_id": "pad",
    "role": "after",
    "z": "19",
    "x": "1",
    "y": "1",
    "name": "viewer",
    "job_id": "abc",
}


def _routes(client: TestClient, method: str) -> list[str]:
    spec = client.get("/api/v1/openapi.json").json()
    return [re.sub(r"\{(\w+)\}", lambda m: PARAMS[m.group(1)], p) for p, ops in spec["paths"].items() if method in ops]


def test_every_route_but_healthz_needs_credentials(client):
    gets = _routes(client, "get")
    assert len(gets) >= 15
    for path in gets:
        r = client.get(path)
        expected = 200 if path.endswith("/healthz") else 401
        assert r.status_code == expected, (path, r.status_code)
    for method in ("post", "put"):
        for path in _routes(client, method):
            if path.endswith("/login"):
                continue
            assert client.request(method.upper(), path, json={}).status_code == 401, path


def _secret(key: str) -> str:
    """The secret part of an issued key (url-safe secrets may themselves contain ``_``)."""
    parts = split_token(key)
    assert parts is not None, key
    return parts[1]


def test_a_wrong_or_malformed_key_is_refused(client, keys):
    prefix_and_id = keys.viewer[: len(keys.viewer) - len(_secret(keys.viewer)) - 1]
    for bad in ("nope", f"{prefix_and_id}_wrongsecret", keys.viewer + "x", "swk__", ""):
        assert client.get("/api/v1/sites", headers={"X-API-Key": bad}).status_code == 401, bad


def test_viewer_cannot_write_anything(client, keys):
    writes = [(m, p) for m in ("post", "put") for p in _routes(client, m) if not p.endswith(("/login", "/logout"))]
    assert len(writes) >= 5
    for method, path in writes:
        r = client.request(method.upper(), path, json={"text": "x"}, headers={"X-API-Key": keys.viewer})
        assert r.status_code == 403, (method, path, r.status_code)


def test_only_admins_manage_accounts(client, keys):
    for key in (keys.viewer, keys.analyst):
        assert client.get("/api/v1/users", headers={"X-API-Key": key}).status_code == 403
        assert client.get("/api/v1/audit", headers={"X-API-Key": key}).status_code == 403
    admin = {"X-API-Key": keys.admin}
    r = client.post(
        "/api/v1/users", json={"name": "newbie", "password": "long enough pw", "role": "viewer"}, headers=admin
    )
    assert r.status_code == 201
    key = client.post("/api/v1/users/newbie/keys", headers=admin).json()["key"]
    assert client.get("/api/v1/me", headers={"X-API-Key": key}).json() == {
        "user": "newbie",
        "role": "viewer",
        "via": "key",
    }
    assert (
        client.post(
            "/api/v1/users", json={"name": "x", "password": "short", "role": "viewer"}, headers=admin
        ).status_code
        == 422
    )
    assert (
        client.post(
            "/api/v1/users", json={"name": "y", "password": "long enough pw", "role": "god"}, headers=admin
        ).status_code
        == 422
    )


def test_writes_are_audited_with_user_and_status(client, keys):
    client.post("/api/v1/alerts/alert-1/comments", json={"text": "audit me"}, headers={"X-API-Key": keys.viewer})
    client.post("/api/v1/alerts/alert-1/comments", json={"text": "audit me"}, headers={"X-API-Key": keys.analyst})
    log = client.get("/api/v1/audit", params={"limit": 2}, headers={"X-API-Key": keys.admin}).json()
    assert [(e["user"], e["path"], e["status"]) for e in log] == [
        ("analyst", "/api/v1/alerts/alert-1/comments", 201),
        ("viewer", "/api/v1/alerts/alert-1/comments", 403),
    ]


def test_passwords_are_stored_as_argon2_hashes(world, keys):
    db = world.url.removeprefix("sqlite:///")
    with sqlite3.connect(db) as conn:
        hashes = [h for (h,) in conn.execute("SELECT password_hash FROM users")]
        digests = [d for (d,) in conn.execute("SELECT digest FROM api_keys")]
    assert hashes and all(h.startswith("$argon2id$") and PASSWORD not in h for h in hashes)
    assert all(_secret(keys.viewer) not in d for d in digests)


def test_login_session_cookie_and_logout(client):
    assert client.post("/api/v1/login", json={"username": "viewer", "password": "wrong password"}).status_code == 401
    assert client.post("/api/v1/login", json={"username": "ghost", "password": PASSWORD}).status_code == 401
    r = client.post("/api/v1/login", json={"username": "viewer", "password": PASSWORD})
    assert r.status_code == 200
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie
    token = r.json()["token"]
    assert client.get("/api/v1/me").json()["via"] == "session"  # the cookie alone
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert client.post("/api/v1/logout").status_code == 204
    client.cookies.clear()
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_cookie_writes_from_another_origin_are_refused(client):
    r = client.post("/api/v1/login", json={"username": "analyst", "password": PASSWORD})
    assert r.status_code == 200
    try:
        evil = client.post(
            "/api/v1/alerts/alert-1/comments", json={"text": "csrf"}, headers={"Origin": "https://evil.example"}
        )
        assert evil.status_code == 403
        same = client.post(
            "/api/v1/alerts/alert-1/comments", json={"text": "ok"}, headers={"Origin": "http://testserver"}
        )
        assert same.status_code == 201
    finally:
        client.post("/api/v1/logout")
        client.cookies.clear()


def test_cors_is_closed_by_default(client, keys):
    r = client.options(
        "/api/v1/sites", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"}
    )
    assert "access-control-allow-origin" not in r.headers
    r = client.get("/api/v1/sites", headers={"Origin": "https://evil.example", "X-API-Key": keys.viewer})
    assert "access-control-allow-origin" not in r.headers


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/scenes/..%2F..%2F..%2Fetc%2Fpasswd/thumbnail.png",
        "/api/v1/scenes/%2Fetc%2Fpasswd/tiles/1/0/0.png",
        "/api/v1/scenes/scene-00/tiles/1/..%2F..%2F/0.png",
        "/api/v1/alerts/alert-1/evidence/..%2F..%2Fetc%2Fpasswd/after.jpg",
        "/api/v1/alerts/alert-1/evidence/pad/..%2Fsecret.jpg",
        "/static/..%2F..%2Fapi%2Fapp.py",
        "/static/../api/app.py",
        "/static/vendor/..%2F..%2F..%2Fapi%2Fapp.py",
        "/static/vendor/%2Fetc%2Fpasswd",
    ],
)
def test_path_traversal_is_rejected(client, keys, path):
    r = client.get(path, headers={"X-API-Key": keys.viewer})
    assert r.status_code in (404, 422), (path, r.status_code)
    assert b"root:" not in r.content and b"create_app" not in r.content


def test_a_missing_image_is_reported_without_server_paths(world, keys, tmp_path):
    import shutil

    from sitewatch.store import open_store

    # A copy of the world whose scene file disappeared after ingest.
    store = open_store(world.url)
    scene = store.get_scene("scene-00")
    store.close()
    app = create_app(world.url)
    moved = tmp_path / "moved.tif"
    shutil.move(scene.uri, moved)
    try:
        with TestClient(app) as c:
            r = c.get("/api/v1/scenes/scene-00/thumbnail.png", headers={"X-API-Key": keys.viewer})
    finally:
        shutil.move(moved, scene.uri)
    assert r.status_code == 502
    assert "file not found" in r.json()["detail"] and scene.uri not in r.text


@pytest.fixture()
def strict(world, keys) -> Iterator[TestClient]:
    app = create_app(world.url, settings=ApiSettings(max_body_bytes=2_000, rate_per_second=0.01, rate_burst=3))
    with TestClient(app) as c:
        yield c


def test_oversize_bodies_are_rejected(strict, keys):
    big = {"type": "FeatureCollection", "features": [], "pad": "x" * 5_000}
    r = strict.post("/api/v1/sites", json=big, headers={"X-API-Key": keys.analyst})
    assert r.status_code == 413 and "2000 bytes" in r.json()["detail"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit must count streamed bytes
        for _ in range(10):
            yield b"x" * 500

    r = strict.post(
        "/api/v1/sites", content=chunks(), headers={"X-API-Key": keys.analyst, "Content-Type": "application/json"}
    )
    assert r.status_code == 413


def test_rate_limit_per_key(strict, keys):
    codes = [strict.get("/api/v1/me", headers={"X-API-Key": keys.viewer}).status_code for _ in range(5)]
    assert codes == [200, 200, 200, 429, 429]
    # Another credential has its own bucket.
    assert strict.get("/api/v1/me", headers={"X-API-Key": keys.admin}).status_code == 200


def test_secrets_never_reach_logs_or_the_audit_trail(client, keys, caplog, capfd):
    """Passwords, API keys and session tokens appear in no log record, output or audit entry."""
    import logging

    admin = {"X-API-Key": keys.admin}
    new_password = "a fresh long passphrase"
    with caplog.at_level(logging.DEBUG):
        client.post("/api/v1/users", json={"name": "logme", "password": new_password, "role": "analyst"}, headers=admin)
        new_key = client.post("/api/v1/users/logme/keys", headers=admin).json()["key"]
        client.post("/api/v1/alerts/alert-1/comments", json={"text": "hi"}, headers={"X-API-Key": new_key})
        client.get("/api/v1/sites", headers={"X-API-Key": new_key + "x"})  # a refused key is not logged either
        login = client.post("/api/v1/login", json={"username": "logme", "password": new_password})
        token = login.json()["token"]
        client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
        client.post("/api/v1/login", json={"username": "logme", "password": "wrong " + new_password})
        client.post("/api/v1/logout")
        client.cookies.clear()
        audit = client.get("/api/v1/audit", params={"limit": 50}, headers=admin).text
    out, err = capfd.readouterr()
    logged = "\n".join(r.getMessage() for r in caplog.records) + out + err + audit
    assert "logme" in audit  # the trail did record these requests
    for secret in (new_password, new_key, _secret(new_key), token, _secret(keys.admin)):
        assert secret not in logged
