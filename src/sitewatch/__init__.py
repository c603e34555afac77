"""sitewatch: activity-based monitoring of facilities from satellite imagery time series.

The package is laid out as the pipeline runs:
``sites`` (catalogue) -> ``imagery`` (ingest) -> ``detect`` (objects) -> ``counts``
(coverage-corrected counts) -> ``analytics`` (baselines, alerts, events) -> ``change``
(before/after) -> ``planning`` (overpasses, gaps, deception) -> ``report``/``api``/``web``.
``store`` persists everything behind one repository interface; ``cli`` is the front end.
"""

__version__ = "0.1.0"

#: Marker written into every file and report derived from simulated data.
SIMULATED_MARK = "SIMULATED"
