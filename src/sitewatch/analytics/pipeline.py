"""The analyze stage over a store: counts, baselines and alerts, written back atomically per site.

``analyze_store`` is idempotent: it recomputes every count from the stored detections and
replaces the counts and alerts of each site; alert ids hash site, start and classes, so
the same data give the same alerts.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import pandas as pd

from sitewatch.analytics.alerts import NB_CUSUM, AlertRule, alarm_days, build_alerts
from sitewatch.analytics.backtest import event_targets, score_alarms, site_years
from sitewatch.analytics.baseline import BaselineParams, baselines_of, score_observations
from sitewatch.analytics.interpret import DEFAULT_PROVIDERS, CaveatProvider, interpret
from sitewatch.analytics.series import counts_frame, with_zone_totals
from sitewatch.analytics.signatures import build_signature, score_signature
from sitewatch.counts import DEFAULT_DETECTABILITY, DetectabilityModel, compute_counts
from sitewatch.model import Alert, Baseline, Count, Detection, Event, Site
from sitewatch.store.base import RunRecord, Store

Progress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class AnalyzeReport:
    """What one analysis run did."""

    run_id: str
    sites: int
    scenes: int
    counts: int
    insufficient: int
    alerts: list[Alert] = field(default_factory=list)


def choose_detector(detections: Sequence[Detection]) -> str | None:
    """The detector that covered the most scenes (ties: the last name), so one model feeds each series."""
    scenes: dict[str, set[str]] = defaultdict(set)
    for d in detections:
        scenes[d.detector].add(d.scene_id)
    if not scenes:
        return None
    return max(scenes, key=lambda name: (len(scenes[name]), name))


def detectability_for(detector: str | None) -> DetectabilityModel:
    """The count calibration shipped with ``detector`` (name@version), else the default curve."""
    from sitewatch.detect import calibration_for

    return (calibration_for(detector) if detector else None) or DEFAULT_DETECTABILITY


def site_counts(
    store: Store, site: Site, *, detector: str | None = None, detectability: DetectabilityModel | None = None
) -> tuple[list[Count], DetectabilityModel]:
    """Counts of every stored scene of ``site`` from one detector's detections, and the
    detectability they were corrected with (given, or the chosen detector's calibration)."""
    detections = store.list_detections(site_id=site.id, detector=detector)
    chosen = detector or choose_detector(detections)
    used = detectability or detectability_for(chosen)
    by_scene: dict[str, list[Detection]] = defaultdict(list)
    for d in detections:
        if d.detector == chosen:
            by_scene[d.scene_id].append(d)
    counts: list[Count] = []
    for scene in store.list_scenes(site.id):
        counts.extend(compute_counts(site, scene, by_scene.get(scene.id, []), detectability=used))
    return counts, used


def rule_precision(scored: pd.DataFrame, events: Sequence[Event], rule: AlertRule) -> float | None:
    """Share of the rule's past alarms followed by a stored event (None with too few to say)."""
    targets = event_targets(events)
    alarms = alarm_days(scored, rule)
    if targets.empty or len(alarms) < 3:
        return None
    return score_alarms(rule.name, alarms, targets, site_years(scored)).precision


def with_signature_evidence(alert: Alert, scored: pd.DataFrame, events: Sequence[Event]) -> Alert:
    """Add, per event kind seen earlier at the site, how well activity matches its pre-event profile."""
    earlier = [e for e in events if e.site_id == alert.site_id and e.date < alert.start]
    lines = []
    for kind in sorted({e.kind for e in earlier}):
        sig = build_signature(scored, earlier, alert.site_id, kind)
        if sig is None:
            continue
        m = score_signature(sig, scored, pd.Timestamp(alert.start), earlier)
        rate = f"{m.followed} of {m.similar}" if m.similar else "no"
        lines.append(
            f"activity vs the profile before {sig.n_events} earlier {kind.replace('_', ' ')}(s): "
            f"log LR {m.log_lr:.1f}; "
            f"{rate} earlier days scoring as high were followed by one within 21 days"
        )
    return replace(alert, evidence=alert.evidence + tuple(lines)) if lines else alert


def analyze_store(
    store: Store,
    *,
    site_ids: Sequence[str] | None = None,
    detector: str | None = None,
    rule: AlertRule = NB_CUSUM,
    params: BaselineParams = BaselineParams(),
    detectability: DetectabilityModel | None = None,
    providers: Sequence[CaveatProvider] = DEFAULT_PROVIDERS,
    on_progress: Progress | None = None,
) -> AnalyzeReport:
    """Recompute counts, baselines and alerts for ``site_ids`` (default: every site).

    Counts are corrected with ``detectability`` when given, else with the calibration
    shipped with the detector counted at each site (see :func:`detectability_for`).
    """
    started = dt.datetime.now(dt.UTC)
    sites = [store.get_site(s) for s in site_ids] if site_ids else store.list_sites()
    total = len(sites) + 1
    all_counts: list[Count] = []
    n_scenes = 0
    used: dict[str, dict[str, object]] = {}
    for i, site in enumerate(sites):
        counts, model = site_counts(store, site, detector=detector, detectability=detectability)
        used[site.id] = model.as_dict()
        store.replace_counts(site.id, counts)
        all_counts.extend(counts)
        n_scenes += len({c.scene_id for c in counts})
        if on_progress:
            on_progress(i + 1, total, f"counts {site.id}")

    scored = score_observations(with_zone_totals(counts_frame(all_counts)), params) if all_counts else pd.DataFrame()
    bands: dict[str, list[Baseline]] = defaultdict(list)
    for b in baselines_of(scored):
        bands[b.site_id].append(b)
    for site in sites:
        store.replace_baselines(site.id, bands.get(site.id, []))
    by_id = {s.id: s for s in sites}
    zone_names = {(s.id, z.id): z.name for s in sites for z in s.zones}
    alerts = build_alerts(scored, rule, zone_names=zone_names) if not scored.empty else []
    events = [e for e in store.list_events() if e.site_id in by_id]
    precision = rule_precision(scored, events, rule) if alerts else None
    out: list[Alert] = []
    for site in sites:
        mine = [
            interpret(
                with_signature_evidence(a, scored, events),
                site=by_id[a.site_id],
                scored=scored,
                store=store,
                providers=providers,
                precision=precision,
                n_prior_events=sum(1 for e in events if e.site_id == a.site_id and e.date < a.start),
            )
            for a in alerts
            if a.site_id == site.id
        ]
        store.replace_alerts(site.id, mine)
        out.extend(mine)
    if on_progress:
        on_progress(total, total, "alerts")

    run_id = f"analyze-{started:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
    store.record_run(
        RunRecord(
            id=run_id,
            kind="analyze",
            started=started,
            finished=dt.datetime.now(dt.UTC),
            params={
                "sites": [s.id for s in sites],
                "rule": rule.name,
                "threshold": rule.threshold,
                "detector": detector,
                "detectability": used,
            },
        )
    )
    return AnalyzeReport(
        run_id=run_id,
        sites=len(sites),
        scenes=n_scenes,
        counts=len(all_counts),
        insufficient=sum(1 for c in all_counts if not c.sufficient),
        alerts=out,
    )
