"""Walk-forward back-test of alert rules against known events, with no look-ahead.

An alarm is the first day of an alert; everything that decides it (baseline, CUSUM,
episode start, leading hypothesis) uses data up to that day only, and
:func:`walk_forward_alarms` can also literally refit at cuts every ``step_days`` to prove
it. An alarm is a hit when an event of its site follows within the target window
(``[event − horizon_days, event]``, or the simulated pre-event episode when known, ±
``tolerance_days`` for catalogue date conventions). Per rule: precision, recall of the
targets, median lead time (event − first alarm in its window) and false alarms per
site-year of observed history.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from sitewatch.analytics.alerts import NB_CUSUM, ZSCORE, AlertRule, alarm_days, flag_observations
from sitewatch.analytics.baseline import BaselineParams, score_observations
from sitewatch.analytics.interpret import hypotheses
from sitewatch.analytics.series import ALL_CLASSES
from sitewatch.errors import InputError
from sitewatch.model import Alert, Event

#: Alarms of this rule are the NB-CUSUM alerts whose leading hypothesis is a test or launch preparation.
PRECURSOR_SUFFIX = "+precursor"


@dataclass(frozen=True)
class RuleScore:
    rule: str
    alarms: int
    true_alarms: int
    false_alarms: int
    targets: int
    detected: int
    precision: float
    recall: float
    median_lead_days: float
    false_alarms_per_site_year: float
    site_years: float


def event_targets(
    events: Sequence[Event], *, horizon_days: int = 21, episodes: pd.DataFrame | None = None
) -> pd.DataFrame:
    """``site_id, event_id, event_date, window_start`` for the events tied to a site.

    With simulator ``episodes`` (``truth/episodes.csv``), a ``pre_event_ramp`` episode's
    start replaces the fixed horizon.
    """
    rows = [(e.site_id, e.id, pd.Timestamp(e.date)) for e in events if e.site_id]
    df = pd.DataFrame(rows, columns=["site_id", "event_id", "event_date"])
    df["window_start"] = df["event_date"] - pd.Timedelta(days=horizon_days)
    if episodes is not None and not episodes.empty:
        ramps = episodes[episodes["kind"] == "pre_event_ramp"].set_index("event_id")["start"]
        known = df["event_id"].map(pd.to_datetime(ramps))
        df["window_start"] = known.fillna(df["window_start"])
    return df


def read_sim_truth(sim_dir: str | Path) -> tuple[list[Event], pd.DataFrame]:
    """Events and episodes of a simulation directory (``truth/events.csv``, ``truth/episodes.csv``)."""
    from sitewatch.analytics.events import read_sim_events

    d = Path(sim_dir)
    ev_path = d / "truth" / "events.csv"
    if not ev_path.is_file():
        raise InputError("no truth/events.csv", path=d, fix="give the output folder of `sitewatch simulate`")
    ep_path = d / "truth" / "episodes.csv"
    episodes = pd.read_csv(ep_path, dtype=str, keep_default_na=False) if ep_path.is_file() else pd.DataFrame()
    return read_sim_events(ev_path), episodes


def site_years(obs: pd.DataFrame) -> float:
    """Observed history in years, summed over sites (first to last usable observation)."""
    used = obs[obs["sufficient"]]
    if used.empty:
        return 0.0
    span = used.groupby("site_id")["date"].agg(["min", "max"])
    return float(((span["max"] - span["min"]).dt.days + 1).sum() / 365.25)


def score_alarms(
    rule: str, alarms: pd.DataFrame, targets: pd.DataFrame, years: float, *, tolerance_days: int = 1
) -> RuleScore:
    """Match alarms (``site_id, date``) to target windows."""
    tol = pd.Timedelta(days=tolerance_days)
    m = alarms.reset_index(drop=True).reset_index().merge(targets, on="site_id", how="inner")
    inside = m[(m["date"] >= m["window_start"] - tol) & (m["date"] <= m["event_date"] + tol)]
    true_ids = set(inside["index"])
    first = inside.groupby("event_id").agg(first=("date", "min"), event_date=("event_date", "first"))
    leads = (first["event_date"] - first["first"]).dt.days.clip(lower=0)
    n, n_true = len(alarms), len(true_ids)
    return RuleScore(
        rule=rule,
        alarms=n,
        true_alarms=n_true,
        false_alarms=n - n_true,
        targets=len(targets),
        detected=len(first),
        precision=n_true / n if n else float("nan"),
        recall=len(first) / len(targets) if len(targets) else float("nan"),
        median_lead_days=float(np.median(leads)) if len(leads) else float("nan"),
        false_alarms_per_site_year=(n - n_true) / years if years > 0 else float("nan"),
        site_years=round(years, 3),
    )


def _rule_alarms(
    scored: pd.DataFrame, rule: AlertRule, zone_kinds: Mapping[tuple[str, str], str] | None
) -> dict[str, pd.DataFrame]:
    """Alarm days of ``rule`` (and its ``+precursor`` variant), judged on the alarm day only."""
    flagged = scored[flag_observations(scored, rule)]
    alarms = alarm_days(scored, rule)
    out = {rule.name: alarms}
    if zone_kinds is None or rule.method != "nb_cusum":
        return out
    keep = []
    for site_id, day in alarms.itertuples(index=False):
        rows = flagged[(flagged["site_id"] == site_id) & (flagged["date"] == day)]
        zones = tuple(dict.fromkeys(rows["zone_id"].astype(str)))
        classes = tuple(c for c in dict.fromkeys(rows["cls"].astype(str)) if c != ALL_CLASSES) or (ALL_CLASSES,)
        probe = Alert(
            id="",
            site_id=site_id,
            start=day.date(),
            end=day.date(),
            score=0.0,
            severity="",
            zones=zones,
            classes=classes,
            explanation="",
        )
        kinds = {z: zone_kinds.get((site_id, z), "other") for z in zones}
        keep.append(hypotheses(probe, kinds)[0].name == "test/launch preparation")
    out[rule.name + PRECURSOR_SUFFIX] = alarms[np.array(keep, dtype=bool)] if keep else alarms
    return out


def walk_forward_alarms(
    obs: pd.DataFrame,
    rules: Sequence[AlertRule] = (NB_CUSUM, ZSCORE),
    *,
    params: BaselineParams = BaselineParams(),
    step_days: int | None = None,
    zone_kinds: Mapping[tuple[str, str], str] | None = None,
    on_progress: Callable[[int, int, str], None] | None = None,
) -> dict[str, pd.DataFrame]:
    """Alarms (``site_id, date``) per rule, each raised from data up to its own day only.

    Scores and episode starts are causal (see :mod:`.baseline`, :mod:`.alerts`), so one
    pass over the whole history gives the alarms a live system would have raised; with
    ``step_days`` the history is instead literally cut every ``step_days`` and refitted,
    which must give the same alarms (and is how the tests check for look-ahead). With
    ``zone_kinds`` ((site, zone) → kind) the NB rule also yields a ``+precursor`` variant:
    alarms whose leading hypothesis, from what rose on the alarm day, is a preparation.
    """
    if step_days is None:
        out: dict[str, pd.DataFrame] = {}
        scored = score_observations(obs, params)
        for rule in rules:
            out.update(_rule_alarms(scored, rule, zone_kinds))
        if on_progress:
            on_progress(1, 1, "scored")
        return out
    first, last = obs["date"].min(), obs["date"].max()
    cuts = [*pd.date_range(first + pd.Timedelta(days=step_days), last, freq=f"{step_days}D"), last]
    parts: dict[str, list[pd.DataFrame]] = {}
    prev = first - pd.Timedelta(days=1)
    for i, cut in enumerate(cuts):
        scored = score_observations(obs[obs["date"] <= cut], params)
        for rule in rules:
            for name, alarms in _rule_alarms(scored, rule, zone_kinds).items():
                parts.setdefault(name, []).append(alarms[(alarms["date"] > prev) & (alarms["date"] <= cut)])
        prev = cut
        if on_progress:
            on_progress(i + 1, len(cuts), f"cut {cut.date()}")
    return {k: pd.concat(v, ignore_index=True) for k, v in parts.items()}


def backtest(
    obs: pd.DataFrame,
    events: Sequence[Event],
    *,
    rules: Sequence[AlertRule] = (NB_CUSUM, ZSCORE),
    episodes: pd.DataFrame | None = None,
    zone_kinds: Mapping[tuple[str, str], str] | None = None,
    horizon_days: int = 21,
    step_days: int | None = None,
    params: BaselineParams = BaselineParams(),
    on_progress: Callable[[int, int, str], None] | None = None,
) -> list[RuleScore]:
    """Walk-forward scores of each rule on the sites of ``obs`` (events elsewhere are ignored)."""
    sites = set(obs["site_id"])
    lo, hi = obs["date"].min(), obs["date"].max()
    inside = [e for e in events if e.site_id in sites and lo <= pd.Timestamp(e.date) <= hi]
    targets = event_targets(inside, horizon_days=horizon_days, episodes=episodes)
    alarms = walk_forward_alarms(
        obs, rules, params=params, step_days=step_days, zone_kinds=zone_kinds, on_progress=on_progress
    )
    years = site_years(obs)
    return [score_alarms(name, a, targets, years) for name, a in alarms.items()]
