"""Scene metadata: sidecar, STAC item, GeoTIFF tags, and refusing naive times."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sitewatch.errors import ImageError
from sitewatch.imagery.metadata import parse_time, read_metadata
from sitewatch.imagery.raster import open_raster

SceneFactory = Callable[..., Path]


def test_sidecar_values_are_used(make_scene: SceneFactory) -> None:
    path = make_scene("a", cloud_rows=8, sidecar={"off_nadir": 12.3, "sun_elevation": 45.1, "cloud_cover": 0.12})
    with open_raster(path) as ds:
        meta = read_metadata(path, ds)
    assert meta.id == "a" and meta.sensor == "WorldView-3" and meta.source == "sidecar"
    assert meta.acquired == dt.datetime(2024, 3, 1, 2, 13, tzinfo=dt.UTC)
    assert (meta.gsd, meta.off_nadir, meta.sun_elevation, meta.cloud_cover) == (0.5, 12.3, 45.1, 0.12)
    assert meta.cloud_mask == path.with_name("a.cloud.tif") and meta.simulated


def test_tags_fill_in_and_gsd_falls_back_to_pixel_size(tmp_path: Path, write_tif: Callable[..., Path]) -> None:
    path = write_tif(
        tmp_path / "t.tif",
        np.ones((3, 8, 8), dtype=np.uint8),
        tags={"ACQUIRED": "2024-05-01T10:00:00+09:00", "SENSOR": "Pleiades"},
    )
    with open_raster(path) as ds:
        meta = read_metadata(path, ds)
    assert meta.acquired == dt.datetime(2024, 5, 1, 1, 0, tzinfo=dt.UTC)  # converted to UTC
    assert meta.sensor == "Pleiades" and meta.source == "tags" and meta.id is None
    assert meta.gsd == pytest.approx(0.5, rel=2e-3)  # UTM scale factor near the central meridian


def test_stac_item_in_place_of_sidecar(make_scene: SceneFactory) -> None:
    path = make_scene("st")
    item: dict[str, Any] = {
        "type": "Feature",
        "stac_version": "1.0.0",
        "id": "stac-scene",
        "geometry": None,
        "properties": {
            "datetime": "2024-04-02T03:04:05Z",
            "platform": "worldview-3",
            "gsd": 0.31,
            "view:off_nadir": 20.5,
            "view:sun_elevation": 40.0,
            "eo:cloud_cover": 25,
        },
        "links": [],
        "assets": {},
    }
    path.with_suffix(".json").write_text(json.dumps(item))
    with open_raster(path) as ds:
        meta = read_metadata(path, ds)
    assert (meta.id, meta.sensor, meta.source) == ("stac-scene", "worldview-3", "stac")
    assert meta.acquired == dt.datetime(2024, 4, 2, 3, 4, 5, tzinfo=dt.UTC)
    assert (meta.gsd, meta.off_nadir, meta.cloud_cover) == (0.31, 20.5, 0.25)


def test_naive_time_is_refused_with_a_fix(make_scene: SceneFactory) -> None:
    path = make_scene("n", sidecar={"acquired": "2024-03-01T02:13:00"})
    with open_raster(path) as ds, pytest.raises(ImageError, match="has no time zone") as err:
        read_metadata(path, ds)
    assert "n.json" in str(err.value) and "fix:" in str(err.value)


def test_tiff_datetime_tag_is_naive_so_refused(tmp_path: Path, write_tif: Callable[..., Path]) -> None:
    path = write_tif(
        tmp_path / "d.tif", np.ones((1, 4, 4), dtype=np.uint8), tags={"TIFFTAG_DATETIME": "2024:03:01 02:13:00"}
    )
    with open_raster(path) as ds, pytest.raises(ImageError, match="'2024:03:01 02:13:00' has no time zone"):
        read_metadata(path, ds)


def test_missing_time_and_bad_numbers(make_scene: SceneFactory) -> None:
    path = make_scene("m", sidecar={"drop": ["acquired"]})
    with open_raster(path) as ds, pytest.raises(ImageError, match="no acquisition time"):
        read_metadata(path, ds)
    path = make_scene("g", sidecar={"gsd": "fine"})
    with open_raster(path) as ds, pytest.raises(ImageError, match="gsd 'fine' is not a number"):
        read_metadata(path, ds)


def test_parse_time_formats() -> None:
    where = Path("x.json")
    assert parse_time("2024-03-01T02:13:00Z", where) == dt.datetime(2024, 3, 1, 2, 13, tzinfo=dt.UTC)
    assert parse_time("2024-03-01 02:13:00-05:00", where).hour == 7
    with pytest.raises(ImageError, match="not ISO 8601"):
        parse_time("1st of March", where)
