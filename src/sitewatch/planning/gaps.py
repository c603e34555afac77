"""Coverage gaps: the windows in which a site was not seen.

An observation is a usable image of the site (the caller drops cloudy or partial scenes).
Anything could have happened unseen between two observations; alerts and reports say so.
"""

from __future__ import annotations

import bisect
import datetime as dt
import itertools
from collections.abc import Iterable
from dataclasses import dataclass

from sitewatch.errors import PlanningError
from sitewatch.model import utc

#: Gaps shorter than this are ordinary revisit, not worth a caveat.
MIN_GAP = dt.timedelta(days=7)


@dataclass(frozen=True)
class Gap:
    """An unobserved window; ``start``/``end`` are observations, or the range edges when flagged."""

    start: dt.datetime
    end: dt.datetime
    starts_at_range: bool = False  # no observation before: the window opens at the range start
    ends_at_range: bool = False  # no observation after: the window runs to the range end

    @property
    def duration(self) -> dt.timedelta:
        return self.end - self.start

    @property
    def days(self) -> float:
        return self.duration.total_seconds() / 86400


def _sorted_utc(times: Iterable[dt.datetime]) -> list[dt.datetime]:
    try:
        return sorted({utc(t) for t in times})
    except ValueError as exc:
        raise PlanningError(str(exc), fix="give scene times with a time zone") from None


def coverage_gaps(
    scene_times: Iterable[dt.datetime], start: dt.datetime, end: dt.datetime, *, min_gap: dt.timedelta = MIN_GAP
) -> list[Gap]:
    """Windows of at least ``min_gap`` in ``[start, end]`` without an observation."""
    start, end = utc(start), utc(end)
    if end <= start:
        raise PlanningError(f"range {start.isoformat()} to {end.isoformat()} is backwards", fix="swap start and end")
    seen = [t for t in _sorted_utc(scene_times) if start <= t <= end]
    edges = [start, *seen, end]
    gaps = []
    for i, (a, b) in enumerate(itertools.pairwise(edges)):
        if b - a >= min_gap:
            gaps.append(Gap(a, b, starts_at_range=i == 0, ends_at_range=i == len(edges) - 2))
    return gaps


def unseen_before(scene_times: Iterable[dt.datetime], t: dt.datetime) -> Gap | None:
    """The window between the last observation before ``t`` and the first one at or after it.

    None when nothing was observed before ``t`` (the window is unbounded) or after it.
    """
    seen = _sorted_utc(scene_times)
    i = bisect.bisect_left(seen, utc(t))
    if i == 0 or i == len(seen):
        return None
    return Gap(seen[i - 1], seen[i])


def _when(t: dt.datetime) -> str:
    return f"{t:%Y-%m-%d %H:%M} UTC"


def gap_sentence(gap: Gap) -> str:
    """The caveat an alert or report states for a gap."""
    start = "the start of the record" if gap.starts_at_range else _when(gap.start)
    end = "the end of the record" if gap.ends_at_range else _when(gap.end)
    return f"activity could have happened unseen between {start} and {end} ({gap.days:.1f} days without a usable image)"
