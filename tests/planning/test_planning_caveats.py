"""caveats_for_alert gathers gaps and deception caveats from a store (an in-memory stand-in here)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field
from typing import cast

import numpy as np
from shapely.geometry import Polygon, box

from sitewatch.model import Alert, Count, Detection, Scene, Site
from sitewatch.planning.caveats import caveats_for_alert, detections_frame
from sitewatch.store.base import Store

LAT, LON = 39.66, 124.70
SITE = Site("s1", "Test site", box(LON - 0.01, LAT - 0.01, LON + 0.01, LAT + 0.01), simulated=True)
D0 = dt.date(2024, 1, 1)


@dataclass
class MemoryStore:
    """Just the reads caveats_for_alert makes."""

    scenes: list[Scene]
    counts: list[Count]
    detections: list[Detection] = field(default_factory=list)
    url: str = "memory://"

    def list_scenes(self, site_id: str | None = None, start=None, end=None) -> list[Scene]:  # type: ignore[no-untyped-def]
        return self.scenes

    def list_counts(self, site_id: str, zone_id: str | None = None, cls: str | None = None) -> list[Count]:
        return self.counts

    def list_detections(self, *, site_id: str | None = None, classes=None, **_: object) -> list[Detection]:  # type: ignore[no-untyped-def]
        return [d for d in self.detections if classes is None or d.cls in classes]


def _scene(i: int, day: int) -> Scene:
    t = dt.datetime.combine(D0 + dt.timedelta(days=day), dt.time(2, 13), dt.UTC)
    return Scene(
        f"sc{i}",
        f"sc{i}.tif",
        t,
        "WorldView-3",
        0.5,
        "EPSG:32651",
        SITE.aoi,
        SITE.aoi,
        f"h{i}",
        100,
        100,
        3,
        simulated=True,
    )


def _count(scene: Scene, value: float, sufficient: bool = True) -> Count:
    return Count(
        "s1", "pad", "truck", scene.acquired.date(), scene.id, int(value), 1.0, value, value, value, sufficient
    )


def _world(after: float, decoys: bool) -> MemoryStore:
    rng = np.random.default_rng(0)
    days = [*range(0, 90, 3), 97, 99, 101, 104, 107, 110]  # 10 days unseen (87-97) before the alert on day 97
    scenes = [_scene(i, d) for i, d in enumerate(days)]
    counts = []
    for s, d in zip(scenes, days, strict=True):
        mean = 10 if d < 97 else 25 if d <= 101 else after
        counts.append(_count(s, float(rng.poisson(mean)), sufficient=d != 45))
    detections = []
    for s in scenes:  # ordinary trucks come and go: the turnover the decoys are judged against
        for _ in range(6):
            lon, lat = LON + rng.uniform(-0.008, 0.008), LAT + rng.uniform(-0.008, 0.008)
            poly = Polygon([(lon, lat), (lon + 1e-4, lat), (lon + 1e-4, lat + 3e-5), (lon, lat + 3e-5)])
            size = rng.uniform(13, 21)
            detections.append(Detection(s.id, "truck", 0.9, (10, 10, 10 + size, 15), poly, "test@1", "s1", "pad"))
    if decoys:
        for s in scenes:
            for j in range(3):
                lon, lat = LON + 0.001 * j, LAT
                poly = Polygon([(lon, lat), (lon + 1e-4, lat), (lon + 1e-4, lat + 3e-5), (lon, lat + 3e-5)])
                detections.append(Detection(s.id, "truck", 0.9, (10, 10, 28, 15), poly, "test@1", "s1", "pad"))
    return MemoryStore(scenes, counts, detections)


ALERT = Alert(
    "a1",
    "s1",
    D0 + dt.timedelta(days=97),
    D0 + dt.timedelta(days=101),
    4.0,
    "high",
    ("pad",),
    ("truck",),
    "rise of trucks on the pad",
)


def test_gap_before_alert_always_stated_and_clean_data_quiet() -> None:
    caveats = caveats_for_alert(cast(Store, _world(after=10, decoys=False)), SITE, ALERT)
    assert caveats[0] == (
        "SIMULATED: activity could have happened unseen between 2024-03-28 02:13 UTC and 2024-04-07 02:13 UTC "
        "(10.0 days without a usable image)"
    )
    assert not any("deception" in c for c in caveats)


def test_drop_and_decoys_reported() -> None:
    caveats = caveats_for_alert(cast(Store, _world(after=0.5, decoys=True)), SITE, ALERT)
    deception = [c for c in caveats if "possible deception" in c]
    assert len(deception) == 2
    assert any("activity fell right after the alert" in c for c in deception)
    assert any("3 truck(s) stayed at the same spot" in c for c in deception)


def test_overpass_schedule_with_given_pass_times() -> None:
    store = _world(after=10, decoys=False)
    at_pass = store.scenes[::2]
    for i, s in enumerate(store.scenes):  # nothing on the pad when a known satellite passes
        if s in at_pass:
            store.counts[i] = _count(s, 0.0)
    caveats = caveats_for_alert(cast(Store, store), SITE, ALERT, pass_times=[s.acquired for s in at_pass])
    assert any("lower in images taken at predictable overpasses" in c for c in caveats)


def test_detections_frame_in_metres() -> None:
    store = _world(after=10, decoys=True)
    frame = detections_frame(store.detections[-3:], store.scenes, (LAT, LON))  # the decoys of one scene
    assert np.allclose(frame["x"].diff().dropna(), 0.001 * 111_320 * np.cos(np.radians(LAT)), rtol=0.01)
    assert np.allclose(frame["length"], 18 * 0.5) and np.allclose(frame["width"], 5 * 0.5)


def test_tasking_hint_for_open_alert_only_with_fresh_elements(tle_file) -> None:  # type: ignore[no-untyped-def]
    from sitewatch.planning.tle import read_tle, select_satellites

    sats = select_satellites(read_tle(tle_file))
    store = cast(Store, _world(after=10, decoys=False))
    now = dt.datetime(2026, 5, 30, 6, tzinfo=dt.UTC)
    hint = [c for c in caveats_for_alert(store, SITE, ALERT, satellites=sats, now=now) if "next chances" in c]
    assert len(hint) == 1 and hint[0].startswith("SIMULATED: next chances to image the site: ")
    assert "2026-05-30" in hint[0] or "2026-05-31" in hint[0]
    stale = caveats_for_alert(store, SITE, ALERT, satellites=sats, now=now + dt.timedelta(days=60))
    assert not any("next chances" in c for c in stale)
    closed = dataclasses.replace(ALERT, status="closed")
    assert not any("next chances" in c for c in caveats_for_alert(store, SITE, closed, satellites=sats, now=now))


def test_earlier_gaps_within_record_only() -> None:
    store = _world(after=10, decoys=False)
    keep = [
        i
        for i, s in enumerate(store.scenes)
        if not D0 + dt.timedelta(days=30) <= s.acquired.date() <= D0 + dt.timedelta(days=50)
    ]
    store.scenes = [store.scenes[i] for i in keep]
    store.counts = [store.counts[i] for i in keep]
    caveats = caveats_for_alert(cast(Store, store), SITE, ALERT)
    earlier = [c for c in caveats if "other gap" in c]
    assert len(earlier) == 1 and "1 other gap(s) of 7+ days in the 90 days" in earlier[0]
    assert "between 2024-01-28 02:13 UTC and 2024-02-21 02:13 UTC (24.0 days" in earlier[0]
    assert not any("start of the record" in c for c in caveats)


def test_default_satellites_from_shared_tle(tle_file, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    store = cast(Store, _world(after=10, decoys=False))
    now = dt.datetime(2026, 5, 30, 6, tzinfo=dt.UTC)
    monkeypatch.setenv("SITEWATCH_SHARED", str(tmp_path / "nowhere"))
    assert not any("next chances" in c for c in caveats_for_alert(store, SITE, ALERT, now=now))  # no file: no hint
    shared = tmp_path / "shared" / "data" / "reference" / "tle"
    shared.mkdir(parents=True)
    (shared / "resource.tle").write_text(tle_file.read_text())
    monkeypatch.setenv("SITEWATCH_SHARED", str(tmp_path / "shared"))
    assert any("next chances" in c for c in caveats_for_alert(store, SITE, ALERT, now=now))
