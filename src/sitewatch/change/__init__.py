"""Co-registration and change detection between dates.

:mod:`.grid` puts two scenes on one metric grid, :mod:`.align` co-registers them,
:mod:`.pixel` finds pixel change (IR-MAD), :mod:`.regions` and :mod:`.structures` turn it
into described polygons, :mod:`.objects` matches detections between dates,
:mod:`.pipeline` runs it all for a site and :mod:`.outputs` writes the products.
"""

from sitewatch.change.pipeline import ChangeResult, PairChange, compare_arrays, compare_scenes, compare_site

__all__ = ["ChangeResult", "PairChange", "compare_arrays", "compare_scenes", "compare_site"]
