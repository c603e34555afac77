"""Uptick alerts from scored observations: flag, group into episodes, explain.

A series is flagged on a day when its CUSUM (nats of evidence for a rise by
``BaselineParams.shift``) reaches the rule's threshold — plus ``log(n / 10)`` when the site
has ``n > 10`` live series, a Bonferroni-style correction in CUSUM units since the
false-alarm run length grows like ``exp(h)`` — and the day itself is unusual
(``p_tail <= day_p``). A series is also flagged when the site-level mixture CUSUM (see
:func:`~sitewatch.analytics.baseline.site_scores`), which pools the evidence of all the
site's series day by day, reaches ``site_threshold`` and that series is unusual that day.
Flagged days of one site less than ``max_gap_days`` apart form one alert, whatever the
zones and classes involved (so a joint rise of trucks and cranes is one alert). Episode
starts depend on the past only, so they are the alarm times used in back-tests.

Defaults were calibrated on flat synthetic series (about one false alarm per site-year,
see the tests) and with ``benchmarks/analytics_simcalibration.py 3 365 3 0`` (simulator
activity, seeds 0-2 only); seeds 3-8 are held out for evaluation. On seeds 0-2 the mixture
rule (in place of a Stouffer combination of zone totals) and the ``day_p`` gate raised the
recall of pre-event episodes from 0.48 to 0.59 (29 episodes) at 1.9 instead of 2.1 false
alarms per site-year. On the held-out seeds 3-8 (48 episodes) recall did not rise (0.42 to
0.38) while false alarms fell from 1.34 to 0.95 per site-year: the calibration gain of
three episodes is within the noise of so few.

Lower thresholds do not buy recall: on seeds 0-2 it stays at 0.59 from the defaults down
to 3 nats (3.8-4.0 false alarms per site-year). Of the 12 ramps then missed, 9 gave no series
a count with a tail probability below 0.0017 (median of their best days 0.017: too small
a rise for the spread of comparable days) and 3 fell inside an alert begun before the ramp.
Opening a new alert when a day's zones are all new, rather than grouping per site, is an
open lead: at the default thresholds it found no more of the 48 held-out ramps (one
more among precursor-type alerts), but with thresholds of 4-5 nats its precursor-type
alerts found 20 of 48 (0.417) at 0.11-0.34 false alarms per site-year, against 15-19 per
site (and on seeds 0-2, 0.517 against 0.448). It changes what an alert is, so it needs its
own calibration on seeds 0-2 before it can be the default.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from sitewatch.analytics.series import ALL_CLASSES, SERIES_KEY
from sitewatch.model import Alert

#: The CUSUM threshold holds for up to this many live series at a site; more add ``log(n / 10)``.
REFERENCE_SERIES = 10.0

_PLURAL = {
    "bus": "buses",
    "rail_car": "rail cars",
    "construction_vehicle": "construction vehicles",
    "other_vehicle": "other vehicles",
}


@dataclass(frozen=True)
class AlertRule:
    """How scored observations become alerts.

    ``method`` is ``"nb_cusum"`` (the count-aware rule) or ``"zscore"`` (rolling z-score,
    the simple comparison baseline); ``threshold`` is in nats for the former and in
    standard deviations for the latter. ``day_p`` keeps a CUSUM that crept up on a run of
    slightly high days of a rare class (2 trucks against 0.9) from alarming on an ordinary day.
    """

    name: str = "nb_cusum"
    method: str = "nb_cusum"
    threshold: float = 6.3
    site_threshold: float = 7.0  # nats of the site-level mixture CUSUM
    day_p: float = 0.05
    max_gap_days: int = 10


NB_CUSUM = AlertRule()
ZSCORE = AlertRule(name="zscore", method="zscore", threshold=3.0)


def flag_observations(scored: pd.DataFrame, rule: AlertRule = NB_CUSUM) -> pd.Series:
    """Boolean per row of ``scored``: is this series unusually high on this day?"""
    if rule.method == "zscore":
        return (scored["z"] >= rule.threshold).fillna(False).astype(bool)
    if rule.method != "nb_cusum":
        raise ValueError(f"unknown alert method {rule.method!r}; use 'nb_cusum' or 'zscore'")
    h = rule.threshold + np.log(live_series(scored).clip(lower=REFERENCE_SERIES) / REFERENCE_SERIES)
    unusual = (scored["llr"] > 0) & (scored["p_tail"] <= rule.day_p)
    single = scored["cusum"] >= h
    # Site-level mixture CUSUM: the series that were unusual on the day are the ones flagged.
    joint = scored["site_cusum"] >= rule.site_threshold
    return ((single | joint) & unusual).fillna(False).astype(bool)


def live_series(scored: pd.DataFrame) -> pd.Series:
    """Per row, how many series of its site have shown any object so far (causal multiplicity)."""
    first = scored[scored["raw"] > 0].groupby(SERIES_KEY, as_index=False)["date"].min()
    first = first.sort_values("date").assign(n=lambda d: d.groupby("site_id").cumcount() + 1)
    rows = scored[["site_id", "date"]].reset_index().sort_values("date")
    live = pd.merge_asof(rows, first[["site_id", "date", "n"]], on="date", by="site_id")
    return live.set_index("index")["n"].reindex(scored.index).fillna(0.0).astype(float)


def episode_ids(flagged: pd.DataFrame, max_gap_days: int) -> pd.Series:
    """Per flagged row, the number of its episode within its site (causal: gaps to earlier days only)."""
    days = flagged[["site_id", "date"]].drop_duplicates().sort_values(["site_id", "date"])
    gap = days.groupby("site_id")["date"].diff().dt.days
    days["episode"] = (gap.isna() | (gap > max_gap_days)).groupby(days["site_id"]).cumsum()
    return (
        flagged[["site_id", "date"]].merge(days, how="left", on=["site_id", "date"])["episode"].set_axis(flagged.index)
    )


def alarm_days(scored: pd.DataFrame, rule: AlertRule = NB_CUSUM) -> pd.DataFrame:
    """``site_id, date`` of each alert start: the moments a rule would have raised the alarm."""
    flagged = scored[flag_observations(scored, rule)]
    if flagged.empty:
        return pd.DataFrame({"site_id": pd.Series(dtype=str), "date": pd.Series(dtype="datetime64[us]")})
    ep = episode_ids(flagged, rule.max_gap_days)
    return flagged.assign(episode=ep).groupby(["site_id", "episode"], as_index=False)["date"].min()[["site_id", "date"]]


def alert_id(site_id: str, start: pd.Timestamp | str, classes: tuple[str, ...]) -> str:
    """Stable id: the same site, start and classes always give the same alert (idempotent re-analysis)."""
    key = f"{site_id}|{pd.Timestamp(start).date().isoformat()}|{','.join(sorted(classes))}"
    return "alr-" + hashlib.sha1(key.encode()).hexdigest()[:12]


def plural(cls: str) -> str:
    if cls == ALL_CLASSES:
        return "vehicles"
    return _PLURAL.get(cls, cls.replace("_", " ") + "s")


def format_p(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def describe(row: pd.Series, zone_name: str) -> str:
    """One sentence with the numbers behind a flagged observation."""
    return (
        f"{row['estimate']:.0f} {plural(str(row['cls']))} in the {zone_name} vs {row['mu']:.0f} ± {row['sd']:.0f} "
        f"on comparable days ({format_p(float(row['p_tail']))}), zone {row['observed_fraction']:.0%} observed"
    )


def _severity(p_min: float, n_series: int) -> str:
    if p_min < 1e-6 or n_series >= 3:
        return "high"
    if p_min < 1e-4 or n_series >= 2:
        return "medium"
    return "low"


def build_alerts(
    scored: pd.DataFrame,
    rule: AlertRule = NB_CUSUM,
    *,
    zone_names: Mapping[tuple[str, str], str] | None = None,
) -> list[Alert]:
    """Alerts (without interpretation) from scored observations, ordered by site and start."""
    flagged = scored[flag_observations(scored, rule)].copy()
    if flagged.empty:
        return []
    flagged["episode"] = episode_ids(flagged, rule.max_gap_days)
    names = zone_names or {}
    # Per episode and series: total evidence, and the day that best shows it.
    strength_col = "llr" if rule.method == "nb_cusum" else "z"
    keys = ["site_id", "episode", "zone_id", "cls"]
    per_series = flagged.groupby(keys, sort=False).agg(
        strength=(strength_col, "sum"),
        peak=("p_tail" if rule.method == "nb_cusum" else "z", "idxmin" if rule.method == "nb_cusum" else "idxmax"),
    )
    # Single classes explain better than zone totals ("41 trucks" rather than "45 vehicles").
    per_series = per_series.reset_index().assign(total=lambda d: d["cls"] == ALL_CLASSES)
    per_series = per_series.sort_values(
        ["site_id", "episode", "total", "strength"], ascending=[True, True, True, False]
    )
    # Classes above baseline in zones where only the zone total was flagged.
    risen = scored[(scored["cls"] != ALL_CLASSES) & (scored["llr"] > 0)].merge(
        flagged[["site_id", "zone_id", "date", "episode"]].drop_duplicates(), on=["site_id", "zone_id", "date"]
    )
    risen_classes = risen.groupby(["site_id", "episode"])["cls"].agg(lambda c: tuple(sorted(set(c))))
    span = flagged.groupby(["site_id", "episode"])["date"].agg(["min", "max"])
    best = flagged.groupby(["site_id", "episode"])["p_tail"].min()
    top = flagged.groupby(["site_id", "episode"])["cusum" if rule.method == "nb_cusum" else "z"].max()

    alerts: list[Alert] = []
    for (site_id, episode), series in per_series.groupby(["site_id", "episode"], sort=True):
        peaks = [flagged.loc[i] for i in series["peak"]]
        sentences = [describe(r, names.get((str(site_id), str(r["zone_id"])), f"{r['zone_id']} zone")) for r in peaks]
        zones = tuple(dict.fromkeys(str(r["zone_id"]) for r in peaks))
        classes = tuple(dict.fromkeys(str(r["cls"]) for r in peaks if r["cls"] != ALL_CLASSES))
        classes = classes or risen_classes.get((site_id, episode), ()) or (ALL_CLASSES,)
        start, end = span.loc[(site_id, episode)]
        p_min = float(best.loc[(site_id, episode)]) if rule.method == "nb_cusum" else 1.0
        more = f"; with {len(peaks) - 1} more series up (see evidence)" if len(peaks) > 1 else ""
        alerts.append(
            Alert(
                id=alert_id(str(site_id), start, classes),
                site_id=str(site_id),
                start=start.date(),
                end=end.date(),
                score=round(float(top.loc[(site_id, episode)]), 3),
                severity=_severity(p_min if np.isfinite(p_min) else 1.0, len(peaks)),
                zones=zones,
                classes=classes,
                explanation=sentences[0] + more,
                evidence=tuple(
                    f"{s} ({r['date'].date().isoformat()}, scene {r['scene_id']})"
                    for s, r in zip(sentences, peaks, strict=True)
                ),
            )
        )
    return alerts
