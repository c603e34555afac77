"""Facts about the Earth-observation sensors sitewatch plans for.

Nominal public figures (panchromatic GSD at nadir, the off-nadir angle operators routinely
task to); they are planning approximations, not a substitute for a provider's access tool.
``tle_patterns`` are shell-style globs matched against the (upper-case) name line of a TLE.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fnmatch import fnmatchcase


@dataclass(frozen=True)
class SensorFacts:
    """One sensor (or constellation) and the TLE names of its satellites."""

    name: str
    tle_patterns: tuple[str, ...]
    nadir_gsd: float  # metres
    max_off_nadir: float  # degrees: field of regard used for tasking
    daylight_only: bool = True
    min_sun_elevation: float = 15.0  # degrees: below this, optical VHR images are rarely usable

    def matches(self, tle_name: str) -> bool:
        name = tle_name.strip().upper()
        return any(fnmatchcase(name, p) for p in self.tle_patterns)

    def gsd_at(self, off_nadir: float) -> float:
        """GSD at ``off_nadir`` degrees, ~ nadir / cos² (the cross-track direction, the worse one)."""
        return self.nadir_gsd / math.cos(math.radians(off_nadir)) ** 2


SENSORS: tuple[SensorFacts, ...] = (
    SensorFacts("WorldView-1", ("WORLDVIEW-1*",), 0.50, 45.0),
    SensorFacts("WorldView-2", ("WORLDVIEW-2*",), 0.46, 45.0),
    SensorFacts("WorldView-3", ("WORLDVIEW-3*",), 0.31, 45.0),
    SensorFacts("GeoEye-1", ("GEOEYE 1*", "GEOEYE-1*"), 0.41, 45.0),
    SensorFacts("Legion", ("LEGION *",), 0.30, 45.0),
    SensorFacts("Pleiades", ("PLEIADES 1A*", "PLEIADES 1B*"), 0.70, 30.0),
    SensorFacts("Pleiades Neo", ("PLEIADES NEO *",), 0.30, 30.0),
    SensorFacts("SkySat", ("SKYSAT-*",), 0.65, 30.0),
    SensorFacts("SPOT", ("SPOT 6*", "SPOT 7*"), 1.5, 30.0),
    SensorFacts("KOMPSAT-3", ("*(KOMPSAT-3)", "KOMPSAT-3 *"), 0.70, 30.0),
    SensorFacts("KOMPSAT-3A", ("KOMPSAT-3A*",), 0.55, 30.0),
    # Sentinel-2 is not steerable: half of its 20.6° field of view, acquired systematically.
    SensorFacts("Sentinel-2", ("SENTINEL-2?",), 10.0, 10.3),
)


def sensor_for(tle_name: str) -> SensorFacts | None:
    """The sensor a TLE name belongs to, or None when sitewatch has no facts about it."""
    return next((s for s in SENSORS if s.matches(tle_name)), None)
