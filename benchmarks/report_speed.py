"""Report speed and size per site against the targets (< 20 s per site, < 10 MB).

Reads an existing store (default: the demo's, ``out/demo/sitewatch.db``; run ``sitewatch
demo`` first), writes each site's HTML report to a temporary folder and prints one JSON
object: seconds, bytes and inline images per site, and the worst ratios to the targets
(below 1 is within target). ``change_seconds`` is the part spent on the alerts' before/after
change comparisons (at most ``MAX_CHANGE_ALERTS`` per report), ``compared`` how many.
The 1-minute load average is included because the figures are CPU bound.
Usage: ``python benchmarks/report_speed.py [DB] [SITE ...]``.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import sitewatch.report.html as report_html
from sitewatch.config import resolve_db_url
from sitewatch.report.bundle import collect
from sitewatch.report.html import write_report
from sitewatch.store import open_store

TARGET_SECONDS = 20.0
TARGET_BYTES = 10_000_000


def _time_changes() -> list[float]:
    """Wrap the report's change comparison so its share of the time can be told apart."""
    spent: list[float] = []
    real = report_html._alert_change

    def timed(*args: Any, **kwargs: Any) -> dict[str, Any]:
        t = time.perf_counter()
        try:
            return real(*args, **kwargs)
        finally:
            spent.append(time.perf_counter() - t)

    report_html._alert_change = timed  # type: ignore[assignment]
    return spent


def main() -> None:
    db = sys.argv[1] if len(sys.argv) > 1 else "out/demo/sitewatch.db"
    spent = _time_changes()
    store = open_store(resolve_db_url(db))
    try:
        site_ids = sys.argv[2:] or [s.id for s in store.list_sites()]
        rows: list[dict[str, Any]] = []
        with tempfile.TemporaryDirectory() as tmp:
            for site_id in site_ids:
                spent.clear()
                t = time.perf_counter()
                evidence = collect(store, site_id)
                path = write_report(store, site_id, Path(tmp) / f"{site_id}.html", evidence=evidence)
                seconds = time.perf_counter() - t
                html = path.read_text(encoding="utf-8")
                rows.append(
                    {
                        "site": site_id,
                        "seconds": round(seconds, 2),
                        "bytes": path.stat().st_size,
                        "images": html.count("<img "),
                        "scenes": len(evidence.scenes),
                        "counts": len(evidence.counts),
                        "alerts": len(evidence.alerts),
                        "compared": len(spent),
                        "change_seconds": round(sum(spent), 2),
                        "simulated": evidence.simulated,
                    }
                )
    finally:
        store.close()
    print(
        json.dumps(
            {
                "benchmark": "report_speed",
                "db": db,
                "load_avg_1m": round(os.getloadavg()[0], 2),
                "target_seconds": TARGET_SECONDS,
                "target_bytes": TARGET_BYTES,
                "worst_time_ratio": round(max((r["seconds"] for r in rows), default=0.0) / TARGET_SECONDS, 3),
                "worst_size_ratio": round(max((r["bytes"] for r in rows), default=0) / TARGET_BYTES, 3),
                "sites": rows,
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
