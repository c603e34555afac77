"""Provider metadata (Maxar IMD, Pleiades DIMAP, Planet metadata.json) read into scenes.

The samples below are small hand-written files laid out as the providers publish them
(field names, nesting and units), trimmed to what sitewatch reads plus some neighbours.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from sitewatch.errors import ImageError
from sitewatch.imagery.ingest import ingest_paths, scan_image
from sitewatch.imagery.providers import find_provider_metadata, read_dimap, read_imd, read_planet
from sitewatch.store import open_store

IMD = """version = "28.3";
generationTime = 2019-02-11T07:12:55.000000Z;
productOrderId = "058012345010_01_P001";
numberOfLooks = 1;
BEGIN_GROUP = BAND_R
\tULLon = 124.70512345;
\tabsCalFactor = 1.260825e-02;
END_GROUP = BAND_R
outputFormat = "GeoTIFF";
BEGIN_GROUP = IMAGE_1
\tsatId = "WV03";
\tmode = "FullSwath";
\tCatId = "104001004A5C8E00";
\tfirstLineTime = 2019-02-09T02:31:07.123456Z;
\tavgLineRate = 20000.00;
\tmeanCollectedRowGSD = 0.334;
\tmeanCollectedColGSD = 0.338;
\tmeanCollectedGSD = 0.336;
\tmeanSunAz = 158.2;
\tmeanSunEl = 34.7;
\tmeanSatAz = 203.1;
\tmeanSatEl = 66.9;
\tmeanInTrackViewAngle = -12.0;
\tmeanCrossTrackViewAngle = 16.4;
\tmeanOffNadirViewAngle = 20.3;
\tcloudCover = 0.040;
\tresamplingKernel = "CC";
END_GROUP = IMAGE_1
END;
"""

DIMAP = """<?xml version="1.0" encoding="UTF-8"?>
<Dimap_Document name="DIM_PHR1A_P_201902090231071_SEN_1234567101-001.XML">
  <Metadata_Identification><METADATA_FORMAT version="2.0">DIMAP</METADATA_FORMAT></Metadata_Identification>
  <Dataset_Identification><DATASET_NAME>DS_PHR1A_201902090231071_FR1_PX_E124N39_0608_01234</DATASET_NAME>
  </Dataset_Identification>
  <Dataset_Content><CLOUD_COVERAGE unit="percent">2.5</CLOUD_COVERAGE><SNOW_COVERAGE unit="percent">0</SNOW_COVERAGE>
  </Dataset_Content>
  <Dataset_Sources><Source_Identification><Strip_Source>
    <MISSION>PHR</MISSION><MISSION_INDEX>1A</MISSION_INDEX><INSTRUMENT>PHR</INSTRUMENT>
    <IMAGING_DATE>2019-02-09</IMAGING_DATE><IMAGING_TIME>02:31:07.1Z</IMAGING_TIME>
  </Strip_Source></Source_Identification></Dataset_Sources>
  <Geometric_Data><Use_Area>
    <Located_Geometric_Values>
      <TIME>2019-02-09T02:31:06.5Z</TIME><LOCATION_TYPE>Top Center</LOCATION_TYPE>
      <Acquisition_Angles><INCIDENCE_ANGLE unit="deg">9.9</INCIDENCE_ANGLE></Acquisition_Angles>
    </Located_Geometric_Values>
    <Located_Geometric_Values>
      <TIME>2019-02-09T02:31:08.25Z</TIME><LOCATION_TYPE>Center</LOCATION_TYPE>
      <Acquisition_Angles>
        <INCIDENCE_ANGLE unit="deg">12.84</INCIDENCE_ANGLE><VIEWING_ANGLE unit="deg">11.42</VIEWING_ANGLE>
      </Acquisition_Angles>
      <Solar_Incidences><SUN_AZIMUTH unit="deg">159.7</SUN_AZIMUTH><SUN_ELEVATION unit="deg">35.2</SUN_ELEVATION>
      </Solar_Incidences>
      <Ground_Sample_Distance><GSD_ACROSS_TRACK unit="m">0.71</GSD_ACROSS_TRACK>
        <GSD_ALONG_TRACK unit="m">0.73</GSD_ALONG_TRACK></Ground_Sample_Distance>
    </Located_Geometric_Values>
  </Use_Area></Geometric_Data>
