"""The report renders in headless Chromium without a single request from the page."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="chromium is not installed"),
]


def _render(page: Path, tmp: Path) -> tuple[str, list[str]]:
    """The DOM Chromium builds from ``page`` and the URLs the page itself requested."""
    net_log = tmp / "net.json"
    dom = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={tmp / 'profile'}",
            f"--log-net-log={net_log}",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=180,
        check=True,
    ).stdout
    log = json.loads(net_log.read_text())
    start_job = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    # The browser's own background requests have no page origin ("not an origin"); a file://
    # page's requests carry its opaque origin ("null").
    requested = [
        e["params"]["url"]
        for e in log["events"]
        if e["type"] == start_job and e.get("params", {}).get("initiator", "not an origin") != "not an origin"
    ]
    return dom, requested


def test_report_renders_offline(sim_report, tmp_path: Path) -> None:
    page = tmp_path / "site.html"
    page.write_text(sim_report[1], encoding="utf-8")
    dom, requested = _render(page, tmp_path / "ok")
    assert requested == []
    assert 'id="simulated-banner"' in dom and "Provenance" in dom
    assert dom.count("<img") == sim_report[1].count("<img")


def test_request_check_catches_a_remote_image(sim_report, tmp_path: Path) -> None:
    page = tmp_path / "bad.html"
    page.write_text(sim_report[1].replace("<body>", '<body><img src="http://127.0.0.1:9/x.png">', 1), encoding="utf-8")
    _, requested = _render(page, tmp_path / "bad")
    assert requested == ["http://127.0.0.1:9/x.png"]
