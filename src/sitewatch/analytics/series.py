"""Observation tables: counts from the store or a (timestamp, count) CSV, one schema for both.

An observation frame has one row per series and UTC day with columns :data:`OBS_COLUMNS`;
a series is identified by ``(site_id, zone_id, cls)``. ``q`` is the probability that an
object present was counted (observed fraction × detectability), so ``raw ~ NB(q·μ)``.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from sitewatch.counts.estimate import thinning_of
from sitewatch.errors import SeriesError
from sitewatch.model import Count

SERIES_KEY: list[str] = ["site_id", "zone_id", "cls"]
OBS_COLUMNS: list[str] = [*SERIES_KEY, "date", "scene_id", "raw", "estimate", "q", "observed_fraction", "sufficient"]

_TIME_NAMES = ("timestamp", "date", "datetime", "time", "acquired")
_VALUE_NAMES = ("count", "value", "n", "estimate", "raw")


def counts_frame(counts: Iterable[Count]) -> pd.DataFrame:
    """Observation frame from :class:`Count` objects (several scenes on one day: best coverage wins)."""
    rows = [
        (c.site_id, c.zone_id, c.cls, c.date, c.scene_id, c.raw, c.estimate, c.hi, c.observed_fraction, c.sufficient)
        for c in counts
    ]
    df = pd.DataFrame(
        rows, columns=[*SERIES_KEY, "date", "scene_id", "raw", "estimate", "hi", "observed_fraction", "sufficient"]
    )
    df["date"] = pd.to_datetime(df["date"])
    df["raw"] = df["raw"].astype("int64")
    df["estimate"] = df["estimate"].astype(float)
    df["sufficient"] = df["sufficient"].astype(bool)
    # q (coverage x detectability, per class) is recovered from the stored interval; where
    # it is undefined (a zone not seen at all) the observed fraction stands in.
    q = pd.Series(thinning_of(df["raw"].to_numpy(), df["hi"].to_numpy()), index=df.index)
    q = q.where(np.isfinite(q) & (df["observed_fraction"] > 0))
    # q may exceed 1 for a class whose calibrated yield includes false positives.
    df["q"] = q.fillna(df["observed_fraction"]).clip(lower=1e-6)
    return normalise_observations(df)


def normalise_observations(df: pd.DataFrame) -> pd.DataFrame:
    """Sorted, one row per series and day (the best-covered scene of the day), columns in order."""
    df = df.sort_values([*SERIES_KEY, "date", "observed_fraction"], ascending=[True, True, True, True, False])
    df = df.drop_duplicates([*SERIES_KEY, "date"], keep="first")
    return df[OBS_COLUMNS].reset_index(drop=True)


def _pick(columns: list[str], given: str | None, names: tuple[str, ...], fallback: int, what: str, path: Path) -> str:
    if given is not None:
        if given not in columns:
            raise SeriesError(
                f"no column {given!r} (columns: {', '.join(columns)})", path=path, fix=f"pass an existing {what} column"
            )
        return given
    lower = {c.lower().strip(): c for c in columns}
    for name in names:
        if name in lower:
            return lower[name]
    if len(columns) <= fallback:
        raise SeriesError(f"cannot tell which column holds the {what}", path=path, fix=f"pass --{what}-col")
    return columns[fallback]


def parse_timestamps(values: pd.Series, path: Path) -> pd.Series:
    """UTC timestamps from text; naive times are taken as UTC, a mix of naive and aware times is refused."""
    text = values.astype("string").str.strip()
    missing = text.isna() | (text == "")
    if missing.any():
        rows = ", ".join(str(i + 2) for i in np.flatnonzero(missing.to_numpy())[:5])
        raise SeriesError(f"missing timestamp on line(s) {rows}", path=path, fix="fill in or delete those rows")
    aware = text.str.contains(r"(?:Z|[+-]\d\d:?\d\d)$", regex=True)
    naive = ~aware & ~text.str.fullmatch(r"\d{4}-\d\d-\d\d")  # a bare date is a UTC day, not a naive time
    if aware.any() and naive.any():
        raise SeriesError(
            "timestamps mix explicit time zones and naive times",
            path=path,
            fix="give every timestamp with an offset (e.g. 2024-03-01T02:00Z) or none (read as UTC)",
        )
    parsed = pd.to_datetime(text, errors="coerce", utc=True, format="mixed")
    bad = parsed.isna()
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise SeriesError(
            f"unparsable timestamp {text.iloc[i]!r} on line {i + 2} ({int(bad.sum())} bad in all)",
            path=path,
            fix="use ISO 8601, e.g. 2024-03-01 or 2024-03-01T02:13:00Z",
        )
    return parsed


def read_series(path: str | Path, *, timestamp_col: str | None = None, value_col: str | None = None) -> pd.DataFrame:
    """A (timestamp, count) CSV as an observation frame with a single series.

    Refused with :class:`SeriesError`: missing file, missing or unparsable timestamps,
    mixed naive/aware timestamps, repeated timestamps, missing, non-numeric or negative
    counts, fewer than two rows. Several rows on one UTC day (different times) keep the
    latest. Counts may be fractional (corrected estimates); the tail test rounds them.
    """
    p = Path(path)
    if not p.is_file():
        raise SeriesError("file not found", path=p, fix="give the path of a CSV with a timestamp and a count column")
    try:
        raw = pd.read_csv(p, dtype=str, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise SeriesError(
            f"not a readable CSV ({str(exc).splitlines()[0]})", path=p, fix="save it as UTF-8 CSV with a header"
        ) from exc
    cols = list(raw.columns)
    tcol = _pick(cols, timestamp_col, _TIME_NAMES, 0, "timestamp", p)
    vcol = _pick(cols, value_col, _VALUE_NAMES, 1, "value", p)
    if len(raw) < 2:
        raise SeriesError(f"{len(raw)} observation(s); at least 2 are needed", path=p, fix="give a longer series")
    ts = parse_timestamps(raw[tcol], p)
    dup = ts.duplicated(keep=False)
    if dup.any():
        raise SeriesError(
            f"timestamp {ts[dup].iloc[0].isoformat()} appears {int((ts == ts[dup].iloc[0]).sum())} times",
            path=p,
            fix="keep one row per timestamp (sum or drop the repeats)",
        )
    values = pd.to_numeric(raw[vcol], errors="coerce")
    if values.isna().any():
        i = int(np.flatnonzero(values.isna().to_numpy())[0])
        raise SeriesError(
            f"count {raw[vcol].iloc[i]!r} on line {i + 2} is not a number", path=p, fix="give numeric counts"
        )
    if (values < 0).any():
        i = int(np.flatnonzero((values < 0).to_numpy())[0])
        raise SeriesError(f"negative count {values.iloc[i]} on line {i + 2}", path=p, fix="counts must be ≥ 0")
    df = pd.DataFrame({"ts": ts, "value": values.astype(float)}).sort_values("ts")
    df["date"] = df["ts"].dt.tz_convert("UTC").dt.tz_localize(None).dt.normalize()
    df = df.drop_duplicates("date", keep="last")
    return series_observations(df["date"], df["value"], name=vcol)


def series_observations(dates: pd.Series, values: pd.Series, *, name: str = "count") -> pd.DataFrame:
    """An observation frame for one fully observed series (q = 1)."""
    n = len(values)
    est = np.asarray(values, dtype=float)
    df = pd.DataFrame(
        {
            "site_id": "series",
            "zone_id": "all",
            "cls": name,
            "date": pd.to_datetime(np.asarray(dates)).normalize(),
            "scene_id": [f"row{i}" for i in range(n)],
            "raw": np.rint(est).astype("int64"),
            "estimate": est,
            "q": 1.0,
            "observed_fraction": 1.0,
            "sufficient": True,
        }
    )
    return normalise_observations(df)


#: Class label of the per-zone total over all classes.
ALL_CLASSES = "all"


def with_zone_totals(obs: pd.DataFrame) -> pd.DataFrame:
    """``obs`` plus one ``cls = "all"`` series per zone: joint rises of several classes add up there.

    All classes of a zone share one scene and hence one ``q``, so the total keeps the
    thinning model exact.
    """
    per = obs[obs["cls"] != ALL_CLASSES]
    if per.empty:
        return obs
    keys = ["site_id", "zone_id", "date", "scene_id"]
    tot = per.groupby(keys, as_index=False, sort=False).agg(
        raw=("raw", "sum"),
        estimate=("estimate", "sum"),
        q=("q", "max"),
        observed_fraction=("observed_fraction", "min"),
        sufficient=("sufficient", "all"),
    )
    tot["cls"] = ALL_CLASSES
    return normalise_observations(pd.concat([per, tot[OBS_COLUMNS]], ignore_index=True))
