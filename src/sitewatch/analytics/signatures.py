"""Pre-event signatures: how a site's zones typically behave in the days before an event kind.

From scored observations with zone totals (``cls == "all"``), each observation in the
``days_before`` days before an event of the kind is placed in a weekly bin of lead time;
the signature is the mean normal score (``z_nb``) of each zone in each bin. Current
activity is scored as the log-likelihood ratio of the last ``days_before`` days under the
signature (as if the event were imminent) against the site's ordinary days, with a
common spread estimated on ordinary days. How often such a profile was followed by an
event is the share of past days scoring at least as high that preceded an event within
``days_before`` days.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from sitewatch.analytics.series import ALL_CLASSES
from sitewatch.model import Event


@dataclass(frozen=True)
class Signature:
    site_id: str
    kind: str
    n_events: int
    bin_days: int
    profile: dict[tuple[str, int], float]  # (zone_id, lead bin) -> mean z
    base_mean: dict[str, float]  # zone_id -> mean z on ordinary days
    sigma: float


@dataclass(frozen=True)
class SignatureScore:
    log_lr: float
    followed: int  # past days scoring at least as high that preceded an event
    similar: int  # past days scoring at least as high

    @property
    def followed_rate(self) -> float:
        return self.followed / self.similar if self.similar else float("nan")


def _zone_rows(scored: pd.DataFrame, site_id: str) -> pd.DataFrame:
    rows = scored[(scored["site_id"] == site_id) & (scored["cls"] == ALL_CLASSES)].dropna(subset=["z_nb"])
    return rows[["zone_id", "date", "z_nb"]]


def _lead_days(dates: pd.Series, event_dates: np.ndarray) -> np.ndarray:
    """Days from each date to the next event (inf when none follows)."""
    d = dates.to_numpy(dtype="datetime64[D]")
    ev = np.sort(event_dates.astype("datetime64[D]"))
    i = np.searchsorted(ev, d, side="left")
    out = np.full(d.shape, np.inf)
    ok = i < ev.size
    out[ok] = (ev[i[ok]] - d[ok]).astype(float)
    return out


def build_signature(
    scored: pd.DataFrame, events: Sequence[Event], site_id: str, kind: str, *, days_before: int = 21, bin_days: int = 7
) -> Signature | None:
    """The signature of ``kind`` events at ``site_id``; None without any such event with data before it."""
    rows = _zone_rows(scored, site_id)
    ev = np.array([np.datetime64(e.date) for e in events if e.site_id == site_id and e.kind == kind])
    if rows.empty or ev.size == 0:
        return None
    lead = _lead_days(rows["date"], ev)
    pre = lead < days_before
    if not pre.any():
        return None
    base = rows[~pre]
    pre_rows = rows[pre].assign(bin=(lead[pre] // bin_days).astype(int))
    profile = pre_rows.groupby(["zone_id", "bin"])["z_nb"].mean().to_dict()
    base_mean = base.groupby("zone_id")["z_nb"].mean().to_dict() if not base.empty else {}
    sigma = float(base["z_nb"].std()) if len(base) > 2 else 1.0
    return Signature(site_id, kind, int(ev.size), bin_days, profile, base_mean, max(sigma, 0.5))


def _log_lr(sig: Signature, rows: pd.DataFrame, now: pd.Timestamp, days_before: int) -> float:
    recent = rows[(rows["date"] <= now) & (rows["date"] > now - pd.Timedelta(days=days_before))]
    if recent.empty:
        return 0.0
    b = ((now - recent["date"]).dt.days // sig.bin_days).astype(int)
    mu1 = np.array(
        [sig.profile.get((z, k), sig.base_mean.get(z, 0.0)) for z, k in zip(recent["zone_id"], b, strict=True)]
    )
    mu0 = np.array([sig.base_mean.get(z, 0.0) for z in recent["zone_id"]])
    x = recent["z_nb"].to_numpy()
    return float((((x - mu0) ** 2 - (x - mu1) ** 2) / (2 * sig.sigma**2)).sum())


def score_signature(
    sig: Signature, scored: pd.DataFrame, now: pd.Timestamp, events: Sequence[Event], *, days_before: int = 21
) -> SignatureScore:
    """Log-likelihood ratio of activity up to ``now`` under ``sig``; how often past days as high led to an event."""
    rows = _zone_rows(scored, sig.site_id)
    now = pd.Timestamp(now)
    current = _log_lr(sig, rows, now, days_before)
    past_days = rows.loc[rows["date"] < now - pd.Timedelta(days=days_before), "date"].drop_duplicates()
    if past_days.empty:
        return SignatureScore(current, 0, 0)
    llr = np.array([_log_lr(sig, rows, d, days_before) for d in past_days])
    ev = np.array([np.datetime64(e.date) for e in events if e.site_id == sig.site_id and e.kind == sig.kind])
    lead = _lead_days(past_days, ev)
    similar = llr >= current
    return SignatureScore(current, int((similar & (lead <= days_before)).sum()), int(similar.sum()))
