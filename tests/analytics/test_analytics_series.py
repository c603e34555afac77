"""Reading (timestamp, count) CSVs: good input and every kind of bad input."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from sitewatch.analytics.series import read_series, with_zone_totals
from sitewatch.analytics.synthetic import synthetic_observations
from sitewatch.errors import SeriesError


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "s.csv"
    p.write_text(text, encoding="utf-8")
    return p


def test_reads_and_guesses_columns(tmp_path: Path) -> None:
    obs = read_series(write(tmp_path, "date,count\n2024-01-03,4\n2024-01-01,2\n2024-01-02T10:00Z,3\n"))
    assert list(obs["raw"]) == [2, 3, 4]  # sorted by time
    assert list(obs["date"].dt.day) == [1, 2, 3]
    assert obs["sufficient"].all() and (obs["q"] == 1).all()


def test_named_columns_and_fractional_counts(tmp_path: Path) -> None:
    p = write(tmp_path, "when,trucks,other\n2024-01-01,2.6,x\n2024-01-05,1.2,y\n")
    obs = read_series(p, timestamp_col="when", value_col="trucks")
    assert list(obs["estimate"]) == [2.6, 1.2] and list(obs["raw"]) == [3, 1]
    with pytest.raises(SeriesError, match="no column 'nope'"):
        read_series(p, value_col="nope")


def test_same_day_keeps_the_latest(tmp_path: Path) -> None:
    obs = read_series(write(tmp_path, "timestamp,count\n2024-01-01T01:00Z,2\n2024-01-01T09:00Z,7\n2024-01-02,1\n"))
    assert list(obs["raw"]) == [7, 1]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("timestamp,count\n2024-01-01,1\n", "at least 2"),
        ("timestamp,count\nnot-a-date,1\n2024-01-02,1\n", "unparsable timestamp 'not-a-date' on line 2"),
        ("timestamp,count\n,1\n2024-01-02,1\n", "missing timestamp on line"),
        ("timestamp,count\n2024-01-01T00:00Z,1\n2024-01-01T00:00Z,2\n", "appears 2 times"),
        ("timestamp,count\n2024-01-01,1\n2024-01-02,-3\n", "negative count"),
        ("timestamp,count\n2024-01-01,1\n2024-01-02,many\n", "is not a number"),
        ("timestamp,count\n2024-01-01T00:00+09:00,1\n2024-01-02T00:00,2\n", "mix explicit time zones"),
    ],
)
def test_bad_series_raise_series_error(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(SeriesError, match=message) as info:
        read_series(write(tmp_path, text))
    assert "s.csv" in str(info.value) and "fix:" in str(info.value)


def test_time_zones_are_converted_to_utc_days(tmp_path: Path) -> None:
    # 01:00 in Korea on the 2nd is the 1st in UTC.
    obs = read_series(write(tmp_path, "timestamp,count\n2024-01-02T01:00+09:00,5\n2024-01-03T12:00Z,1\n"))
    assert [d.day for d in obs["date"]] == [1, 3]


def test_missing_file() -> None:
    with pytest.raises(SeriesError, match="file not found"):
        read_series("/nonexistent/x.csv")


def test_zone_totals_sum_classes() -> None:
    obs = synthetic_observations(n_zones=2, classes=("car", "truck"), days=30)
    full = with_zone_totals(obs)
    tot = full[full["cls"] == "all"].set_index(["zone_id", "date"])["raw"]
    summed = obs.groupby(["zone_id", "date"])["raw"].sum()
    pd.testing.assert_series_equal(tot.sort_index(), summed.sort_index(), check_names=False)
