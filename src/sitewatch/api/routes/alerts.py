"""Alerts: list, get, acknowledge, comment, and their before/after evidence chips."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Path, Request, Response, status

from sitewatch.analytics.pipeline import choose_detector
from sitewatch.api.deps import AccountsDep, SitesDep, StoreDep
from sitewatch.api.schemas import IMAGE_ERRORS, WRITE_ERRORS, AlertOut, ChipOut, EvidencePanel, NoteIn, NoteOut
from sitewatch.api.security import Analyst, Viewer
from sitewatch.model import Alert, Scene, Site
from sitewatch.report import chips
from sitewatch.report.chips import evidence_pair
from sitewatch.report.html import zone_geometry

router = APIRouter(tags=["alerts"], responses={**WRITE_ERRORS, **IMAGE_ERRORS})

JPEG = {"content": {"image/jpeg": {}}, "description": "JPEG image"}


@router.get("/alerts", response_model=list[AlertOut])
def list_alerts(
    _: Viewer,
    store: StoreDep,
    sites: SitesDep,
    accounts: AccountsDep,
    site_id: str | None = None,
    acknowledged: bool | None = None,
) -> list[AlertOut]:
    """Alerts, oldest first; ``acknowledged`` keeps only (un)acknowledged ones."""
    alerts = store.list_alerts(site_id)
    notes = accounts.notes([a.id for a in alerts])
    simulated = {s.id: s.simulated for s in sites.all().values()}
    out = [AlertOut.of(a, notes.get(a.id, []), simulated.get(a.site_id, False)) for a in alerts]
    return [a for a in out if acknowledged is None or a.acknowledged == acknowledged]


@router.get("/alerts/{alert_id}", response_model=AlertOut)
def get_alert(alert_id: str, _: Viewer, store: StoreDep, sites: SitesDep, accounts: AccountsDep) -> AlertOut:
    alert = store.get_alert(alert_id)
    return AlertOut.of(alert, accounts.notes([alert_id]).get(alert_id, []), sites.get(alert.site_id).simulated)


@router.post("/alerts/{alert_id}/ack", response_model=NoteOut, status_code=status.HTTP_201_CREATED)
def acknowledge(alert_id: str, body: NoteIn, who: Analyst, store: StoreDep, accounts: AccountsDep) -> NoteOut:
    """Mark the alert as seen by an analyst, with an optional remark."""
    store.get_alert(alert_id)
    return NoteOut.of(accounts.add_note(alert_id, who.user, "ack", body.text))


@router.post("/alerts/{alert_id}/comments", response_model=NoteOut, status_code=status.HTTP_201_CREATED)
def comment(alert_id: str, body: NoteIn, who: Analyst, store: StoreDep, accounts: AccountsDep) -> NoteOut:
    store.get_alert(alert_id)
    if not body.text.strip():
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "a comment needs some text")
    return NoteOut.of(accounts.add_note(alert_id, who.user, "comment", body.text))


@router.get("/alerts/{alert_id}/evidence", response_model=list[EvidencePanel])
def evidence(alert_id: str, request: Request, _: Viewer, store: StoreDep, sites: SitesDep) -> list[EvidencePanel]:
    """Before/after scenes of each zone of the alert, with the URLs of their image chips."""
    alert = store.get_alert(alert_id)
    site = sites.get(alert.site_id)
    scenes = store.list_scenes(site.id)
    panels = []
    for zone_id in _zones(alert, site):
        before, after = evidence_pair(scenes, alert, zone_geometry(site, zone_id))
        panels.append(
            EvidencePanel(
                zone_id=zone_id,
                zone=_zone_label(site, zone_id),
                before=_chip_out(request, alert, zone_id, "before", before),
                after=_chip_out(request, alert, zone_id, "after", after),
            )
        )
    return panels


@router.get("/alerts/{alert_id}/evidence/{zone_id}/{role}.jpg", response_class=Response, responses={200: JPEG})
def evidence_chip(
    alert_id: str,
    zone_id: str,
    role: Annotated[Literal["before", "after"], Path()],
    _: Viewer,
    store: StoreDep,
    sites: SitesDep,
) -> Response:
    """The zone in the before or after scene, detections of the alert's classes boxed."""
    alert = store.get_alert(alert_id)
    site = sites.get(alert.site_id)
    if zone_id not in _zones(alert, site):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"alert {alert_id!r} has no zone {zone_id!r}")
    geom = zone_geometry(site, zone_id)
    before, after = evidence_pair(store.list_scenes(site.id), alert, geom)
    scene = before if role == "before" else after
    if scene is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no {role} scene sees zone {zone_id!r}")
    crop = chips.read_crop(scene, geom, max_size=chips.CHIP_SIZE)
    if crop is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"scene {scene.id!r} does not overlap zone {zone_id!r}")
    found = store.list_detections(scene_id=scene.id)
    detector = choose_detector(found)
    boxes = [
        d
        for d in found
        if d.detector == detector and d.geometry.intersects(geom) and (not alert.classes or d.cls in alert.classes)
    ]
    img = chips.annotate(crop, boxes, outline=geom, simulated=site.simulated or scene.simulated)
    return Response(img.data, media_type=img.mime, headers={"Cache-Control": "private, max-age=300"})


def _zones(alert: Alert, site: Site) -> tuple[str, ...]:
    return alert.zones or tuple(z.id for z in site.zones) or ("aoi",)


def _zone_label(site: Site, zone_id: str) -> str:
    try:
        z = site.zone(zone_id)
    except KeyError:
        return zone_id
    return f"{z.name} ({z.kind})"


def _chip_out(
    request: Request, alert: Alert, zone_id: str, role: Literal["before", "after"], scene: Scene | None
) -> ChipOut | None:
    if scene is None:
        return None
    url = request.app.url_path_for("evidence_chip", alert_id=alert.id, zone_id=zone_id, role=role)
    return ChipOut(
        role=role, scene_id=scene.id, acquired=scene.acquired, sensor=scene.sensor, gsd=scene.gsd, url=str(url)
    )
