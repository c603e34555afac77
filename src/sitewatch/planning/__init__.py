"""Planning: when a site can be seen (overpasses), when it was not (coverage gaps), and
whether its activity behaves as if it knows it is watched (deception indicators).

- :mod:`.tle`, :mod:`.sensors`: element sets and the sensor facts judged against.
- :mod:`.passes`: :func:`predict_passes`, :func:`tasking_hint` (skyfield, offline).
- :mod:`.sun`: solar elevation without an ephemeris file.
- :mod:`.gaps`: :func:`coverage_gaps` and the "could have happened unseen" sentence.
- :mod:`.deception`: statistics with p-values, :func:`deception_caveats`.
- :mod:`.caveats`: :func:`caveats_for_alert`, the store-facing caveat provider.
- :mod:`.ics`: iCalendar export of passes.
"""

from sitewatch.planning.caveats import caveats_for_alert
from sitewatch.planning.deception import Indicator, deception_caveats
from sitewatch.planning.gaps import Gap, coverage_gaps, gap_sentence, unseen_before
from sitewatch.planning.passes import Pass, predict_passes, tasking_hint
from sitewatch.planning.tle import Satellite, Tle, read_tle, select_satellites

__all__ = [
    "Gap",
    "Indicator",
    "Pass",
    "Satellite",
    "Tle",
    "caveats_for_alert",
    "coverage_gaps",
    "deception_caveats",
    "gap_sentence",
    "predict_passes",
    "read_tle",
    "select_satellites",
    "tasking_hint",
    "unseen_before",
]
