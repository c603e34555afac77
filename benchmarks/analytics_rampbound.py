"""How many pre-event ramps could any alert rule catch? An oracle bound on the simulator.

For each ``pre_event_ramp`` episode of the default simulation (counts from
``analytics_simcalibration.simulate_counts``: what a perfect but partially seeing detector
would give), an oracle that knows the ramp exactly (which zones and classes rise, by how
much, its shape, start and end) scores the usable observations of the window with the
likelihood ratio of "this ramp" against the baseline the alert rules use (the
negative-binomial ``μ`` and ``α`` of :func:`~sitewatch.analytics.baseline.score_observations`,
thinned by each row's ``q``; also with a baseline blind to the 28 days before each day, so a
ramp cannot lift it), up to the event day. The same template slid over the
site's history away from every ramp gives its null distribution; the oracle's threshold
for that template is set so the null exceeds it at most ``FALSE_ALARMS_PER_SITE_YEAR``
times a year (exceedances within ``GAP_DAYS`` count once). An episode counts as caught
when its own score passes that threshold.

This is an upper bound for any rule: it knows the ramp and the event date, it is scored
with a separate threshold per template (a real rule faces all templates, and their false
alarms add up), and it may use the event day itself (lead 0). Prints one JSON object
(SIMULATED data). Usage: ``python benchmarks/analytics_rampbound.py [seeds] [days] [sites]
[first_seed] [min_observed]`` (the observed fraction below which a view is not used; default
the product's).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
from analytics_simcalibration import sim_args, simulate_counts

from sitewatch.analytics.baseline import BaselineParams, nb_logpmf, score_observations
from sitewatch.analytics.series import ALL_CLASSES
from sitewatch.simulate.activity import _ramp

FALSE_ALARMS_PER_SITE_YEAR = 1.0
GAP_DAYS = 10  # as the alert rules' max_gap_days
LULL_DAYS = 4  # the simulator's quiet days after an event
#: The rules' own baseline, and one blind to the 28 days before each day (a ramp cannot lift it).
BASELINES = {"rules_baseline": BaselineParams(), "guarded_baseline": BaselineParams(guard_days=28)}


def _template_scores(rows: pd.DataFrame, template: dict, ends: np.ndarray) -> np.ndarray:
    """Oracle log-likelihood ratio of a ramp ``template`` ending on each day in ``ends``.

    ``rows`` carry a ``zone_kind`` column; the template's impact is per (zone kind, class).
    """
    length, impact = template["length"], template["impact"]
    keys = list(zip(rows["zone_kind"], rows["cls"], strict=True))
    hit = np.array([k in impact for k in keys], dtype=bool)
    use = rows[hit]
    gain = np.array([impact[k][0] for k, h in zip(keys, hit, strict=True) if h])
    add = np.array([impact[k][1] for k, h in zip(keys, hit, strict=True) if h])
    day = use["date"].to_numpy(dtype="datetime64[D]").astype(np.int64)
    x, q, mu = (use[c].to_numpy(dtype=float) for c in ("raw", "q", "mu"))
    r = 1.0 / use["alpha"].to_numpy(dtype=float)
    m0 = q * mu
    out = np.zeros(ends.size)
    for i, e in enumerate(ends):
        w = (day <= e) & (day >= e - length)
        if not w.any():
            continue
        s = _ramp(template["shape"], (day[w] - (e - length)) / length)
        m1 = q[w] * (mu[w] * (1 + gain[w] * s) + add[w] * s)
        out[i] = float((nb_logpmf(x[w], m1, r[w]) - nb_logpmf(x[w], m0[w], r[w])).sum())
    return out


def _alarm_count(days: np.ndarray) -> int:
    """Exceedance days grouped: a new alarm after a gap of more than GAP_DAYS."""
    if days.size == 0:
        return 0
    return int(1 + (np.diff(np.sort(days)) > GAP_DAYS).sum())


def _sites(seed: int, days: int, n_sites: int, params: BaselineParams, min_observed: float) -> list[dict]:
    """Per simulated site: usable class rows (with zone kinds), its days and its ramps."""
    obs, _, episodes, kinds = simulate_counts(seed, days, n_sites, min_observed)
    scored = score_observations(obs, params)
    usable = scored[(scored["cls"] != ALL_CLASSES) & scored["sufficient"] & scored["mu"].notna()].copy()
    usable["zone_kind"] = [kinds[(s, z)] for s, z in zip(usable["site_id"], usable["zone_id"], strict=True)]
    out = []
    for site_id, rows in usable.groupby("site_id"):
        first, last = rows["date"].min().date(), rows["date"].max().date()
        all_days = np.arange(np.datetime64(first, "D"), np.datetime64(last, "D") + 1).astype(np.int64)
        ramps = episodes[(episodes["site_id"] == site_id) & (episodes["kind"] == "pre_event_ramp")]
        templates = [
            {
                "seed": seed,
                "event_id": ep["event_id"],
                "shape": str(ep["shape"]),
                "length": max((ep["end"] - ep["start"]).days, 1),
                "start": np.datetime64(ep["start"], "D").astype(np.int64),
                "end": np.datetime64(ep["end"], "D").astype(np.int64),
                "impact": {(kinds[(site_id, z)], c): (g, a) for z, c, g, a in ep["impact"]},
            }
            for _, ep in ramps.iterrows()
        ]
        out.append({"rows": rows, "days": all_days, "templates": templates})
    return out


def bound(sites: list[dict]) -> list[dict[str, object]]:
    """Per ramp: the oracle's score and the threshold its template needs on all sites' null days."""
    out = []
    for site in sites:
        for tpl in site["templates"]:
            length = tpl["length"]
            null_scores, null_years, alarms = [], 0.0, []
            for k, other in enumerate(sites):
                # Null: template windows that touch no ramp of that site (nor the lull after it).
                busy = np.zeros(other["days"].size, dtype=bool)
                for t in other["templates"]:
                    busy |= (other["days"] >= t["start"]) & (other["days"] - length <= t["end"] + LULL_DAYS)
                ends = other["days"][~busy]
                null_scores.append(_template_scores(other["rows"], tpl, ends))
                alarms.append(ends + k * 100_000)  # days of different sites never group together
                null_years += ends.size / 365.25
            null, ends = np.concatenate(null_scores), np.concatenate(alarms)
            own = float(_template_scores(site["rows"], tpl, np.array([tpl["end"]]))[0])
            # Lowest threshold whose null alarms stay within the allowed rate.
            # Start just above the highest null score (no null alarm at all), then go down.
            threshold = float(np.nextafter(max(float(null.max(initial=0.0)), 0.0), np.inf))
            for t in np.unique(null[null > 0])[::-1]:
                if _alarm_count(ends[null >= t]) > FALSE_ALARMS_PER_SITE_YEAR * null_years:
                    break
                threshold = float(t)
            out.append(
                {
                    "seed": tpl["seed"],
                    "event_id": tpl["event_id"],
                    "shape": tpl["shape"],
                    "ramp_days": length,
                    "oracle_llr": round(own, 2),
                    "threshold": round(threshold, 2),
                    "caught": bool(own >= threshold),
                }
            )
    return out


def main() -> None:
    seeds, days, n_sites, first_seed, min_observed = sim_args(sys.argv[1:])
    out: dict[str, object] = {
        "simulated": True,
        "seeds": list(range(first_seed, first_seed + seeds)),
        "min_observed_fraction": min_observed,
        "false_alarms_per_site_year": FALSE_ALARMS_PER_SITE_YEAR,
    }
    for name, params in BASELINES.items():
        seeds_range = range(first_seed, first_seed + seeds)
        rows = bound([site for s in seeds_range for site in _sites(s, days, n_sites, params, min_observed)])
        df = pd.DataFrame(rows)
        out[name] = {
            "episodes": len(df),
            "oracle_recall": round(float(df["caught"].mean()), 3),
            "by_shape": {k: round(float(v), 3) for k, v in df.groupby("shape")["caught"].mean().items()},
            "episodes_detail": rows,
        }
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
