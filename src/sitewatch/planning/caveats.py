"""Caveats for an alert: what could not be seen, and whether the site may be misleading.

The one place in ``planning`` that reads the store; it gathers scenes, counts and detections,
and hands them to the pure functions of :mod:`gaps` and :mod:`deception`. The analytics stage
calls :func:`caveats_for_alert` as a caveat provider.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence

import numpy as np
import pandas as pd
from pyproj import Transformer

from sitewatch.errors import PlanningError
from sitewatch.model import Alert, Count, Detection, Scene, Site
from sitewatch.planning.deception import (
    Indicator,
    deception_caveats,
    decoy_indicator,
    label_at_passes,
    overpass_correlation,
    post_alert_drop,
    static_objects,
)
from sitewatch.planning.gaps import MIN_GAP, coverage_gaps, gap_sentence, unseen_before
from sitewatch.planning.passes import site_location, tasking_hint, tasking_sentence
from sitewatch.planning.tle import WARN_AGE, Satellite, read_tle, select_satellites, tle_age
from sitewatch.store.base import Store

#: How far before an alert long gaps are reported.
LOOKBACK = dt.timedelta(days=90)
#: How far ahead a tasking hint looks.
TASKING_HORIZON = dt.timedelta(days=3)


def usable_scenes(scenes: Sequence[Scene], counts: Sequence[Count]) -> list[Scene]:
    """Scenes that observed the site: with a sufficient count, or all of them if nothing was counted yet."""
    if not counts:
        return list(scenes)
    seen = {c.scene_id for c in counts if c.sufficient}
    return [s for s in scenes if s.id in seen]


def activity_series(counts: Sequence[Count], scenes: Sequence[Scene], alert: Alert) -> pd.Series:
    """Coverage-corrected total of the alert's zones and classes per usable scene, indexed by time."""
    when = {s.id: s.acquired for s in scenes}
    totals: dict[str, float] = {}
    for c in counts:
        if not c.sufficient or c.scene_id not in when:
            continue
        if (alert.zones and c.zone_id not in alert.zones) or (alert.classes and c.cls not in alert.classes):
            continue
        totals[c.scene_id] = totals.get(c.scene_id, 0.0) + c.estimate
    series = pd.Series({when[k]: v for k, v in totals.items()}, dtype=float)
    return series.sort_index()


def detections_frame(
    detections: Sequence[Detection], scenes: Sequence[Scene], origin: tuple[float, float]
) -> pd.DataFrame:
    """Detections as ``date, cls, zone_id, x, y, length, width`` in metres around ``origin`` (lat, lon)."""
    by_id = {s.id: s for s in scenes}
    rows = [d for d in detections if d.scene_id in by_id]
    if not rows:
        return pd.DataFrame(columns=["date", "cls", "zone_id", "x", "y", "length", "width"])
    lat, lon = origin
    to_local = Transformer.from_crs("EPSG:4326", f"+proj=aeqd +lat_0={lat} +lon_0={lon} +datum=WGS84", always_xy=True)
    centres = [d.geometry.centroid for d in rows]
    x, y = to_local.transform([p.x for p in centres], [p.y for p in centres])
    gsd = np.array([by_id[d.scene_id].gsd for d in rows])
    sides = np.array([(d.box[2] - d.box[0], d.box[3] - d.box[1]) for d in rows]) * gsd[:, None]
    return pd.DataFrame(
        {
            "date": [by_id[d.scene_id].acquired.date() for d in rows],
            "cls": [d.cls for d in rows],
            "zone_id": [d.zone_id for d in rows],
            "x": x,
            "y": y,
            "length": sides.max(axis=1),
            "width": sides.min(axis=1),
        }
    )


def _gap_caveats(times: list[dt.datetime], alert_time: dt.datetime, min_gap: dt.timedelta) -> list[str]:
    before = unseen_before(times, alert_time)
    if before is None:
        return ["nothing was observed before the alert: there is no baseline to compare it with"]
    out = [gap_sentence(before)]
    # Look back, but not past the first observation: a record that starts late is a short baseline, not a gap.
    start = max(alert_time - LOOKBACK, min(times))
    earlier = coverage_gaps(times, start, before.start, min_gap=min_gap) if before.start > start else []
    if earlier:
        longest = max(earlier, key=lambda g: g.duration)
        out.append(
            f"{len(earlier)} other gap(s) of {min_gap.days}+ days in the {LOOKBACK.days} days before the alert; "
            f"longest: {gap_sentence(longest)}"
        )
    return out


def _default_satellites() -> list[Satellite]:
    try:
        return select_satellites(read_tle())
    except PlanningError:  # no usable shared TLE file: a hint is optional, the caveats are not
        return []


def caveats_for_alert(
    store: Store,
    site: Site,
    alert: Alert,
    *,
    pass_times: Sequence[dt.datetime] | None = None,
    satellites: Sequence[Satellite] | None = None,
    now: dt.datetime | None = None,
    min_gap: dt.timedelta = MIN_GAP,
) -> list[str]:
    """Coverage-gap and deception caveats for ``alert`` at ``site``, and a tasking hint.

    ``pass_times`` are predicted overpasses of satellites the site can know about over the
    period of the scenes; they need element sets of that period (one TLE is good for days,
    not months), so the schedule indicator is skipped without them. Texture statistics for
    the concealment indicator are not in the store: call :func:`deception.concealment` directly.
    For an open alert, ``satellites`` (default: those of the shared TLE file) whose elements
    are fresh at ``now`` give the next chances to image the site.
    """
    scenes = store.list_scenes(site.id)
    counts = store.list_counts(site.id)
    usable = usable_scenes(scenes, counts)
    times = [s.acquired for s in usable]
    alert_time = dt.datetime.combine(alert.start, dt.time(0), dt.UTC)
    caveats = _gap_caveats(times, alert_time, min_gap)

    series = activity_series(counts, usable, alert)
    indicators: list[Indicator | None] = [post_alert_drop(series, alert.start, alert.end)]
    if pass_times is not None and not series.empty:
        at_pass = label_at_passes(list(series.index), pass_times)
        indicators.append(overpass_correlation(series.to_numpy(), at_pass))
    detections = store.list_detections(site_id=site.id, classes=list(alert.classes) or None)
    frame = detections_frame(detections, usable, site_location(site))
    if not frame.empty:
        observed = sorted({t.date() for t in times})
        zone_observed: dict[str, set[dt.date]] = defaultdict(set)
        for c in counts:
            if c.sufficient:
                zone_observed[c.zone_id].add(c.date)
        tracks = static_objects(frame, observed_dates=observed, zone_observed=zone_observed)
        indicators.append(decoy_indicator(tracks))
    caveats.extend(deception_caveats(indicators))

    if alert.status == "open":
        now = now or dt.datetime.now(dt.UTC)
        satellites = _default_satellites() if satellites is None else satellites
        fresh = [s for s in satellites if tle_age(s.tle, now, now) <= WARN_AGE]
        if fresh:
            caveats.append(tasking_sentence(tasking_hint(site, now, fresh, horizon=TASKING_HORIZON)))

    if site.simulated or any(s.simulated for s in scenes):
        caveats = [f"SIMULATED: {c}" for c in caveats]
    return caveats