</Dimap_Document>
"""

PLANET = {
    "id": "20190209_023107_1_0f4c",
    "type": "Feature",
    "geometry": {"type": "Polygon", "coordinates": [[[124.7, 39.6], [124.8, 39.6], [124.8, 39.7], [124.7, 39.6]]]},
    "properties": {
        "acquired": "2019-02-09T02:31:07.455Z",
        "cloud_cover": 0.07,
        "gsd": 3.9,
        "pixel_resolution": 3,
        "item_type": "PSScene",
        "provider": "planetscope",
        "satellite_id": "0f4c",
        "sun_azimuth": 157.1,
        "sun_elevation": 33.8,
        "view_angle": 3.2,
    },
}


@pytest.fixture
def image(tmp_path: Path, write_tif: Callable[..., Path]) -> Callable[[str], Path]:
    """An image named ``name`` with no sitewatch sidecar and no tags."""

    def _make(name: str) -> Path:
        data = np.random.default_rng(1).integers(1, 255, (3, 32, 32), dtype=np.uint8)
        return write_tif(tmp_path / name, data)

    return _make


def test_maxar_imd_image_block(tmp_path: Path) -> None:
    path = tmp_path / "19FEB09023107-P2AS-058012345010_01_P001.IMD"
    path.write_text(IMD)
    v = read_imd(path)
    assert v["sensor"] == "WorldView-3" and v["acquired"] == "2019-02-09T02:31:07.123456Z"
    assert (v["gsd"], v["off_nadir"], v["sun_elevation"], v["sun_azimuth"]) == ("0.336", "20.3", "34.7", "158.2")
    assert v["cloud_cover"] == "0.040"


def test_imd_without_image_block_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "x.IMD"
    path.write_text(IMD.split("BEGIN_GROUP = IMAGE_1")[0])
    with pytest.raises(ImageError, match=r"x\.IMD.*IMAGE_1.*fix:"):
        read_imd(path)


def test_dimap_uses_the_centre_location(tmp_path: Path) -> None:
    path = tmp_path / "DIM_PHR1A_P_201902090231071_SEN_1234567101-001.XML"
    path.write_text(DIMAP)
    v = read_dimap(path)
    assert v["acquired"] == "2019-02-09T02:31:08.25Z"  # Center, not Top Center
    assert v["sensor"] == "Pleiades-1A"
    assert v["off_nadir"] == "11.42"  # the viewing angle, not the incidence angle
    assert v["gsd"] == pytest.approx(0.72)
    assert v["cloud_cover"] == pytest.approx(0.025)  # percent -> fraction
    assert (v["sun_elevation"], v["sun_azimuth"]) == ("35.2", "159.7")


def test_dimap_falls_back_to_strip_imaging_time_and_incidence(tmp_path: Path) -> None:
    path = tmp_path / "DIM_X.XML"
    trimmed = DIMAP.replace("<TIME>2019-02-09T02:31:08.25Z</TIME>", "").replace(
        '<VIEWING_ANGLE unit="deg">11.42</VIEWING_ANGLE>', ""
    )
    trimmed = trimmed.replace("<TIME>2019-02-09T02:31:06.5Z</TIME>", "")
    path.write_text(trimmed)
    v = read_dimap(path)
    assert v["acquired"] == "2019-02-09T02:31:07.1Z" and v["off_nadir"] == "12.84"


def test_bad_dimap_is_an_image_error(tmp_path: Path) -> None:
    path = tmp_path / "DIM_bad.XML"
    path.write_text("<Dimap_Document><unclosed>")
    with pytest.raises(ImageError, match="not valid XML"):
        read_dimap(path)


def test_planet_metadata_json(tmp_path: Path) -> None:
    path = tmp_path / "20190209_023107_1_0f4c_metadata.json"
    path.write_text(json.dumps(PLANET))
    v = read_planet(path)
    assert v["id"] == "20190209_023107_1_0f4c" and v["sensor"] == "PlanetScope 0f4c"
    assert (v["gsd"], v["off_nadir"], v["cloud_cover"]) == (3, 3.2, 0.07)  # pixel_resolution over gsd


@pytest.mark.parametrize(
    ("image_name", "meta_name", "kind"),
    [
        ("19FEB09-P2AS_P001.TIF", "19FEB09-P2AS_P001.IMD", "imd"),
        (
            "IMG_PHR1A_P_201902090231071_SEN_1234567101-001_R1C1.TIF",
            "DIM_PHR1A_P_201902090231071_SEN_1234567101-001.XML",
            "dimap",
        ),
        ("20190209_023107_1_0f4c_3B_AnalyticMS.tif", "20190209_023107_1_0f4c_metadata.json", "planet"),
    ],
)
def test_provider_file_is_found_beside_its_image(tmp_path: Path, image_name: str, meta_name: str, kind: str) -> None:
    img = tmp_path / image_name
    img.touch()
    assert find_provider_metadata(img) is None
    (tmp_path / meta_name).touch()
    assert find_provider_metadata(img) == (kind, tmp_path / meta_name)
    if kind != "dimap":  # a lone DIM_*.XML describes every image of its folder
        assert find_provider_metadata(tmp_path / "unrelated_3B.tif") is None


@pytest.mark.parametrize(
    ("image_name", "meta_name", "text", "expected"),
    [
        ("P001.tif", "P001.IMD", IMD, ("WorldView-3", dt.datetime(2019, 2, 9, 2, 31, 7, 123456), 20.3, 0.04, 0.336)),
        (
            "IMG_PHR_R1C1.tif",
            "DIM_PHR.XML",
            DIMAP,
            ("Pleiades-1A", dt.datetime(2019, 2, 9, 2, 31, 8, 250000), 11.42, 0.025, 0.72),
        ),
        (
            "s_3B.tif",
            "s_metadata.json",
            json.dumps(PLANET),
            ("PlanetScope 0f4c", dt.datetime(2019, 2, 9, 2, 31, 7, 455000), 3.2, 0.07, 3.0),
        ),
    ],
)
def test_ingest_reads_provider_metadata_into_the_scene(
    tmp_path: Path,
    image: Callable[[str], Path],
    image_name: str,
    meta_name: str,
    text: str,
    expected: tuple[str, dt.datetime, float, float, float],
) -> None:
    img = image(image_name)
    (tmp_path / meta_name).write_text(text)
    with open_store(f"sqlite:///{tmp_path / 'db.sqlite'}") as store:
        report = ingest_paths(store, [img])
        assert report.failed == [] and report.added == 1
        scene = store.list_scenes()[0]
    sensor, acquired, off_nadir, cloud, gsd = expected
    assert scene.sensor == sensor and scene.acquired == acquired.replace(tzinfo=dt.UTC)
    assert scene.off_nadir == pytest.approx(off_nadir) and scene.cloud_cover == pytest.approx(cloud)
    assert scene.gsd == pytest.approx(gsd)
    assert scene.extra["metadata_source"] == find_provider_metadata(img)[0]  # type: ignore[index]


def test_sitewatch_sidecar_wins_over_provider_file(tmp_path: Path, image: Callable[[str], Path]) -> None:
    img = image("P001.tif")
    (tmp_path / "P001.IMD").write_text(IMD)
    img.with_suffix(".json").write_text(json.dumps({"sitewatch_sidecar": 1, "sensor": "override", "gsd": 0.5}))
    scene = scan_image(img)
    assert (scene.sensor, scene.gsd) == ("override", 0.5)
    assert scene.off_nadir == pytest.approx(20.3)  # what the sidecar leaves out still comes from the IMD
    assert scene.extra["metadata_source"] == "sidecar"


def test_bad_provider_number_names_the_provider_file(tmp_path: Path, image: Callable[[str], Path]) -> None:
    img = image("P001.tif")
    (tmp_path / "P001.IMD").write_text(IMD.replace("meanSunEl = 34.7", "meanSunEl = high"))
    with pytest.raises(ImageError, match=r"P001\.IMD: sun_elevation 'high' is not a number"):
        scan_image(img)
