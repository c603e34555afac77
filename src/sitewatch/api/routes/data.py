"""Detections (GeoJSON pages), count series with their baseline band, and events."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Annotated

import anyio
from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from pydantic import TypeAdapter

from sitewatch.api.cache import CachedBody, TtlCache
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
from sitewatch.model import Count, Site
from sitewatch.store.base import Store

_NUMBER = r"\s*[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?\s*"
BBOX_PATTERN = rf"^{_NUMBER},{_NUMBER},{_NUMBER},{_NUMBER}$"

router = APIRouter(tags=["data"], responses=READ_ERRORS)

#: Count-series bodies per (site, zone, class, baseline) are fresh up to this long in each worker,
#: then served while being refreshed for as long again: counts written by another process
#: (``sitewatch analyze``) show within twice this.
SERIES_SECONDS = 5.0
SERIES_ENTRIES = 4096
SeriesCache = TtlCache[tuple[str, str | None, str | None, bool], CachedBody]
_SERIES_JSON = TypeAdapter(list[CountSeries])


def new_series_cache() -> SeriesCache:
    return SeriesCache(SERIES_ENTRIES, SERIES_SECONDS, stale=SERIES_SECONDS, jitter=0.3)


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
async def counts(
    request: Request,
    site_id: str,
    _: Viewer,
    store: StoreDep,
    sites: SitesDep,
    zone_id: str | None = None,
    cls: str | None = None,
    baseline: Annotated[bool, Query(description="Add the baseline band to each point")] = True,
) -> Response:
    """Count series of a site, one per (zone, class), oldest first.

    Dashboards ask for the same series over and over: each worker keeps the JSON
    (``SERIES_SECONDS``, refreshed in the background for as long again; dropped at once when
    a job of this server finishes) and answers ``If-None-Match`` with 304.
    """
    cache: SeriesCache = request.app.state.series_cache
    key = (site_id, zone_id, cls, baseline)

    def compute() -> CachedBody:
        return CachedBody.of(count_series_json(store, sites.get(site_id), zone_id, cls, baseline))

    found = cache.lookup(key)  # the hot path stays on the event loop: no thread hop, no query
    if found is None:
        return (await anyio.to_thread.run_sync(cache.get, key, compute)).response(request)
    body, fresh = found
    if not fresh:  # served as it was a few seconds ago; brought up to date in the background
        cache.refresh_later(key, compute)
    return body.response(request)


def count_series_json(store: Store, site: Site, zone_id: str | None, cls: str | None, baseline: bool) -> bytes:
    """The body of :func:`counts`: the site's series (one zone and class when given) as JSON."""
    rows = store.list_counts(site.id, zone_id, cls)
    # The bands analyze stored with the counts: the ones the alerts were judged against.
    bands = {(b.zone_id, b.cls, b.date): b for b in store.list_baselines(site.id, zone_id, cls)} if baseline else {}
    series: dict[tuple[str, str], list[Count]] = defaultdict(list)
    for c in rows:
        series[(c.zone_id, c.cls)].append(c)
    out = [
        CountSeries(
            site_id=site.id,
            zone_id=z,
            cls=k,
            simulated=site.simulated,
            points=[CountPoint.of(c, bands.get((z, k, c.date))) for c in sorted(pts, key=_when)],
        )
        for (z, k), pts in sorted(series.items())
    ]
    return _SERIES_JSON.dump_json(out)


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
