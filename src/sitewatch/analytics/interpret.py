"""Competing explanations and caveats for an alert.

Hypothesis confidences are a transparent heuristic, not a trained classifier: each
hypothesis has a prior and a likelihood weight from where (zone kinds) and what (classes)
rose, and they are normalised to sum to one. The prior of "test/launch preparation" comes
from the back-test precision of the rule when it is known; otherwise all priors are equal.
Caveat providers (e.g. ``sitewatch.planning``'s coverage-gap and deception checks) plug in
as callables ``(store, site, alert) -> list[str]``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace

import pandas as pd

from sitewatch.model import Alert, Hypothesis, Site
from sitewatch.store.base import Store

CaveatProvider = Callable[[Store, Site, Alert], Sequence[str]]

HYPOTHESES: tuple[str, ...] = (
    "test/launch preparation",
    "construction",
    "leadership visit",
    "routine logistics",
    "deception",
)

# Where and what each hypothesis expects to rise (weights in (0, 1], 0.2 when unrelated).
_ZONE_FIT: dict[str, dict[str, float]] = {
    "test/launch preparation": {"pad": 1.0, "assembly_hall": 1.0, "rail_yard": 0.6, "storage": 0.5, "car_park": 0.4},
    "construction": {"construction": 1.0, "storage": 0.4},
    "leadership visit": {"car_park": 1.0, "assembly_hall": 0.5, "road": 0.5},
    "routine logistics": {"rail_yard": 0.8, "storage": 0.8, "road": 1.0, "car_park": 0.4},
    "deception": {"pad": 0.6},
}
_CLASS_FIT: dict[str, dict[str, float]] = {
    "test/launch preparation": {
        "truck": 1.0,
        "tanker": 1.0,
        "other_vehicle": 0.8,
        "rail_car": 0.6,
        "locomotive": 0.6,
        "crane": 0.5,
        "bus": 0.5,
    },
    "construction": {"crane": 1.0, "construction_vehicle": 1.0, "truck": 0.5},
    "leadership visit": {"car": 1.0, "bus": 0.8},
    "routine logistics": {"rail_car": 1.0, "locomotive": 1.0, "tanker": 0.7, "truck": 0.7},
    "deception": {"truck": 0.6, "tanker": 0.5},
}
_UNRELATED = 0.2
_DECEPTION_PRIOR = 0.05  # raised only when a provider reports a deception indicator


def _fit(table: dict[str, float], keys: Sequence[str]) -> float:
    return max((table.get(k, _UNRELATED) for k in keys), default=_UNRELATED)


def hypotheses(
    alert: Alert,
    zone_kinds: Mapping[str, str],
    *,
    precision: float | None = None,
    deception_flagged: bool = False,
) -> tuple[Hypothesis, ...]:
    """Normalised confidences for :data:`HYPOTHESES`, most likely first."""
    kinds = [zone_kinds.get(z, "other") for z in alert.zones]
    days = (alert.end - alert.start).days + 1
    prior = {h: 1.0 for h in HYPOTHESES}
    prior["deception"] = 0.5 if deception_flagged else _DECEPTION_PRIOR
    if precision is not None:
        prior["test/launch preparation"] = max(precision, 0.05) * (len(HYPOTHESES) - 1)
    breadth = min(1.0, 0.4 + 0.2 * len(set(kinds)))  # preparations involve several zones at once
    weight: dict[str, float] = {}
    for h in HYPOTHESES:
        w = prior[h] * _fit(_ZONE_FIT[h], kinds) * _fit(_CLASS_FIT[h], alert.classes)
        if h == "test/launch preparation":
            w *= breadth
        if h == "leadership visit":
            w *= 1.0 if days <= 3 else 0.3  # visits are short
        weight[h] = w
    total = sum(weight.values())
    why = f"zones {', '.join(sorted(set(kinds)))}; classes {', '.join(alert.classes)}; {days} day(s)"
    if precision is not None:
        why += f"; back-test precision {precision:.2f}"
    out = [Hypothesis(h, round(weight[h] / total, 3), why) for h in HYPOTHESES]
    return tuple(sorted(out, key=lambda x: -x.confidence))


def coverage_caveats(alert: Alert, scored: pd.DataFrame, *, n_prior_events: int | None = None) -> list[str]:
    """Caveats from the counts themselves: partial views, short baselines, few past events."""
    rows = scored[
        (scored["site_id"] == alert.site_id)
        & scored["zone_id"].isin(alert.zones)
        & (scored["date"] >= pd.Timestamp(alert.start))
        & (scored["date"] <= pd.Timestamp(alert.end))
    ]
    out: list[str] = []
    low = rows[rows["observed_fraction"] < 0.8]
    if not low.empty:
        out.append(
            f"{low['observed_fraction'].min():.0%} of a zone was seen on the least covered day of the alert; "
            "counts there are scaled up and less certain"
        )
    hist = rows["n_history"].min()
    if pd.notna(hist) and hist < 10:
        out.append(f"the baseline rests on only {int(hist)} earlier observations")
    if n_prior_events == 0:
        out.append("no earlier event at this site: nothing to compare the build-up with")
    elif n_prior_events is not None and n_prior_events < 3:
        out.append(f"only {n_prior_events} earlier event(s) at this site: the precursor profile is weakly known")
    return out


def interpret(
    alert: Alert,
    *,
    site: Site | None,
    scored: pd.DataFrame,
    store: Store | None = None,
    providers: Sequence[CaveatProvider] = (),
    precision: float | None = None,
    n_prior_events: int | None = None,
) -> Alert:
    """``alert`` with hypotheses and caveats filled in (SIMULATED sites say so)."""
    caveats = coverage_caveats(alert, scored, n_prior_events=n_prior_events)
    if store is not None and site is not None:
        for provider in providers:
            caveats.extend(provider(store, site, alert))
    deception = any("decoy" in c.lower() or "deception" in c.lower() for c in caveats)
    kinds = {z.id: z.kind for z in site.zones} if site is not None else {}
    hyps = hypotheses(alert, kinds, precision=precision, deception_flagged=deception)
    explanation = alert.explanation
    if site is not None and site.simulated and not explanation.startswith("SIMULATED"):
        explanation = f"SIMULATED: {explanation}"
        caveats = [c if c.startswith("SIMULATED") else f"SIMULATED: {c}" for c in caveats]
    return replace(alert, explanation=explanation, hypotheses=hyps, caveats=tuple(dict.fromkeys(caveats)))


def planning_caveats(store: Store, site: Site, alert: Alert) -> list[str]:
    """Coverage gaps and deception indicators from :mod:`sitewatch.planning` (if installed)."""
    try:
        from sitewatch.planning.caveats import caveats_for_alert
    except ImportError:  # planning is optional for analytics
        return []
    return caveats_for_alert(store, site, alert)


DEFAULT_PROVIDERS: tuple[CaveatProvider, ...] = (planning_caveats,)
