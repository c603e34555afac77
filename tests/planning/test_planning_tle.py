"""TLE parsing, satellite selection and age checks: good input, and clear errors for bad input."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from sitewatch.errors import InputError, PlanningError
from sitewatch.planning.tle import check_ages, parse_tle, read_tle, select_satellites

T0 = dt.datetime(2026, 5, 30, tzinfo=dt.UTC)


def test_parse_three_and_two_line_sets(tle_text) -> None:
    three = tle_text("GEOEYE 1", 33331)
    two = "\n".join(three.splitlines()[1:])  # no name line
    (a,) = parse_tle(three.replace("\n", "\r\n"))
    (b,) = parse_tle(two)
    assert a.name == "GEOEYE 1" and a.norad_id == 33331 and a.epoch == T0
    assert b.name == "NORAD 33331" and b.line1 == a.line1


def test_read_file_and_select(tle_file: Path) -> None:
    tles = read_tle(tle_file)
    assert [t.name for t in tles] == ["WORLDVIEW-3 (WV-3)", "SKYSAT-C7", "LANDSAT 9"]
    assert [s.sensor.name for s in select_satellites(tles)] == ["WorldView-3", "SkySat"]  # no facts for Landsat
    for name in ("worldview-3", "WORLDVIEW-3 (WV-3)", "WorldView*", "90001"):
        assert [s.tle.norad_id for s in select_satellites(tles, [name])] == [90001], name
    assert [s.tle.name for s in select_satellites(tles, ["SkySat", "SKYSAT-C7"])] == ["SKYSAT-C7"]


@pytest.mark.parametrize("name", ["WorldView-9", "LANDSAT 9", "SENTINEL-2A"])
def test_unknown_satellite_names(tle_file: Path, name: str) -> None:
    with pytest.raises(PlanningError, match="unknown satellite") as err:
        select_satellites(read_tle(tle_file), [name])
    assert "fix:" in str(err.value) and "WorldView-3" in str(err.value)


def _corrupt(text: str, line: int, col: int, char: str) -> str:
    lines = text.splitlines()
    lines[line] = lines[line][:col] + char + lines[line][col + 1 :]
    return "\n".join(lines)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: _corrupt(t, 1, 20, "9" if t.splitlines()[1][20] != "9" else "8"), "checksum"),
        (lambda t: _corrupt(t, 2, 2, "8"), "checksum|catalogue numbers"),
        (lambda t: "\n".join(t.splitlines()[:2]), "incomplete"),
        (lambda t: "\n".join(ln[:60] for ln in t.splitlines()), "expected TLE line"),
        (lambda t: "hello\nworld\n", "expected TLE line|incomplete"),
        (lambda t: "", "no element sets"),
    ],
)
def test_malformed_tles(tle_text, edit, message: str) -> None:
    with pytest.raises(PlanningError, match=message):
        parse_tle(edit(tle_text("SPOT 6")), path="bad.tle")


def test_mismatched_catalogue_numbers(tle_text) -> None:
    a, b = tle_text("SPOT 6", 38755).splitlines(), tle_text("SPOT 7", 40053).splitlines()
    with pytest.raises(PlanningError, match="catalogue numbers"):
        parse_tle("\n".join([a[0], a[1], b[2]]))


def test_missing_or_binary_file(tmp_path: Path) -> None:
    with pytest.raises(PlanningError, match="not found"):
        read_tle(tmp_path / "nope.tle")
    binary = tmp_path / "x.tle"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(InputError, match="ASCII"):
        read_tle(binary)


def test_age_warnings_and_stale_errors(tle_file: Path) -> None:
    sats = select_satellites(read_tle(tle_file))
    assert check_ages(sats, T0, T0 + dt.timedelta(days=2)) == []
    warned = check_ages(sats, T0 + dt.timedelta(days=5), T0 + dt.timedelta(days=6))
    assert warned == [
        "TLEs of WORLDVIEW-3 (WV-3), SKYSAT-C7 are 6.0 days from the requested times: "
        "pass times may be off by minutes or more"
    ]
    later = T0 + dt.timedelta(days=177)
    with pytest.raises(PlanningError, match=r"17[78] days") as err:
        check_ages(sats, later, later + dt.timedelta(days=1))
    assert "--tle" in str(err.value) and "--allow-stale" in str(err.value)
    assert "178.0 days" in check_ages(sats, later, later + dt.timedelta(days=1), allow_stale=True)[0]
