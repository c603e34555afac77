"""Causal negative-binomial baselines for irregularly sampled count series.

For each series (site, zone, class) and each observation day ``t`` the expected true count
is ``μ_t = level_t · weekday_t · season_t`` where every term uses observations strictly
before ``t`` only:

- ``weekday``: past mean on that weekday over the past overall mean, shrunk towards 1;
- ``season``: the same calendar month in previous years over those years' mean, shrunk
  towards 1 (absent in the first year);
- ``level``: mean of the de-seasonalised estimates over ``level_window_days`` ending
  ``guard_days`` before ``t`` (a guard band: a ramp building up over the last days must
  not lift its own baseline), leaving out past outliers found against a rolling median
  (robust to past upticks, unbiased for skewed counts, indifferent to irregular sampling).

Raw counts are compared with ``NB(mean = q·μ, dispersion α)``: binomial thinning by the
coverage/detectability factor ``q`` keeps the NB family with the same α, so partially seen
scenes are tested on what could be seen. α is a moment estimate over
``dispersion_window_days``, shrunk towards the site's pooled value and widened for the
uncertainty of μ. The evidence for an uptick is the NB upper-tail probability and the
log-likelihood ratio of a ``shift``-fold rise, accumulated by a capped CUSUM that restarts
after long gaps; :func:`site_scores` adds a site-level CUSUM of a mixture likelihood ratio
that pools the evidence of all series of a site observed on the same day.
Because nothing looks ahead, scoring a longer history never changes the scores of earlier
days: appending scenes is an incremental update.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from pandas.api.indexers import BaseIndexer
from scipy.special import betainc, gammaln
from scipy.stats import norm

from sitewatch.analytics.series import ALL_CLASSES, SERIES_KEY
from sitewatch.model import Baseline

SCORE_COLUMNS: list[str] = [
    "mu",
    "alpha",
    "expected",
    "sd",
    "p_tail",
    "llr",
    "cusum",
    "n_history",
    "z",
    "z_nb",
    "site_llr",
    "site_cusum",
]


@dataclass(frozen=True)
class BaselineParams:
    """Tuning of the baseline; defaults suit scenes every few days over months to years."""

    level_window_days: int = 56
    dispersion_window_days: int = 180
    min_history: int = 5
    weekday_prior: float = 8.0
    seasonal_prior: float = 4.0
    min_mean: float = 0.5  # a floor so one detection of a rare class is not "infinitely" unusual
    alpha_min: float = 0.05
    alpha_max: float = 3.0
    alpha_default: float = 0.3
    dispersion_prior: float = 10.0
    shift: float = 3.0  # the CUSUM looks for a rise by this factor (calibrated on simulator ramps)
    reset_gap_days: int = 45
    cusum_cap: float = 12.0  # so the statistic falls back within a few normal scenes after an uptick
    # Share of a site's series assumed to rise together in a preparation (the mixture weight
    # of the site-level CUSUM). On the simulator (seeds 0-2, site_threshold 6-7) 0.2-0.3 gave
    # the same recall; 0.1 and 0.5 one episode fewer at equal or more false alarms.
    site_mixture: float = 0.3
    outlier_p: float = 1e-3
    # Leave the most recent days out of the level so a slow ramp cannot lift its own baseline.
    # Off by default: on the simulator (seeds 0-2) 7 days gained no recall at equal false alarms.
    guard_days: int = 0


# Negative binomial with mean m and size r (variance m + m²/r), written with special
# functions: scipy.stats' generic machinery costs more than the maths on millions of rows.


def nb_logpmf(x: np.ndarray, m: np.ndarray, r: np.ndarray) -> np.ndarray:
    """``log P(X = x)``."""
    return gammaln(x + r) - gammaln(r) - gammaln(x + 1) + r * np.log(r / (r + m)) + x * np.log(m / (r + m))


def nb_upper_tail(x: np.ndarray, m: np.ndarray, r: np.ndarray) -> np.ndarray:
    """``P(X ≥ x)`` = I_{m/(r+m)}(x, r), the regularised incomplete beta function (1 for x = 0)."""
    out = np.ones_like(m, dtype=float)
    pos = x > 0
    out[pos] = betainc(x[pos], r[pos], m[pos] / (r[pos] + m[pos]))
    return np.where(np.isnan(m) | np.isnan(r), np.nan, out)


def nb_shift_llr(x: np.ndarray, m: np.ndarray, r: np.ndarray, k: float) -> np.ndarray:
    """``log P(x | mean k·m) − log P(x | mean m)`` at the same size (the Γ terms cancel)."""
    return r * np.log((r + m) / (r + k * m)) + x * np.log(k * (r + m) / (r + k * m))


def capped_cusum(llr: np.ndarray, restart: np.ndarray, cap: float) -> np.ndarray:
    """Page's CUSUM ``S_t = min(cap, max(0, S_{t-1} + llr_t))``, set to 0 before each ``restart`` row.

    Runs of rows between restarts are laid out as the rows of a padded matrix, so the
    recursion loops over time steps (hundreds) with all runs updated at once.
    """
    n = llr.size
    if n == 0:
        return np.zeros(0)
    run = np.cumsum(restart.astype(bool) | (np.arange(n) == 0)) - 1
    starts = np.flatnonzero(np.r_[True, run[1:] != run[:-1]])
    pos = np.arange(n) - starts[run]
    grid = np.zeros((starts.size, int(pos.max()) + 1))
    grid[run, pos] = llr
    out = np.empty_like(grid)
    s = np.zeros(starts.size)
    for j in range(grid.shape[1]):
        s = np.minimum(cap, np.maximum(0.0, s + grid[:, j]))
        out[:, j] = s
    return out[run, pos]


class _PastWindow(BaseIndexer):
    """Window bounds given up front: rows ``[start, end)`` for each row."""

    def __init__(self, start: np.ndarray, end: np.ndarray) -> None:
        super().__init__()
        self._start, self._end = start.astype(np.int64), end.astype(np.int64)

    def get_window_bounds(
        self,
        num_values: int = 0,
        min_periods: int | None = None,
        center: bool | None = None,
        closed: str | None = None,
        step: int | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        return self._start, self._end


def _past_sum(values: pd.Series, keys: list[pd.Series]) -> pd.Series:
    """Sum of ``values`` over earlier rows of the same group (rows already sorted by date)."""
    return values.groupby(keys).cumsum() - values


def _shrunk_ratio(s: pd.Series, n: pd.Series, mean: pd.Series, prior: float) -> pd.Series:
    ratio = (s + prior * mean) / ((n + prior) * mean)
    return ratio.where((mean > 0) & np.isfinite(ratio), 1.0)


def _weekday_factor(df: pd.DataFrame, prior: float) -> pd.Series:
    y, one = df["estimate"], pd.Series(1.0, index=df.index)
    dow = df["date"].dt.day_of_week
    s_all, n_all = _past_sum(y, [df["gid"]]), _past_sum(one, [df["gid"]])
    s_dow, n_dow = _past_sum(y, [df["gid"], dow]), _past_sum(one, [df["gid"], dow])
    return _shrunk_ratio(s_dow, n_dow, s_all / n_all.replace(0, np.nan), prior)


def _seasonal_factor(df: pd.DataFrame, prior: float) -> pd.Series:
    """Month-of-year factor from complete previous calendar years only."""
    year, month = df["date"].dt.year.rename("year"), df["date"].dt.month.rename("month")
    ym = df.groupby([df["gid"], year, month])["estimate"].agg(["sum", "count"]).reset_index()
    ym["s_m"] = ym.groupby(["gid", "month"])["sum"].cumsum() - ym["sum"]
    ym["n_m"] = ym.groupby(["gid", "month"])["count"].cumsum() - ym["count"]
    yy = ym.groupby(["gid", "year"])[["sum", "count"]].sum().reset_index()
    yy["s_y"] = yy.groupby("gid")["sum"].cumsum() - yy["sum"]
    yy["n_y"] = yy.groupby("gid")["count"].cumsum() - yy["count"]
    ym = ym.merge(yy[["gid", "year", "s_y", "n_y"]], on=["gid", "year"])
    mean = ym["s_y"] / ym["n_y"].replace(0, np.nan)
    ym["season"] = _shrunk_ratio(ym["s_m"], ym["n_m"], mean, prior)
    keys = pd.DataFrame({"gid": df["gid"], "year": year, "month": month})
    return keys.merge(ym[["gid", "year", "month", "season"]], how="left", on=["gid", "year", "month"])[
        "season"
    ].set_axis(df.index)


def _rolling_past(df: pd.DataFrame, column: str, days: int, how: str, min_periods: int, guard: int = 0) -> pd.Series:
    """Rolling statistic over ``days`` before each row of its series (``df`` sorted by gid, date).

    With ``guard > 0`` the window is ``[t − guard − days, t − guard)``: the most recent
    ``guard`` days are left out. One pass over the whole frame with precomputed bounds:
    much faster than a grouped time-based rolling, and windows never cross series.
    """
    day = df["date"].to_numpy(dtype="datetime64[D]").astype(np.int64)
    key = df["gid"].to_numpy(dtype=np.int64) * 10_000_000 + day
    start = np.searchsorted(key, key - guard - days, side="left")
    end = np.arange(key.size) if guard <= 0 else np.searchsorted(key, key - guard, side="left")
    roll = df[column].reset_index(drop=True).rolling(_PastWindow(start, end), min_periods=min_periods)
    return pd.Series(getattr(roll, how)().to_numpy(), index=df.index)


def _pooled_dispersion(df: pd.DataFrame, days: int) -> pd.Series:
    """Moment estimate of α over the series of a site in the ``days`` before each date.

    Zone totals are pooled apart from single classes: a sum of independent counts is
    relatively less dispersed, and would otherwise pull the classes' α down.
    """
    pool = df["site_id"].astype(str) + np.where(df["cls"] == ALL_CLASSES, "|total", "|class")
    work = df.assign(pool=pool)
    daily = work.groupby(["pool", "date"], as_index=False)[["_num", "_den"]].sum().sort_values(["pool", "date"])
    daily["gid"] = daily.groupby("pool", sort=True).ngroup()
    num, den = (_rolling_past(daily, c, days, "sum", 0) for c in ("_num", "_den"))
    daily["pooled"] = num / den.where(den > 0)
    merged = work[["pool", "date"]].merge(daily[["pool", "date", "pooled"]], how="left", on=["pool", "date"])
    return merged["pooled"].set_axis(df.index)


def site_scores(df: pd.DataFrame, params: BaselineParams) -> pd.DataFrame:
    """Per row, its site's mixture log-likelihood ratio on that day and the site-level CUSUM.

    A preparation lifts several zones and classes a little at once, often before any single
    series is conclusive. The alternative "each series of the site rose by ``shift`` with
    probability ``π = site_mixture``, independently" has, against the baseline, the daily
    log-likelihood ratio ``Σ_i log(1 − π + π·LR_i)`` over the series seen that day. For
    independent series that fit their baselines its exponential has expectation 1 whatever
    their number, so there is no multiplicity term, and a few series rising moderately
    outweigh many flat ones (unlike a plain sum of LLRs). Zone totals enter next to their
    classes (a total pools classes that each rise too little to show), and zones share the
    site's mood, so the series are not independent: the threshold is set empirically.
    """
    use = df.dropna(subset=["_llr"])
    cols = ["site_id", "date", "site_llr", "site_cusum"]
    if use.empty:
        return pd.DataFrame(np.nan, index=df.index, columns=["site_llr", "site_cusum"])
    pi = params.site_mixture
    mix = np.logaddexp(np.log1p(-pi), np.log(pi) + use["_llr"].to_numpy(dtype=float))
    day = (
        pd.Series(mix, index=use.index)
        .groupby([use["site_id"], use["date"]])
        .sum()
        .rename("site_llr")
        .reset_index()
        .sort_values(["site_id", "date"], ignore_index=True)
    )
    gap = day.groupby("site_id")["date"].diff().dt.days.fillna(0) > params.reset_gap_days
    restart = (day["site_id"] != day["site_id"].shift()) | gap
    day["site_cusum"] = capped_cusum(day["site_llr"].to_numpy(), restart.to_numpy(), params.cusum_cap)
    merged = df[["site_id", "date"]].merge(day[cols], how="left", on=["site_id", "date"])
    return merged[["site_llr", "site_cusum"]].set_axis(df.index)


def score_observations(obs: pd.DataFrame, params: BaselineParams = BaselineParams()) -> pd.DataFrame:
    """``obs`` (see :mod:`sitewatch.analytics.series`) with :data:`SCORE_COLUMNS` added.

    Rows not ``sufficient`` keep NaN scores and neither feed nor reset the baseline.
    ``z`` is the rolling z-score of the estimate (the simple baseline the NB rule is
    compared with in back-tests).
    """
    out = obs.copy()
    for col in SCORE_COLUMNS:
        out[col] = np.nan
    df = obs[obs["sufficient"] & np.isfinite(obs["estimate"])].sort_values([*SERIES_KEY, "date"]).copy()
    if df.empty:
        return out
    df["gid"] = df.groupby(SERIES_KEY, sort=False).ngroup()  # increasing, as df is sorted by key
    factor = _weekday_factor(df, params.weekday_prior) * _seasonal_factor(df, params.seasonal_prior)
    df["adjusted"] = df["estimate"] / factor
    # Level: a rolling median finds the outliers (past upticks), then the mean of the rest
    # is used, since the median of a skewed count distribution underestimates its mean.
    g = params.guard_days
    median = _rolling_past(df, "adjusted", params.level_window_days, "median", params.min_history, g)
    m0 = np.maximum(median * factor, params.min_mean) * df["q"]
    size0 = 1.0 / params.alpha_default
    tail0 = nb_upper_tail(df["raw"].to_numpy(dtype=float), m0.to_numpy(), np.full(len(df), size0))
    inlier = pd.Series(tail0 > params.outlier_p, index=df.index)
    inlier |= median.isna()
    df["_y"] = df["adjusted"].where(inlier, 0.0)
    df["_n"] = inlier.astype(float)
    n_hist = _rolling_past(df, "_n", params.level_window_days, "sum", 0, g)
    level = (_rolling_past(df, "_y", params.level_window_days, "sum", 0, g) / n_hist).where(
        (n_hist >= params.min_history) & median.notna()
    )
    df["n_history"] = n_hist
    mu = np.maximum(level * factor, params.min_mean).where(level.notna())
    m = mu * df["q"]

    # Moment estimate of α: E[(y − m)² − y] = α·m², over the same inliers (the upticks we
    # look for must not widen the baseline they are judged against).
    df["_num"] = (np.minimum((df["raw"] - m) ** 2 - df["raw"], params.alpha_max * m**2)).where(inlier, 0.0)
    df["_den"] = (m**2).where(inlier, 0.0)
    num = _rolling_past(df, "_num", params.dispersion_window_days, "sum", params.min_history)
    den = _rolling_past(df, "_den", params.dispersion_window_days, "sum", params.min_history)
    # Small series say little about their own dispersion: shrink towards the site's pooled α
    # as if it were ``dispersion_prior`` observations at the current mean.
    pooled = _pooled_dispersion(df, params.dispersion_window_days).fillna(params.alpha_default)
    prior = params.dispersion_prior * m**2
    alpha = ((num.fillna(0.0) + pooled * prior) / (den.fillna(0.0) + prior)).clip(params.alpha_min, params.alpha_max)
    alpha = alpha.fillna(params.alpha_default)
    # Predictive dispersion: μ itself is a mean of n past values, so widen by var(μ̂) ≈ var(y)/n.
    alpha = alpha + (1.0 / m.clip(lower=1e-9) + alpha) / n_hist.clip(lower=1.0)

    size = 1.0 / alpha
    raw = df["raw"].to_numpy(dtype=float)
    p_tail = pd.Series(nb_upper_tail(raw, m.to_numpy(), size.to_numpy()), index=df.index)
    llr = pd.Series(nb_shift_llr(raw, m.to_numpy(), size.to_numpy(), params.shift), index=df.index)

    # Mid-p normal score of each observation (pre-event signatures compare zones with it).
    pmf = np.exp(nb_logpmf(raw, m.to_numpy(), size.to_numpy()))
    p_mid = np.clip(p_tail.to_numpy() - 0.5 * pmf, 1e-12, 1 - 1e-12)
    df["_z"] = pd.Series(norm.isf(p_mid), index=df.index).where(mu.notna())
    df["_llr"] = llr.where(mu.notna())
    site = site_scores(df, params)

    gap = df.groupby("gid")["date"].diff().dt.days.fillna(0) > params.reset_gap_days
    restart = (df["gid"].diff().fillna(1) != 0) | gap
    cusum = pd.Series(capped_cusum(llr.fillna(0.0).to_numpy(), restart.to_numpy(), params.cusum_cap), index=df.index)

    mean = _rolling_past(df, "estimate", params.level_window_days, "mean", params.min_history)
    std = _rolling_past(df, "estimate", params.level_window_days, "std", params.min_history)
    z = (df["estimate"] - mean) / np.maximum(std, 0.5)

    scores = pd.DataFrame(
        {
            "mu": mu,
            "alpha": alpha.where(mu.notna()),
            "expected": m,
            "sd": np.sqrt(mu + alpha * mu**2),
            "p_tail": p_tail.where(mu.notna()),
            "llr": llr.where(mu.notna()),
            "cusum": cusum.where(mu.notna()),
            "n_history": df["n_history"],
            "z": z,
            "z_nb": df["_z"],
            "site_llr": site["site_llr"],
            "site_cusum": site["site_cusum"],
        },
        index=df.index,
    )
    out.loc[scores.index, SCORE_COLUMNS] = scores[SCORE_COLUMNS]
    return out


def baselines_of(scored: pd.DataFrame) -> list[Baseline]:
    """The band ``μ ± 2 sd`` (lo floored at 0) of every scored observation with a baseline.

    ``scored`` is the output of :func:`score_observations`, so the band is the one the
    alerts were judged against; analyze stores it with the counts.
    """
    if scored.empty:
        return []
    ok = scored[np.isfinite(scored["mu"].astype(float))]
    out = []
    for site_id, zone_id, cls, day, mu, sd in zip(
        ok["site_id"], ok["zone_id"], ok["cls"], ok["date"], ok["mu"], ok["sd"], strict=True
    ):
        mu, sd = float(mu), float(sd) if math.isfinite(sd) else 0.0
        lo, hi = round(max(0.0, mu - 2 * sd), 3), round(mu + 2 * sd, 3)
        out.append(Baseline(site_id, zone_id, cls, day.date(), round(mu, 3), lo, hi))
    return out
