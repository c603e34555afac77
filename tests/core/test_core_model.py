"""Domain objects, errors and configuration."""

from __future__ import annotations

import datetime as dt

import pytest
from shapely.geometry import box

from sitewatch.config import resolve_db_url
from sitewatch.errors import ImageError, InputError, SitewatchError
from sitewatch.model import CLASSES, Site, Zone, utc


def test_zone_kind_is_checked() -> None:
    with pytest.raises(ValueError, match="unknown kind"):
        Zone("z1", "Pad", "launchpad", box(0, 0, 1, 1))


def test_site_zone_lookup() -> None:
    z = Zone("pad", "Pad", "pad", box(0, 0, 1, 1))
    site = Site("s1", "Site", box(-1, -1, 2, 2), zones=(z,))
    assert site.zone("pad") is z
    with pytest.raises(KeyError):
        site.zone("nope")


def test_frozen_objects_cannot_change() -> None:
    site = Site("s1", "Site", box(0, 0, 1, 1))
    with pytest.raises(AttributeError):
        site.name = "other"  # type: ignore[misc]


def test_utc_rejects_naive_and_converts_offsets() -> None:
    with pytest.raises(ValueError, match="no time zone"):
        utc(dt.datetime(2024, 1, 1, 12))
    kst = dt.timezone(dt.timedelta(hours=9))
    assert utc(dt.datetime(2024, 1, 1, 9, tzinfo=kst)) == dt.datetime(2024, 1, 1, 0, tzinfo=dt.UTC)


def test_error_message_names_file_problem_fix() -> None:
    err = ImageError("not a GeoTIFF", path="/data/x.tif", fix="export it as GeoTIFF")
    assert str(err) == "/data/x.tif: not a GeoTIFF — fix: export it as GeoTIFF"
    assert isinstance(err, InputError) and isinstance(err, SitewatchError)


def test_classes_are_unique() -> None:
    assert len(set(CLASSES)) == len(CLASSES)


def test_db_url_resolution(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("SITEWATCH_DB", "postgresql+psycopg://u@h/db")
    assert resolve_db_url(None) == "postgresql+psycopg://u@h/db"
    assert resolve_db_url("sqlite:///x.db") == "sqlite:///x.db"
    assert resolve_db_url(str(tmp_path / "a.db")) == f"sqlite:///{tmp_path / 'a.db'}"
