"""Fixtures for planning tests: element sets generated from orbital elements (valid checksums)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pytest

#: A sun-synchronous orbit like WorldView-3's (~617 km, 97.9°), crossing northwards at 124.7°E near 02 UTC.
SSO = {"incl": 97.9, "raan": 200.0, "ecc": 0.0001, "argp": 90.0, "ma": 0.0, "mm": 14.85}
EPOCH = dt.datetime(2026, 5, 30, tzinfo=dt.UTC)


def checksum(line: str) -> str:
    return str(sum(int(c) for c in line if c.isdigit()) + line.count("-"))[-1]


def make_tle(name: str, norad: int = 90001, epoch: dt.datetime = EPOCH, **elements: float) -> str:
    e = {**SSO, **elements}
    start = dt.datetime(epoch.year, 1, 1, tzinfo=dt.UTC)
    doy = (epoch - start).total_seconds() / 86400 + 1
    l1 = f"1 {norad:05d}U 26001A   {epoch.year % 100:02d}{doy:012.8f}  .00000000  00000-0  00000-0 0  999"
    l2 = (
        f"2 {norad:05d} {e['incl']:8.4f} {e['raan']:8.4f} {round(e['ecc'] * 1e7):07d} {e['argp']:8.4f} "
        f"{e['ma']:8.4f} {e['mm']:11.8f}    1"
    )
    assert len(l1) == 68 and len(l2) == 68, (len(l1), len(l2))
    return f"{name:<24}\n{l1}{checksum(l1)}\n{l2}{checksum(l2)}\n"


@pytest.fixture
def tle_text() -> Callable[..., str]:
    return make_tle


@pytest.fixture
def tle_file(tmp_path: Path) -> Path:
    """Two satellites with sensor facts and one without, epoch 2026-05-30."""
    path = tmp_path / "test.tle"
    path.write_text(
        make_tle("WORLDVIEW-3 (WV-3)", 90001)
        + make_tle("SKYSAT-C7", 90002, raan=230.0, ma=120.0, mm=15.2)
        + make_tle("LANDSAT 9", 90003, raan=150.0),
        encoding="ascii",
    )
    return path
