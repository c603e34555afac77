"""Common grid and bad pairs: no overlap, no common valid pixels, unlike GSD or bands."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import shapely

from sitewatch.change.grid import check_pair, common_grid, metric_crs, read_on_grid
from sitewatch.errors import ChangeError, InputError


def test_metric_crs_keeps_utm_and_picks_utm_for_degrees() -> None:
    pt = shapely.Point(125.75, 39.03)
    assert metric_crs("EPSG:32652", pt) == "EPSG:32652"
    assert metric_crs("EPSG:4326", pt) == "EPSG:32651"  # 125.75°E is in UTM zone 51


def test_grid_is_at_the_coarser_gsd_in_the_scene_crs(texture, write_scene) -> None:  # type: ignore[no-untyped-def]
    img = texture((400, 400), seed=2)
    a = write_scene("a", img, gsd=0.5)
    grid = common_grid(a, a, a.footprint)
    assert grid.res == 0.5 and grid.crs == "EPSG:32652"
    assert (grid.width, grid.height) == (400, 400)
    fine = dataclasses.replace(a, id="fine", gsd=0.25)
    assert common_grid(fine, a, a.footprint).res == 0.5
    rgb, valid = read_on_grid(a, grid)
    assert rgb.shape == (*grid.shape, 3) and valid.mean() > 0.98


@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")  # inside rasterio's calculate_default_transform
def test_reprojected_scene_matches_native(tmp_path, texture, write_scene) -> None:  # type: ignore[no-untyped-def]
    import rasterio
    from rasterio.warp import calculate_default_transform, reproject

    img = texture((300, 300), seed=4)
    a = write_scene("a", img)
    # Warp the same image to EPSG:4326 and describe it as another scene.
    with rasterio.open(a.uri) as src:
        tr, w, h = calculate_default_transform(src.crs, "EPSG:4326", src.width, src.height, *src.bounds)
        data = np.zeros((3, h, w), np.uint8)
        reproject(rasterio.band(src, [1, 2, 3]), data, dst_transform=tr, dst_crs="EPSG:4326")
    path = tmp_path / "geo.tif"
    with rasterio.open(
        path, "w", driver="GTiff", width=w, height=h, count=3, dtype="uint8", crs="EPSG:4326", transform=tr, nodata=0
    ) as dst:
        dst.write(data)
    b = dataclasses.replace(a, id="geo", uri=str(path), crs="EPSG:4326")
    grid = common_grid(a, b, a.footprint.buffer(-0.0003))
    ra, va = read_on_grid(a, grid)
    rb, vb = read_on_grid(b, grid)
    both = va & vb
    assert both.mean() > 0.9
    diff = np.abs(ra.astype(int) - rb.astype(int))[both].mean()
    assert diff < 6  # two bilinear resamplings of a smooth texture


def test_disjoint_scenes_do_not_overlap(texture, write_scene) -> None:  # type: ignore[no-untyped-def]
    img = texture((100, 100), seed=1)
    a = write_scene("a", img)
    b = write_scene("b", img, origin=(360_000.0, 4_320_000.0))
    with pytest.raises(ChangeError, match="do not overlap") as err:
        check_pair(a, b, a.footprint.union(b.footprint))
    assert isinstance(err.value, InputError) and "fix:" in str(err.value)


def test_no_common_valid_pixels(texture, write_scene) -> None:  # type: ignore[no-untyped-def]
    img = texture((100, 100), seed=1)
    a = write_scene("a", img)
    x0, y0, x1, y1 = a.footprint.bounds
    left, right = shapely.box(x0, y0, (x0 + x1) / 2, y1), shapely.box((x0 + x1) / 2, y0, x1, y1)
    with pytest.raises(ChangeError, match="no common valid pixels"):
        check_pair(dataclasses.replace(a, valid=left), dataclasses.replace(a, id="b", valid=right), a.footprint)


def test_very_different_gsd_or_bands(texture, write_scene) -> None:  # type: ignore[no-untyped-def]
    a = write_scene("a", texture((100, 100), seed=1))
    with pytest.raises(ChangeError, match="GSDs differ"):
        check_pair(a, dataclasses.replace(a, id="s2", gsd=10.0, sensor="Sentinel-2"), a.footprint)
    with pytest.raises(ChangeError, match="bands"):
        check_pair(a, dataclasses.replace(a, id="pan", bands=1), a.footprint)
    assert check_pair(a, dataclasses.replace(a, id="b", gsd=0.31), a.footprint).area > 0
