"""Change between dates: the summary and before/after figure of ``sitewatch change``, per site or alert.

Scenes are picked and compared by :mod:`sitewatch.change.pipeline` exactly as the CLI
(per site and dates) and the HTML report (per alert) do; comparisons are cached per
scene pair (:class:`~sitewatch.api.change.ChangeCache`). A pair that cannot be compared
(no scene near a date, no overlap, no alignment) answers 400 with the reason.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Query, Request, Response, status

from sitewatch.analytics.pipeline import choose_detector
from sitewatch.api.change import CachedChange, ChangeCache, change_key, servable
from sitewatch.api.deps import SitesDep, StoreDep
from sitewatch.api.schemas import IMAGE_ERRORS, ChangeOut
from sitewatch.api.security import Viewer
from sitewatch.change.pipeline import compare_scenes, pick_pair, window_pair
from sitewatch.model import Scene, Site
from sitewatch.store.base import Store

router = APIRouter(tags=["change"], responses=IMAGE_ERRORS)

PNG = {"content": {"image/png": {}}, "description": "PNG figure: before, after (aligned) and change"}
#: A comparison of stored scenes changes only when detections are re-run: let the browser keep it briefly.
CACHE_CONTROL = "private, max-age=300"
#: Default farthest a picked scene may be from its requested date.
MAX_DAYS = 30

DateFrom = Annotated[dt.date, Query(alias="from", description="Before date (YYYY-MM-DD); the nearest usable scene")]
DateTo = Annotated[dt.date, Query(alias="to", description="After date (YYYY-MM-DD), later than `from`")]
MaxDays = Annotated[int, Query(ge=0, le=3660, description="Refuse scenes further than this from their date")]
DetectorQ = Annotated[
    str | None, Query(max_length=200, description="Object changes from this detector (default: the one stored)")
]


@router.get("/sites/{site_id}/change", response_model=ChangeOut)
def site_change(
    site_id: str,
    request: Request,
    _: Viewer,
    store: StoreDep,
    sites: SitesDep,
    date_from: DateFrom,
    date_to: DateTo,
    detector: DetectorQ = None,
    max_days: MaxDays = MAX_DAYS,
) -> ChangeOut:
    """Change at the site between the usable scenes nearest two dates (slow on a cache miss: seconds).

    Scenes, alignment residual, changed area, change polygons (GeoJSON with area and
    confidence), object changes per class and zone, structure changes and caveats.
    """
    found = _site_change(request, store, sites.get(site_id), date_from, date_to, detector, max_days)
    url = request.app.url_path_for("site_change_png", site_id=site_id)
    params = {"from": date_from.isoformat(), "to": date_to.isoformat(), "max_days": max_days, "detector": detector}
    query = urlencode({k: v for k, v in params.items() if v is not None})
    return found.answer((date_from, date_to), f"{url}?{query}")


@router.get("/sites/{site_id}/change.png", response_class=Response, responses={200: PNG})
def site_change_png(
    site_id: str,
    request: Request,
    _: Viewer,
    store: StoreDep,
    sites: SitesDep,
    date_from: DateFrom,
    date_to: DateTo,
    detector: DetectorQ = None,
    max_days: MaxDays = MAX_DAYS,
) -> Response:
    """The before/after/change figure of ``/sites/{site_id}/change`` (SIMULATED watermark when simulated)."""
    found = _site_change(request, store, sites.get(site_id), date_from, date_to, detector, max_days)
    return Response(found.png, media_type="image/png", headers={"Cache-Control": CACHE_CONTROL})


@router.get("/alerts/{alert_id}/change", response_model=ChangeOut)
def alert_change(alert_id: str, request: Request, _: Viewer, store: StoreDep, sites: SitesDep) -> ChangeOut:
    """Change from the last usable scene before the alert to the first one during it (as in the report)."""
    found = _alert_change(request, store, sites, alert_id)
    return found.answer(None, str(request.app.url_path_for("alert_change_png", alert_id=alert_id)))


@router.get("/alerts/{alert_id}/change.png", response_class=Response, responses={200: PNG})
def alert_change_png(alert_id: str, request: Request, _: Viewer, store: StoreDep, sites: SitesDep) -> Response:
    """The before/after/change figure of ``/alerts/{alert_id}/change``."""
    found = _alert_change(request, store, sites, alert_id)
    return Response(found.png, media_type="image/png", headers={"Cache-Control": CACHE_CONTROL})


def _site_change(
    request: Request,
    store: Store,
    site: Site,
    date_from: dt.date,
    date_to: dt.date,
    detector: str | None,
    max_days: int,
) -> CachedChange:
    if date_to <= date_from:
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST,
            f"`to` ({date_to.isoformat()}) must be after `from` ({date_from.isoformat()})",
        )
    before, after = pick_pair(store.list_scenes(site.id), site, date_from, date_to, max_days=max_days)
    return _compare(request, store, site, before, after, detector)


def _alert_change(request: Request, store: Store, sites: SitesDep, alert_id: str) -> CachedChange:
    alert = store.get_alert(alert_id)
    site = sites.get(alert.site_id)
    before, after = window_pair(store.list_scenes(site.id), site, alert.start, alert.end)
    # The detector most of the pair's detections come from, as the report picks one per site.
    found = [d for s in (before, after) for d in store.list_detections(scene_id=s.id, site_id=site.id)]
    return _compare(request, store, site, before, after, choose_detector(found))


def _compare(
    request: Request, store: Store, site: Site, before: Scene, after: Scene, detector: str | None
) -> CachedChange:
    cache: ChangeCache = request.app.state.change_cache
    return cache.get(
        change_key(site.id, before, after, detector),
        lambda: servable(compare_scenes(store, site, before, after, detector=detector)),
    )
