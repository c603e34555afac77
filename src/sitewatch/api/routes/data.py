"""Detections (GeoJSON pages), count series with their baseline band, and events."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, status

from sitewatch.analytics.baseline import baseline_bands
from sitewatch.api.deps import SitesDep, StoreDep, utc_query
from sitewatch.api.schemas import (
    MAX_OFFSET,
    READ_ERRORS,
    CountPoint,
    CountSeries,
    DetectionPage,
    EventOut,
    detection_feature,
)
from sitewatch.api.security import Viewer
from sitewatch.api.views import filter_bbox
from sitewatch.model import Count

_NUMBER = r"\s*[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?\s*"
BBOX_PATTERN = rf"^{_NUMBER},{_NUMBER},{_NUMBER},{_NUMBER}$"

router = APIRouter(tags=["data"], responses=READ_ERRORS)


@router.get("/detections", response_model=DetectionPage)
def detections(
    request: Request,
    _: Viewer,
    store: StoreDep,
    sites: SitesDep,
    site_id: str | None = None,
    scene_id: str | None = None,
    cls: Annotated[list[str] | None, Query(description="Classes to keep (repeat the parameter)")] = None,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    bbox: Annotated[str | None, Query(description="minlon,minlat,maxlon,maxlat", pattern=BBOX_PATTERN)] = None,
    detector: str | None = None,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    limit: Annotated[int, Query(ge=1, le=100_000)] = 1000,
) -> DetectionPage:
    """Detections as GeoJSON, filtered by site, scene, class, acquisition time and bbox, in pages."""
    limit = min(limit, request.app.state.settings.max_page)
    found = store.list_detections(
        scene_id=scene_id,
        site_id=site_id,
        classes=cls,
        start=utc_query(start, "start"),
        end=utc_query(end, "end"),
        detector=detector,
    )
    if bbox is not None:
        found = filter_bbox(found, _parse_bbox(bbox))
    page = found[offset : offset + limit]
    scenes = {sid: store.get_scene(sid) for sid in dict.fromkeys(d.scene_id for d in page)}
    simulated = any(s.simulated for s in scenes.values()) or (site_id is not None and sites.get(site_id).simulated)
    return DetectionPage(
        features=[detection_feature(d, scenes[d.scene_id].acquired) for d in page],
        total=len(found),
        offset=offset,
        limit=limit,
        next_offset=offset + limit if offset + limit < len(found) else None,
        simulated=simulated,
    )


@router.get("/sites/{site_id}/counts", response_model=list[CountSeries])
def counts(
    site_id: str,
    _: Viewer,
    store: StoreDep,
    sites: SitesDep,
    zone_id: str | None = None,
    cls: str | None = None,
    baseline: Annotated[bool, Query(description="Add the baseline band to each point")] = True,
) -> list[CountSeries]:
    """Count series of a site, one per (zone, class), oldest first."""
    site = sites.get(site_id)
    rows = store.list_counts(site_id, zone_id, cls)
    bands = baseline_bands(tuple(rows)) if baseline else {}
    series: dict[tuple[str, str], list[Count]] = defaultdict(list)
    for c in rows:
        series[(c.zone_id, c.cls)].append(c)
    return [
        CountSeries(
            site_id=site_id,
            zone_id=z,
            cls=k,
            simulated=site.simulated,
            points=[CountPoint.of(c, bands.get((z, k, c.date))) for c in sorted(pts, key=_when)],
        )
        for (z, k), pts in sorted(series.items())
    ]


@router.get("/events", response_model=list[EventOut])
def events(
    _: Viewer,
    store: StoreDep,
    site_id: str | None = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
) -> list[EventOut]:
    """Real and simulated events (tests, launches...), optionally of one site and period."""
    found = store.list_events(site_id)
    return [EventOut.of(e) for e in found if (start is None or e.date >= start) and (end is None or e.date <= end)]


def _when(c: Count) -> tuple[dt.date, str]:
    return c.date, c.scene_id


def _parse_bbox(text: str) -> tuple[float, float, float, float]:
    try:
        minx, miny, maxx, maxy = (float(v) for v in text.split(","))
    except ValueError as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "bbox must be minlon,minlat,maxlon,maxlat") from exc
    if not (minx <= maxx and miny <= maxy):
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "bbox must have min <= max on both axes")
    return minx, miny, maxx, maxy
