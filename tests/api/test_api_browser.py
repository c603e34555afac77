"""End to end in headless Chromium: log in, site list, site map and timelines, alert evidence.

A real uvicorn server on 127.0.0.1 serves the test store; Chromium resolves no other host.
Screenshots go to ``test-artifacts/api/``. Needs ``chromium`` and ``chromium-driver`` (apt).
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest

from .conftest import PASSWORD, World

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "api"

pytestmark = pytest.mark.skipif(
    not (CHROMIUM.exists() and CHROMEDRIVER.exists()),
    reason="headless browser test needs /usr/bin/chromium and /usr/bin/chromedriver "
    "(apt-get install -y chromium chromium-driver)",
)
webdriver = pytest.importorskip("selenium.webdriver", reason="pip install selenium")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(world: World, keys: object) -> Iterator[str]:
    import uvicorn

    from sitewatch.api.app import create_app

    port = _free_port()
    config = uvicorn.Config(create_app(world.url), host="127.0.0.1", port=port, log_level="warning")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start within 20 s")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(10)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = str(CHROMIUM)
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--window-size=1400,1100",
        "--disable-background-networking",
        "--no-first-run",
        "--disable-extensions",
        # Any host but loopback fails to resolve: a stray CDN or tile request cannot succeed.
        "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
    ):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=opts)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def _wait(driver: object, predicate_js: str, timeout: float = 20.0) -> object:
    """Poll a JS expression until it is truthy; return its value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = driver.execute_script(f"return ({predicate_js});")  # type: ignore[attr-defined]
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for: {predicate_js}")


def _shot(driver: object, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(ARTIFACTS / f"{name}.png"))  # type: ignore[attr-defined]


def test_dashboard_end_to_end(server: str, browser: object, world: World) -> None:
    d = browser
    d.get(server + "/")  # type: ignore[attr-defined]
    _wait(d, "location.hash === '#/login' && document.getElementById('login-form')")
    assert _wait(d, "!document.getElementById('simulated').hidden"), "SIMULATED banner missing on the login page"
    _shot(d, "1-login")

    d.execute_script(  # type: ignore[attr-defined]
        "const f = document.getElementById('login-form'); f.username.value = arguments[0];"
        "f.password.value = arguments[1]; f.requestSubmit();",
        "analyst",
        PASSWORD,
    )
    _wait(d, "document.querySelector('#sites a.site-link')")
    assert d.execute_script("return document.querySelector('#sites').textContent").count("SIMULATED") == 1  # type: ignore[attr-defined]
    _shot(d, "2-sites")

    d.execute_script("document.querySelector('#sites a.site-link').click()")  # type: ignore[attr-defined]
    _wait(d, "document.querySelectorAll('#timelines .timeline canvas').length >= 2")
    points = d.execute_script(  # type: ignore[attr-defined]
        "return [...document.querySelectorAll('#timelines .timeline')].map(e => Number(e.dataset.points))"
    )
    assert points == [len(world.scenes)] * 2, points  # car park/car and pad/truck, one point per scene
    _wait(d, "document.getElementById('scene-label').textContent.includes('detection(s)')")
    label = d.execute_script("return document.getElementById('scene-label').textContent")  # type: ignore[attr-defined]
    assert label.startswith(world.scenes[-1].acquired.date().isoformat()), label
    assert "SIMULATED" in label
    _wait(d, "document.querySelectorAll('img.leaflet-tile-loaded').length > 0")
    n_boxes = d.execute_script("return document.querySelectorAll('#map path.leaflet-interactive').length")  # type: ignore[attr-defined]
    assert n_boxes > len(world.site.zones) + 1, "detections not drawn on the map"
    _shot(d, "3-site")

    d.execute_script("document.querySelector('#alerts a.alert-link').click()")  # type: ignore[attr-defined]
    _wait(d, "document.getElementById('explanation')")
    assert world.alert.explanation in d.execute_script("return document.getElementById('explanation').textContent")  # type: ignore[attr-defined]
    _wait(
        d,
        "[...document.querySelectorAll('#chips img.evidence')].length >= 2 && "
        "[...document.querySelectorAll('#chips img.evidence')].every(i => i.complete && i.naturalWidth > 0)",
    )
    _shot(d, "4-alert")

    errors = [e for e in d.get_log("browser") if e["level"] == "SEVERE"]  # type: ignore[attr-defined]
    assert not errors, f"console errors: {errors}"
    requested = set()
    for entry in d.get_log("performance"):  # type: ignore[attr-defined]
        msg = json.loads(entry["message"])["message"]
        if msg["method"] == "Network.requestWillBeSent":
            requested.add(msg["params"]["request"]["url"])
    hosts = {urlparse(u).netloc for u in requested if urlparse(u).scheme in ("http", "https", "ws", "wss")}
    assert hosts == {urlparse(server).netloc}, f"requests left localhost: {sorted(hosts)}"
    assert any("/tiles/" in u for u in requested)
