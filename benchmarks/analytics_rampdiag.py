"""Why pre-event ramps are missed: per simulated episode, what the alert rule could see.

For each ``pre_event_ramp`` episode of the default simulation (counts from
``analytics_simcalibration.simulate_counts``) it reports the scenes in the target window,
how many were usable (sufficient and with a baseline), how many of those fell at least
``LEAD`` days before the event (what a lead of ``LEAD`` days needs), the strongest zone-total
rise (estimate / baseline) and tail probability, and whether the NB-CUSUM rule caught it.
The summary gives the share of episodes that are reachable at all. Prints one JSON object
(SIMULATED data). Usage: ``python benchmarks/analytics_rampdiag.py [seeds] [days] [sites] [first_seed]``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
from analytics_simcalibration import sim_args, simulate_counts

from sitewatch.analytics.alerts import alarm_days
from sitewatch.analytics.backtest import event_targets
from sitewatch.analytics.baseline import score_observations
from sitewatch.analytics.series import ALL_CLASSES, with_zone_totals

LEAD = 3  # the target median lead, in days
TOLERANCE = pd.Timedelta(days=1)  # as in backtest.score_alarms


def episode_rows(seed: int, days: int, n_sites: int) -> list[dict[str, object]]:
    obs, events, episodes, _ = simulate_counts(seed, days, n_sites)
    scored = score_observations(with_zone_totals(obs))
    alarms = alarm_days(scored)
    totals = scored[scored["cls"] == ALL_CLASSES]
    rows = []
    for t in event_targets(events, episodes=episodes).itertuples():
        start, event = t.window_start - TOLERANCE, t.event_date + TOLERANCE
        w = totals[(totals["site_id"] == t.site_id) & totals["date"].between(start, event)]
        usable = w[w["sufficient"] & w["mu"].notna()]
        early = usable[usable["date"] <= t.event_date - pd.Timedelta(days=LEAD)]
        hit = alarms[(alarms["site_id"] == t.site_id) & alarms["date"].between(start, event)]
        rows.append(
            {
                "seed": seed,
                "event_id": t.event_id,
                "ramp_days": int((t.event_date - t.window_start).days),
                "scene_days": int(w["date"].nunique()),
                "usable_days": int(usable["date"].nunique()),
                "usable_days_lead": int(early["date"].nunique()),
                "max_rise": round(float((usable["estimate"] / usable["mu"]).max()), 2) if len(usable) else None,
                "min_p_tail": float(usable["p_tail"].min()) if len(usable) else None,
                "detected": bool(len(hit)),
                "lead_days": int((t.event_date - hit["date"].min()).days) if len(hit) else None,
            }
        )
    return rows


def main() -> None:
    seeds, days, n_sites, first_seed, _ = sim_args(sys.argv[1:])
    rows = [r for s in range(first_seed, first_seed + seeds) for r in episode_rows(s, days, n_sites)]
    df = pd.DataFrame(rows)
    missed = df[~df["detected"]]
    out = {
        "simulated": True,
        "seeds": list(range(first_seed, first_seed + seeds)),
        "episodes": len(df),
        "detected": int(df["detected"].sum()),
        "median_usable_days": float(np.median(df["usable_days"])),
        "share_with_no_usable_day": round(float((df["usable_days"] == 0).mean()), 3),
        "share_with_at_most_one_usable_day": round(float((df["usable_days"] <= 1).mean()), 3),
        f"share_with_a_usable_day_{LEAD}d_before": round(float((df["usable_days_lead"] > 0).mean()), 3),
        "missed_with_max_rise_below_2": int((missed["max_rise"].fillna(0) < 2).sum()),
        "missed_with_min_p_tail_above_1e-3": int((missed["min_p_tail"].fillna(1) > 1e-3).sum()),
        "episodes_detail": rows,
    }
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
