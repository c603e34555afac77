"""sitewatch: activity-based monitoring of facilities from satellite imagery time series.

The package is laid out as the pipeline runs:
``sites`` (catalogue) -> ``imagery`` (ingest) -> ``detect`` (objects) -> ``counts``
(coverage-corrected counts) -> ``analytics`` (baselines, alerts, events) -> ``change``
(before/after) -> ``planning`` (overpasses, gaps, deception) -> ``report``/``api``/``web``.
``store`` persists everything behind one repository interface; ``cli`` is the front end.
"""

import os
import sys

__version__ = "0.1.0"

#: Marker written into every file and report derived from simulated data.
SIMULATED_MARK = "SIMULATED"


# OpenCV's thread pool does not survive fork(): a child that inherits a started pool hangs
# in its next parallel call or cv2.setNumThreads (a forked `sitewatch detect` did). The pool
# is stopped just before any fork from a process that has imported OpenCV, and restarted
# after, in parent and child. Imports nothing: cv2 is touched only if already loaded.
_opencv_threads: list[int] = []


def _opencv_before_fork() -> None:
    cv2 = sys.modules.get("cv2")
    if cv2 is not None and hasattr(cv2, "setNumThreads"):
        _opencv_threads.append(cv2.getNumThreads())
        cv2.setNumThreads(1)


def _opencv_after_fork() -> None:
    cv2 = sys.modules.get("cv2")
    if cv2 is not None and _opencv_threads:
        cv2.setNumThreads(_opencv_threads.pop())


if hasattr(os, "register_at_fork"):  # POSIX only; there is no fork() elsewhere
    os.register_at_fork(
        before=_opencv_before_fork, after_in_parent=_opencv_after_fork, after_in_child=_opencv_after_fork
    )
