"""Event catalogue importers (inline samples and the real reference files) and site matching."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from pathlib import Path

import pytest

from sitewatch.analytics.events import detect_format, match_sites, read_events
from sitewatch.config import shared_dir
from sitewatch.errors import CatalogueError
from sitewatch.model import Site
from sitewatch.sites.builtin import builtin_sites, square_aoi

REF = shared_dir() / "data" / "reference"


def nk_sample(tmp_path: Path) -> Path:
    tests = {
        "timeBins": [
            {
                "year": 1984,
                "data": [{"date": "1984-09", "time": "unknown", "missile": "scud-b", "facility": "tonghae"}],
            },
            {
                "year": 2023,
                "data": [
                    {
                        "date": "2023-05-30",
                        "time": "21:28 (UTC)",
                        "missile": "chollima-1",
                        "facility": "sohae",
                        "outcome": "failure",
                    },
                    {"date": "2023-05-30", "time": "21:28 (UTC)", "missile": "kn-25", "facility": "nowhere"},
                    {"date": "2023-06-01", "time": "unknown", "missile": "kn-25", "facility": "unknown"},
                ],
            },
        ]
    }
    facilities = {
        "facilities": {
            "sohae": {"name": "Sohae Satellite Launching Station", "lat": 39.6596, "lon": 124.7057},
            "tonghae": {"name": "Tonghae Satellite Launching Ground", "lat": 40.8499966, "lon": 129.666664},
            "nowhere": {"name": "Nowhere Base", "lat": 10.0, "lon": 10.0},
            "unknown": {"name": "Unknown", "lat": 39.2, "lon": 125.67},
        }
    }
    (tmp_path / "test.en.json").write_text(json.dumps(tests), encoding="utf-8")
    (tmp_path / "facility.en.json").write_text(json.dumps(facilities), encoding="utf-8")
    return tmp_path / "test.en.json"


def test_nk_missile_tests(tmp_path: Path) -> None:
    path = nk_sample(tmp_path)
    assert detect_format(path) == "nk-missile-tests"
    events = read_events(path)
    assert [e.date for e in events] == [
        dt.date(1984, 9, 1),
        dt.date(2023, 5, 30),
        dt.date(2023, 5, 30),
        dt.date(2023, 6, 1),
    ]
    assert events[0].description.startswith("date known to the month only")
    assert events[1].kind == "satellite_launch" and events[2].kind == "missile_test"
    assert len({e.id for e in events}) == 4
    assert events[3].lat is None  # "unknown" has borrowed coordinates upstream: no location


def test_cns_csv_cp1252(tmp_path: Path) -> None:
    header = (
        "F1,Date,Date Entered/Updated,Launch Time (UTC),Missile Name,Missile Type,Launch Agency/Authority,"
        "Facility Name,Facility Location,Other Name,Facility Latitude,Facility Longitude,Landing Location,"
        "Apogee,Distance Travelled,Confirmation Status,Test Outcome,Additional Information,Source(s)\r\n"
    )
    rows = (
        "1,Sep-84,23-Dec-16,,Scud-B,SRBM,,Tonghae Satellite Launching Ground,x,Musudan-ri,40.85,129.67,"
        'Unknown,Unknown,Unknown,Confirmed,Success,"multi\r\nline\xa0note 5\xb0",src\r\n'
        "223,18-Dec-22,1/25/2023,2:11:00 AM,Unknown,SLV,,Sohae Satellite Launching Station,x,,39.6596,124.7057,"
        "Sea,550 km,500 km,Confirmed,Success,info,src\r\n"
        "224,1-Jan-23,1/25/2023,,Unknown,SRBM,,Somewhere,x,,Unknown,Unknown,Sea,,,Confirmed,Success,,\r\n"
    )
    path = tmp_path / "north_korea_missile_test_database.csv"
    path.write_bytes((header + rows).encode("cp1252"))
    assert detect_format(path) == "cns"
    e1, e2, e3 = read_events(path)
    assert e1.date == dt.date(1984, 9, 1) and "month only" in e1.description
    assert e2.date == dt.date(2022, 12, 18) and e2.kind == "satellite_launch" and e2.lat == pytest.approx(39.6596)
    assert e3.lat is None and e3.facility == "Somewhere"


def test_provocations_and_sim(tmp_path: Path) -> None:
    prov = tmp_path / "p.csv"
    prov.write_text(
        "date,type,event,description,resources,year,week_number,month_year,weekday,mentions_kim\n"
        '2023-11-21,Other Provocation,Satellite Launch,"launch, at night",u,2023,47,11-2023,Tuesday,False\n'
        "2023-11-21,Missile Provocation,Short-range Ballistic Missile Launch,d,u,2023,47,11-2023,Tuesday,False\n"
        "2019-12-07,Other Provocation,Rocket Engine Test,d,u,2019,48,12-2019,Saturday,False\n",
        encoding="utf-8",
    )
    kinds = [e.kind for e in read_events(prov)]
    assert kinds == ["satellite_launch", "missile_test", "engine_test"]
    sim = tmp_path / "events.csv"
    sim.write_text("event_id,site_id,date,kind,description\nsim-a-ev1,sim-a,2024-04-18,engine_test,ramp\n")
    (e,) = read_events(sim)
    assert e.simulated and e.site_id == "sim-a" and e.description.startswith("SIMULATED")


def test_unknown_format_and_missing_file(tmp_path: Path) -> None:
    bad = tmp_path / "x.csv"
    bad.write_text("a,b\n1,2\n")
    with pytest.raises(CatalogueError, match="unknown event catalogue format"):
        read_events(bad)
    with pytest.raises(CatalogueError, match="file not found"):
        read_events(tmp_path / "missing.json")


def test_match_by_name_then_distance_and_report_the_rest(tmp_path: Path) -> None:
    events = read_events(nk_sample(tmp_path))
    sites = [
        Site("sohae-site", "Sohae Satellite Launching Station", square_aoi(124.7057, 39.6596, 500)),
        Site("musudan", "East coast yard", square_aoi(129.68, 40.86, 500)),  # ~1.5 km from Tonghae's point
    ]
    result = match_sites(events, sites, max_km=5.0)
    assert [e.site_id for e in result.events] == ["musudan", "sohae-site", None, None]
    assert result.unmatched == {"Nowhere Base": 1, "unknown": 1}
    assert match_sites(events, sites, max_km=0.5).events[0].site_id is None


@pytest.mark.skipif(not REF.is_dir(), reason="shared reference data not present")
def test_real_reference_files() -> None:
    nk = read_events(REF / "nk-missile-tests" / "test.en.json")
    cns = read_events(REF / "cns-missile-tests" / "north_korea_missile_test_database.csv")
    prov = read_events(REF / "north-korea-provocations" / "north_korea_provocations_1958_present.csv")
    assert (len(nk), len(cns), len(prov)) == (339, 245, 493)
    assert len({e.id for e in nk}) == 339
    launches = sorted({e.date.isoformat() for e in nk if e.kind == "satellite_launch"})
    assert launches == [
        "1998-08-31",
        "2006-07-05",
        "2009-04-05",
        "2012-04-13",
        "2012-12-12",
        "2016-02-07",
        "2023-05-30",
        "2023-08-23",
        "2023-11-21",
    ]
    result = match_sites(nk, builtin_sites())
    per_site = Counter(e.site_id for e in result.events)
    assert per_site["sohae"] == 18 and per_site["tonghae"] >= 3
    assert result.unmatched["Hodo Peninsula"] == 26
    assert sum(result.unmatched.values()) + result.matched == 339
