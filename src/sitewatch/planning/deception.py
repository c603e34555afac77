"""Deception indicators: does activity behave as if the site knows it is watched?

Each indicator is a statistic with a p-value (or a likelihood under a stated null model)
computed by a pure function over pandas/numpy data; :func:`deception_caveats` turns the
flagged ones into sentences for alerts and reports. They are prompts for an analyst, not
findings: every caveat names the innocent explanation too.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy import sparse, stats
from scipy.spatial import cKDTree

from sitewatch.errors import SeriesError

#: Significance level at which an indicator becomes a caveat.
ALPHA = 0.01
#: Random seed of permutation tests, so that caveats are reproducible.
SEED = 0


@dataclass(frozen=True)
class Indicator:
    """One deception statistic and the sentence an analyst reads when it is flagged."""

    name: str  # "overpass_schedule" | "decoy" | "concealment" | "post_alert_drop"
    statistic: float
    p_value: float
    flagged: bool
    summary: str


def _require(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise SeriesError(f"{what}: missing column(s) {', '.join(missing)}", fix=f"give columns {', '.join(columns)}")


def _p(p: float) -> str:
    return f"p={p:.2g}" if p >= 1e-4 else "p<0.0001"


# -- (a) activity correlated with the overpass schedule ------------------------------------


def label_at_passes(
    times: Sequence[dt.datetime], pass_times: Sequence[dt.datetime], *, tolerance: dt.timedelta = dt.timedelta(hours=1)
) -> NDArray[np.bool_]:
    """True where an observation time is within ``tolerance`` of a predicted pass."""
    if not len(pass_times):
        return np.zeros(len(times), dtype=bool)
    passes = np.sort(np.array([t.timestamp() for t in pass_times]))
    obs = np.array([t.timestamp() for t in times])
    i = np.searchsorted(passes, obs)  # the passes either side of each observation
    before, after = passes[np.clip(i - 1, 0, len(passes) - 1)], passes[np.clip(i, 0, len(passes) - 1)]
    nearest = np.minimum(np.abs(obs - before), np.abs(obs - after))
    return np.asarray(nearest <= tolerance.total_seconds())


def overpass_correlation(
    values: ArrayLike, at_pass: ArrayLike, *, n_resamples: int = 9999, alpha: float = ALPHA, seed: int = SEED
) -> Indicator | None:
    """Do counts at predicted (known) overpasses differ from counts at other observations?

    Two-sided permutation test of the difference in means. ``values`` may be counts or
    presence (0/1). None when either group has fewer than 3 observations.
    """
    v = np.asarray(values, dtype=float)
    mask = np.asarray(at_pass, dtype=bool)
    if v.shape != mask.shape:
        raise SeriesError(f"{v.size} values but {mask.size} pass labels", fix="give one label per observation")
    at, other = v[mask], v[~mask]
    if at.size < 3 or other.size < 3:
        return None

    def diff(a: NDArray[np.float64], b: NDArray[np.float64], axis: int) -> NDArray[np.float64]:
        return np.mean(a, axis=axis) - np.mean(b, axis=axis)

    res = stats.permutation_test(
        (at, other), diff, permutation_type="independent", n_resamples=n_resamples, vectorized=True, rng=seed
    )
    p = float(res.pvalue)
    direction = "lower" if at.mean() < other.mean() else "higher"
    return Indicator(
        "overpass_schedule",
        float(res.statistic),
        p,
        p < alpha,
        f"activity is {direction} in images taken at predictable overpasses than in other images (mean "
        f"{at.mean():.1f} vs {other.mean():.1f}, permutation {_p(p)}): the site may time its activity to the "
        "satellites it can predict, or the difference comes from time of day and sensor",
    )


# -- (b) decoy-like objects ---------------------------------------------------------------

#: Classes that normally come and go; cranes, rail cars and plant may legitimately stay for weeks.
MOBILE_CLASSES: tuple[str, ...] = ("car", "truck", "bus", "tanker", "other_vehicle")


def static_objects(
    detections: pd.DataFrame,
    *,
    radius_m: float = 1.5,
    size_tolerance: float = 0.05,
    observed_dates: Iterable[dt.date] | None = None,
    zone_observed: Mapping[str, Collection[dt.date]] | None = None,
) -> pd.DataFrame:
    """Group detections of one class at the same spot across dates into tracks and describe them.

    ``detections`` has columns ``date, cls, x, y, length, width`` (metres in a local projected
    frame) and optionally ``shadow`` (shadow length, m) with ``sun_elevation`` (degrees).
    A busy parking spot is re-occupied by other vehicles, so an object "stays" from one
    observed date to the next only if its length agrees to ``size_tolerance``.

    Returns one row per track: ``cls, x, y, n_dates, run`` (longest streak of consecutive
    observed dates the same object stayed), ``since`` (the streak's first date), ``jitter_m``
    (RMS distance to the track centre), ``length_m``, ``size_cv``, ``height_m``/``height_cv``
    (height implied by the shadow, NaN without shadows) and ``p_persist``: the chance that an
    ordinary vehicle of the class stays that long, p_stay ** (run - 1), with p_stay the share of
    stays among all tracks of the class.
    ``p_tail`` is the empirical version, free of the geometric model: the share of the class's
    tracks that stayed at least as long. ``zone`` is the track's zone when detections have a
    ``zone_id`` column.

    ``observed_dates`` are the dates with a usable image (default: dates with detections);
    with ``zone_observed`` (zone id -> dates its zone was clear) and a ``zone_id`` column, a
    date on which a track's zone was not seen (cloud) neither breaks nor extends its streak.
    """
    _require(detections, ["date", "cls", "x", "y", "length", "width"], "detections")
    if detections.empty:
        return pd.DataFrame(columns=["cls", "x", "y", "n_dates", "run", "jitter_m", "length_m", "size_cv", "p_persist"])
    df = detections.reset_index(drop=True).copy()
    df["date"] = pd.to_datetime(df["date"]).dt.date
    dates = sorted(set(observed_dates) if observed_dates is not None else set(df["date"]))
    date_index = {d: i for i, d in enumerate(dates)}

    # Connected components of "same class within radius": one track per spot.
    xy = df[["x", "y"]].to_numpy(float)
    pairs = cKDTree(xy).query_pairs(radius_m, output_type="ndarray")
    pairs = pairs[df["cls"].to_numpy()[pairs[:, 0]] == df["cls"].to_numpy()[pairs[:, 1]]]
    graph = sparse.coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(len(df), len(df)))
    df["track"] = sparse.csgraph.connected_components(graph, directed=False)[1]

    # Length of each track on each observed date (NaN: absent), then stays and streaks per row.
    lengths = (
        df[df["date"].isin(date_index)].groupby(["track", "date"])["length"].mean().unstack().reindex(columns=dates)
    )
    grid = lengths.to_numpy(float)
    present = np.isfinite(grid)
    seen = np.ones_like(present)
    if zone_observed is not None and "zone_id" in df.columns:
        zones = df.groupby("track")["zone_id"].first().reindex(lengths.index)
        for row, zone in enumerate(zones):
            if zone in zone_observed:
                seen[row] = [d in zone_observed[zone] for d in dates]
        seen |= present  # a detection proves the spot was seen
    streaks = np.array([_streak(grid[r, seen[r]], size_tolerance) for r in range(len(grid))]).reshape(-1, 5)
    seen_dates = [np.asarray(dates, dtype=object)[seen[r]] for r in range(len(grid))]

    df["size"] = df["length"] * df["width"]
    g = df.groupby("track")
    centre = g[["x", "y"]].transform("mean")
    df["d2"] = (df["x"] - centre["x"]) ** 2 + (df["y"] - centre["y"]) ** 2
    tracks = g.agg(cls=("cls", "first"), x=("x", "mean"), y=("y", "mean"), length_m=("length", "mean"))
    tracks = tracks.reindex(lengths.index)
    tracks["n_dates"] = present.sum(axis=1)
    tracks["run"], tracks["stays"], tracks["chances"] = streaks[:, [0, 2, 3]].astype(int).T
    tracks["since"] = [d[int(k)] if k >= 0 else None for d, k in zip(seen_dates, streaks[:, 1], strict=True)]
    tracks["length_m"] = streaks[:, 4]  # over the stay: a spot's other occupants do not blur it
    tracks["jitter_m"] = np.sqrt(g["d2"].mean())
    tracks["size_cv"] = g["size"].std(ddof=0) / g["size"].mean()
    tracks["height_m"] = tracks["height_cv"] = np.nan
    if {"shadow", "sun_elevation"} <= set(df.columns):
        df["height"] = df["shadow"] * np.tan(np.radians(df["sun_elevation"]))
        h = df.groupby("track")["height"]
        tracks["height_m"] = h.median()
        tracks["height_cv"] = h.std(ddof=0) / h.mean().clip(lower=1e-6)
    tracks["zone"] = df.groupby("track")["zone_id"].first() if "zone_id" in df.columns else None
    tracks = tracks.reset_index()

    # Turnover per class (all classes pooled when a class has too few). Suspects are included:
    # leaving out long stays would bias the estimate low and make every long stay look odd.
    pooled = (tracks["stays"].sum() + 1) / (tracks["chances"].sum() + 2)  # Laplace-smoothed
    by_cls = tracks.groupby("cls")[["stays", "chances"]].sum()
    p_stay = {cls: (r.stays + 1) / (r.chances + 2) if r.chances >= 10 else pooled for cls, r in by_cls.iterrows()}
    stay = tracks["cls"].map(p_stay).fillna(pooled).astype(float)
    tracks["p_persist"] = stay ** (tracks["run"] - 1).clip(lower=0)
    # Empirical tail: the share of the class's tracks that stayed at least as long (no model).
    tracks["p_tail"] = tracks.groupby("cls")["run"].rank(method="min", ascending=False) / tracks.groupby("cls")[
        "run"
    ].transform("size")
    return tracks.drop(columns=["stays", "chances"])


def _streak(lengths: NDArray[np.float64], tolerance: float) -> tuple[int, int, int, int, float]:
    """(longest stay, its first position, stays, chances, mean length over the stay) of one track."""
    present = np.isfinite(lengths)
    if not present.any():
        return 0, -1, 0, 0, float("nan")
    with np.errstate(invalid="ignore"):
        same = present[:-1] & present[1:] & (np.abs(np.diff(lengths)) <= tolerance * lengths[:-1])
    best, first, run = 0, int(np.argmax(present)), 0
    for i, stayed in enumerate(same):
        run = run + 1 if stayed else 0
        if run > best:
            best, first = run, i + 1 - run
    mean = float(np.mean(lengths[first : first + best + 1]))
    return best + 1, first, int(same.sum()), int(present[:-1].sum()), mean


def _clone_groups(lengths: pd.Series, tolerance: float) -> list[list[int]]:
    """Indices of tracks whose lengths agree to ``tolerance`` (greedy, in order of length)."""
    groups: list[list[int]] = []
    for i, length in lengths.sort_values().items():
        if groups and length <= lengths[groups[-1][0]] * (1 + tolerance):
            groups[-1].append(int(i))
        else:
            groups.append([int(i)])
    return groups


def _group_p(tracks: pd.DataFrame, min_run: int, tolerance: float) -> pd.Series:
    """Chance that ``k`` look-alike tracks of a class in a zone, arrived together, all stay as long as they did.

    Dwell times of real vehicles vary more than a geometric model allows, so each track counts
    with its empirical tail ``p_tail``; tracks are taken as independent: the product, times the
    number of ways to pick ``k`` of the zone's tracks of that class and the number of such
    (zone, class) sets (union bounds).
    """
    out = pd.Series(1.0, index=tracks.index)
    keys = ["cls"] if tracks["zone"].isna().all() else ["cls", "zone"]
    sets = tracks.groupby(keys, dropna=False)
    for _, same in sets:
        candidates = same[same["run"] >= min_run]
        together = [list(g["length_m"].index) for _, g in candidates.groupby("since")]
        for group in (c for ids in together for c in _clone_groups(candidates.loc[ids, "length_m"], tolerance)):
            if len(group) < 2:
                continue
            log_p = math.log(math.comb(len(same), len(group)) * sets.ngroups)
            log_p += float(np.log(tracks.loc[group, "p_tail"]).sum())
            out[group] = min(1.0, math.exp(log_p))
    return out


def flag_decoys(
    tracks: pd.DataFrame,
    *,
    classes: Sequence[str] = MOBILE_CLASSES,
    min_dates: int = 5,
    min_group_run: int = 3,
    max_jitter_m: float = 0.1,
    max_size_cv: float = 0.02,
    clone_tolerance: float = 0.03,
    min_height_m: float = 0.5,
    max_height_cv: float = 0.5,
    alpha: float = ALPHA,
) -> pd.DataFrame:
    """Tracks of :func:`static_objects` that look like decoys, with ``p_adjusted`` and the reasons.

    Decoy-like, either alone or as a set of clones:

    - a vehicle of a mobile class that stayed ``min_dates`` observed dates or more against the
      site's turnover (``p_persist`` times the number of tracks, a Bonferroni correction, below
      ``alpha``) and is identical from image to image: position fixed to ``max_jitter_m``
      (independent images differ in georeferencing by more), size fixed to ``max_size_cv``,
      the same length as another such object, or a shadow too short or inconsistent;
    - several look-alikes (lengths within ``clone_tolerance``) that arrived on the same date and
      each stayed at least ``min_group_run`` dates, jointly unlikely (:func:`_group_p`).
    """
    tracks = tracks[tracks["cls"].isin(classes)]
    if tracks.empty:
        return tracks.assign(p_adjusted=pd.Series(dtype=float), reasons=pd.Series(dtype=str))
    p_adj = (tracks["p_persist"] * len(tracks)).clip(upper=1.0)
    static = (tracks["run"] >= min_dates) & (p_adj < alpha)
    group_p = _group_p(tracks, min_group_run, clone_tolerance)
    reasons = pd.Series([[] for _ in range(len(tracks))], index=tracks.index)
    for i, t in tracks[static | (group_p < alpha)].iterrows():
        peers = tracks[static & (tracks["cls"] == t["cls"]) & (tracks.index != i)]
        clones = int((abs(peers["length_m"] - t["length_m"]) <= clone_tolerance * t["length_m"]).sum())
        for hit, text in (
            (static[i] and t["jitter_m"] <= max_jitter_m, "no position jitter"),
            (static[i] and t["size_cv"] <= max_size_cv, "identical size from image to image"),
            (static[i] and clones > 0, "the same size as other static objects"),
            (static[i] and t["height_m"] < min_height_m, "no shadow"),
            (static[i] and t["height_cv"] > max_height_cv, "an inconsistent shadow"),
            (group_p[i] < alpha, "look-alikes that arrived and stayed together"),
        ):
            if hit:
                reasons[i].append(text)
    flagged = reasons.map(bool)
    p_best = np.minimum(p_adj.where(static, 1.0), group_p)
    return tracks[flagged].assign(p_adjusted=p_best[flagged], reasons=reasons[flagged].map(", ".join))


def decoy_indicator(tracks: pd.DataFrame, *, min_dates: int = 5, alpha: float = ALPHA) -> Indicator | None:
    """Summarise :func:`flag_decoys` as one indicator."""
    mobile = tracks[tracks["cls"].isin(MOBILE_CLASSES)] if not tracks.empty else tracks
    if mobile.empty:
        return None
    flagged = flag_decoys(tracks, min_dates=min_dates, alpha=alpha)
    if flagged.empty:
        p = min(1.0, float(mobile["p_persist"].min()) * len(mobile))
        return Indicator("decoy", 0.0, p, False, "no decoy-like objects")
    p = float(flagged["p_adjusted"].min())
    classes = ", ".join(f"{n} {c}(s)" for c, n in flagged["cls"].value_counts().items())
    reasons = sorted({r for rs in flagged["reasons"] for r in rs.split(", ")})
    lo, hi = flagged["run"].min(), flagged["run"].max()
    runs = str(lo) if lo == hi else f"{lo}-{hi}"
    return Indicator(
        "decoy",
        float(len(flagged)),
        p,
        True,
        f"{classes} stayed at the same spot on {runs} consecutive images with {'; '.join(reasons)} "
        f"(chance for ordinary vehicles given this site's turnover {_p(p)}): possible decoys, or long-parked vehicles",
    )


# -- (c) concealment ----------------------------------------------------------------------


def _robust_z(x: NDArray[np.float64]) -> NDArray[np.float64]:
    med = np.median(x)
    scale = 1.4826 * np.median(np.abs(x - med))
    return (x - med) / max(scale, 1e-9 * max(1.0, float(np.max(np.abs(x)))))


def concealment(
    texture: pd.DataFrame, *, max_count_z: float = 2.0, min_observations: int = 8, alpha: float = ALPHA
) -> list[Indicator]:
    """Per zone, the sharpest texture change between consecutive images without a change in objects.

    ``texture`` has columns ``date, zone_id, texture, count``: one row per image and zone, with
    a texture statistic of the zone (e.g. local standard deviation or GLCM contrast) and the
    number of objects counted there. Changes are robust z-scores of consecutive differences
    (median/MAD), two-sided normal p-values with a Bonferroni correction per zone.
    """
    _require(texture, ["date", "zone_id", "texture", "count"], "texture statistics")
    out = []
    for zone, g in texture.sort_values("date").groupby("zone_id", sort=True):
        if len(g) < min_observations:
            continue
        d_tex = np.diff(g["texture"].to_numpy(float))
        d_cnt = np.diff(g["count"].to_numpy(float))
        z_tex, z_cnt = _robust_z(d_tex), _robust_z(d_cnt)
        quiet = (np.abs(z_cnt) < max_count_z) | (d_cnt == 0)
        candidates = np.flatnonzero(quiet)
        if candidates.size == 0:
            continue
        k = candidates[np.argmax(np.abs(z_tex[candidates]))]
        p = min(1.0, float(2 * stats.norm.sf(abs(z_tex[k]))) * len(d_tex))
        dates = pd.to_datetime(g["date"]).dt.strftime("%Y-%m-%d").to_numpy()
        out.append(
            Indicator(
                "concealment",
                float(z_tex[k]),
                p,
                p < alpha,
                f"zone {zone}: image texture changed sharply between {dates[k]} and {dates[k + 1]} (robust z="
                f"{z_tex[k]:.1f}, {_p(p)}) while its object count did not ({d_cnt[k]:+.0f}): something may have been "
                "covered or camouflaged, or the ground changed (works, snow, season)",
            )
        )
    return out


# -- (d) sudden drop right after an alert -------------------------------------------------


def post_alert_drop(
    series: pd.Series,
    alert_start: dt.date,
    alert_end: dt.date,
    *,
    after: dt.timedelta = dt.timedelta(days=14),
    baseline: dt.timedelta = dt.timedelta(days=90),
    alpha: float = ALPHA,
) -> Indicator | None:
    """Did activity fall below its usual level right after the alert?

    ``series`` holds one count per usable observation, indexed by date or time. The images in
    ``after`` the alert's end are compared with those in ``baseline`` before its start by a
    one-sided Mann-Whitney U test (counts are overdispersed, so no Poisson assumption; a
    handful of images cannot reach a small p-value). None when there is no image after the
    alert or fewer than 3 before it.
    """
    if series.empty:
        return None
    days = pd.to_datetime(pd.Index(series.index)).date
    values = series.to_numpy(float)
    base = values[(days >= alert_start - baseline) & (days < alert_start)]
    later = values[(days > alert_end) & (days <= alert_end + after)]
    if later.size == 0 or base.size < 3:
        return None
    if not np.ptp(np.concatenate([base, later])):
        return None  # all equal: nothing to test
    p = float(stats.mannwhitneyu(later, base, alternative="less").pvalue)
    ratio = later.mean() / base.mean() if base.mean() > 0 else float("inf")
    return Indicator(
        "post_alert_drop",
        float(ratio),
        p,
        p < alpha,
        f"activity fell right after the alert: {later.mean():.1f} per image in the {after.days} days after it vs "
        f"{base.mean():.1f} usually (ratio {ratio:.2f}, {_p(p)}): the site may have reacted to being "
        "watched, or the activity simply ended",
    )


def deception_caveats(indicators: Iterable[Indicator | None]) -> list[str]:
    """Sentences for the flagged indicators, most significant first."""
    flagged = sorted((i for i in indicators if i is not None and i.flagged), key=lambda i: i.p_value)
    return [f"possible deception: {i.summary}" for i in flagged]
