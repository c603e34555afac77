"""PDF export of an HTML page by headless Chromium's print-to-PDF (no network, no scripts needed).

Chromium is found as ``$SITEWATCH_CHROMIUM`` or ``chromium`` / ``chromium-browser`` /
``google-chrome`` on the PATH; without it :func:`html_to_pdf` raises
:class:`~sitewatch.errors.ExportError`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from sitewatch.errors import ExportError

ENV_CHROMIUM = "SITEWATCH_CHROMIUM"
_NAMES = ("chromium", "chromium-browser", "google-chrome")
TIMEOUT_S = 120


def find_chromium() -> str | None:
    env = os.environ.get(ENV_CHROMIUM)
    if env:
        return env if Path(env).is_file() else None
    return next((p for p in map(shutil.which, _NAMES) if p), None)


def html_to_pdf(html: str) -> bytes:
    """``html`` (self-contained) printed to PDF by headless Chromium."""
    exe = find_chromium()
    if exe is None:
        raise ExportError(
            "PDF export needs Chromium, which was not found",
            fix=f"install it (apt-get install chromium) or set {ENV_CHROMIUM}; the HTML report needs nothing",
        )
    with tempfile.TemporaryDirectory(prefix="sitewatch-pdf-") as tmp:
        src, out = Path(tmp) / "report.html", Path(tmp) / "report.pdf"
        src.write_text(html, encoding="utf-8")
        cmd = [
            exe,
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-extensions",
            "--disable-background-networking",
            "--no-first-run",
            f"--user-data-dir={tmp}/profile",
            # The report is self-contained: refuse every host so nothing can be fetched.
            "--host-resolver-rules=MAP * ~NOTFOUND",
            "--no-pdf-header-footer",
            f"--print-to-pdf={out}",
            src.as_uri(),
        ]
        try:
            subprocess.run(cmd, capture_output=True, timeout=TIMEOUT_S, check=True)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
            raise ExportError(
                f"Chromium could not print the report ({type(exc).__name__})",
                path=exe,
                fix="check that this Chromium runs headless (try it with --headless=new)",
            ) from exc
        if not out.is_file() or out.stat().st_size == 0:
            raise ExportError("Chromium wrote no PDF", path=exe, fix="check that this Chromium runs headless")
        return out.read_bytes()
