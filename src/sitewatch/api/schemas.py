"""Response and request models (Pydantic 2), built from the frozen domain objects.

Geometries are GeoJSON objects in EPSG:4326. Every model that carries data says whether
it is ``simulated``, so a client can never show simulated numbers as real ones.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from shapely.geometry import mapping
from shapely.geometry.base import BaseGeometry

from sitewatch.api.accounts import AlertNote, AuditEntry, User
from sitewatch.model import Alert, Baseline, Count, Detection, Event, Scene, Site

GeoJSONGeometry = dict[str, Any]
#: Largest paging offset accepted (SQL back ends take 64-bit integers at most).
MAX_OFFSET = 10**9
BBox = tuple[float, float, float, float]


def geojson(geom: BaseGeometry) -> GeoJSONGeometry:
    return dict(mapping(geom))


class ErrorOut(BaseModel):
    """What went wrong and, where known, how to fix it."""

    detail: str


def _error(description: str) -> dict[str, Any]:
    return {"model": ErrorOut, "description": description}


#: Errors any authenticated route may answer (declared so clients and schema checks know them).
READ_ERRORS: dict[int | str, dict[str, Any]] = {
    400: _error("Invalid input (the message says what and how to fix it)"),
    401: _error("Missing or invalid credentials"),
    403: _error("The caller's role is not allowed to do this"),
    404: _error("No such object"),
    429: _error("Rate limit exceeded; retry after the Retry-After header"),
}
#: Also for routes that take a body or read imagery.
WRITE_ERRORS: dict[int | str, dict[str, Any]] = {**READ_ERRORS, 413: _error("Request body too large")}
IMAGE_ERRORS: dict[int | str, dict[str, Any]] = {**READ_ERRORS, 502: _error("The scene image cannot be read")}


class Health(BaseModel):
    status: Literal["ok"] = "ok"
    version: str
    sites: int
    simulated: bool = Field(description="True when any site in the store is simulated")


class ZoneOut(BaseModel):
    id: str
    name: str
    kind: str
    geometry: GeoJSONGeometry


class SiteOut(BaseModel):
    id: str
    name: str
    country: str | None
    description: str
    simulated: bool
    bbox: BBox
    aoi: GeoJSONGeometry
    zones: list[ZoneOut]

    @classmethod
    def of(cls, s: Site) -> SiteOut:
        zones = [ZoneOut(id=z.id, name=z.name, kind=z.kind, geometry=geojson(z.geometry)) for z in s.zones]
        return cls(
            id=s.id,
            name=s.name,
            country=s.country,
            description=s.description,
            simulated=s.simulated,
            bbox=s.aoi.bounds,
            aoi=geojson(s.aoi),
            zones=zones,
        )


class Feature(BaseModel):
    type: Literal["Feature"] = "Feature"
    geometry: GeoJSONGeometry
    properties: dict[str, Any]


class FeatureCollection(BaseModel):
    """A GeoJSON FeatureCollection (sites and zones as ``sitewatch sites import`` reads them)."""

    model_config = ConfigDict(extra="allow")

    type: Literal["FeatureCollection"] = "FeatureCollection"
    features: list[Feature]


class SceneOut(BaseModel):
    id: str
    acquired: dt.datetime
    sensor: str
    gsd: float
    crs: str
    width: int
    height: int
    bands: int
    off_nadir: float | None
    sun_elevation: float | None
    sun_azimuth: float | None
    cloud_cover: float | None
    simulated: bool
    bbox: BBox
    footprint: GeoJSONGeometry
    valid: GeoJSONGeometry

    @classmethod
    def of(cls, s: Scene) -> SceneOut:
        # The file URI stays server-side: it names the server's disk layout and is no use to a client.
        return cls(
            id=s.id,
            acquired=s.acquired,
            sensor=s.sensor,
            gsd=s.gsd,
            crs=s.crs,
            width=s.width,
            height=s.height,
            bands=s.bands,
            off_nadir=s.off_nadir,
            sun_elevation=s.sun_elevation,
            sun_azimuth=s.sun_azimuth,
            cloud_cover=s.cloud_cover,
            simulated=s.simulated,
            bbox=s.footprint.bounds,
            footprint=geojson(s.footprint),
            valid=geojson(s.valid),
        )


class DetectionPage(BaseModel):
    """One page of detections as a GeoJSON FeatureCollection with paging fields."""

    type: Literal["FeatureCollection"] = "FeatureCollection"
    features: list[Feature]
    total: int
    offset: int
    limit: int
    next_offset: int | None
    simulated: bool


def detection_feature(d: Detection, acquired: dt.datetime | None) -> Feature:
    props = {
        "scene_id": d.scene_id,
        "cls": d.cls,
        "score": round(d.score, 4),
        "box": list(d.box),
        "detector": d.detector,
        "site_id": d.site_id,
        "zone_id": d.zone_id,
        "acquired": acquired.isoformat() if acquired else None,
    }
    return Feature(geometry=geojson(d.geometry), properties=props)


class CountPoint(BaseModel):
    date: dt.date
    scene_id: str
    raw: int
    observed_fraction: float
    estimate: float
    lo: float
    hi: float
    sufficient: bool
    baseline: float | None = Field(
        None,
        description="Expected count from the causal baseline (earlier days only), as stored by the last "
        "analyze; null before enough history or before analyze ran",
    )
    baseline_lo: float | None = Field(None, description="baseline − 2 sd (negative binomial), floored at 0")
    baseline_hi: float | None = Field(None, description="baseline + 2 sd (negative binomial)")

    @classmethod
    def of(cls, c: Count, band: Baseline | None) -> CountPoint:
        mu, lo, hi = (band.expected, band.lo, band.hi) if band else (None, None, None)
        return cls(
            date=c.date,
            scene_id=c.scene_id,
            raw=c.raw,
            observed_fraction=c.observed_fraction,
            estimate=c.estimate,
            lo=c.lo,
            hi=c.hi,
            sufficient=c.sufficient,
            baseline=mu,
            baseline_lo=lo,
            baseline_hi=hi,
        )


class CountSeries(BaseModel):
    site_id: str
    zone_id: str
    cls: str
    simulated: bool
    points: list[CountPoint]


class HypothesisOut(BaseModel):
    name: str
    confidence: float
    rationale: str


class NoteOut(BaseModel):
    id: int
    user: str
    at: dt.datetime
    kind: Literal["ack", "comment"]
    text: str

    @classmethod
    def of(cls, n: AlertNote) -> NoteOut:
        return cls(id=n.id, user=n.user, at=n.at, kind=n.kind, text=n.text)  # type: ignore[arg-type]


class AlertOut(BaseModel):
    id: str
    site_id: str
    start: dt.date
    end: dt.date
    score: float
    severity: str
    zones: list[str]
    classes: list[str]
    explanation: str
    evidence: list[str]
    hypotheses: list[HypothesisOut]
    caveats: list[str]
    status: str
    acknowledged: bool
    notes: list[NoteOut]
    simulated: bool

    @classmethod
    def of(cls, a: Alert, notes: list[AlertNote], simulated: bool) -> AlertOut:
        acked = any(n.kind == "ack" for n in notes)
        return cls(
            id=a.id,
            site_id=a.site_id,
            start=a.start,
            end=a.end,
            score=a.score,
            severity=a.severity,
            zones=list(a.zones),
            classes=list(a.classes),
            explanation=a.explanation,
            evidence=list(a.evidence),
            hypotheses=[
                HypothesisOut(name=h.name, confidence=h.confidence, rationale=h.rationale) for h in a.hypotheses
            ],
            caveats=list(a.caveats),
            status="acknowledged" if acked and a.status == "open" else a.status,
            acknowledged=acked,
            notes=[NoteOut.of(n) for n in notes],
            simulated=simulated,
        )


class ChipOut(BaseModel):
    role: Literal["before", "after"]
    scene_id: str
    acquired: dt.datetime
    sensor: str
    gsd: float
    url: str


class EvidencePanel(BaseModel):
    """Before/after image chips of one alert zone (``None`` when no scene sees it)."""

    zone_id: str
    zone: str
    before: ChipOut | None
    after: ChipOut | None


class EventOut(BaseModel):
    id: str
    date: dt.date
    kind: str
    source: str
    site_id: str | None
    facility: str | None
    lat: float | None
    lon: float | None
    description: str
    simulated: bool

    @classmethod
    def of(cls, e: Event) -> EventOut:
        return cls(
            id=e.id,
            date=e.date,
            kind=e.kind,
            source=e.source,
            site_id=e.site_id,
            facility=e.facility,
            lat=e.lat,
            lon=e.lon,
            description=e.description,
            simulated=e.simulated,
        )


class NoteIn(BaseModel):
    text: str = Field("", max_length=4000)


class LoginIn(BaseModel):
    username: str = Field(max_length=200)
    password: str = Field(max_length=1000)


class SessionOut(BaseModel):
    token: str = Field(description="Bearer token (also set as an HttpOnly session cookie)")
    user: str
    role: str
    expires: dt.datetime | None


class UserOut(BaseModel):
    name: str
    role: str
    created: dt.datetime
    disabled: bool

    @classmethod
    def of(cls, u: User) -> UserOut:
        return cls(name=u.name, role=u.role, created=u.created, disabled=u.disabled)


class Me(BaseModel):
    user: str
    role: str
    via: str


class AuditOut(BaseModel):
    id: int
    at: dt.datetime
    user: str | None
    method: str
    path: str
    status: int
    detail: dict[str, Any]

    @classmethod
    def of(cls, e: AuditEntry) -> AuditOut:
        return cls(id=e.id, at=e.at, user=e.user, method=e.method, path=e.path, status=e.status, detail=e.detail)


def finite(x: float) -> float | None:
    """``x``, or ``None`` for NaN/inf (JSON has no such numbers)."""
    return x if math.isfinite(x) else None


class ChangeSceneOut(BaseModel):
    scene_id: str
    acquired: dt.datetime
    sensor: str
    gsd: float
    simulated: bool

    @classmethod
    def of(cls, s: Scene) -> ChangeSceneOut:
        return cls(scene_id=s.id, acquired=s.acquired, sensor=s.sensor, gsd=s.gsd, simulated=s.simulated)


class ChangeGridOut(BaseModel):
    """The metric grid both scenes were resampled onto for the comparison."""

    crs: str
    res_m: float
    width: int
    height: int


class AlignmentOut(BaseModel):
    shift_px: tuple[float, float] = Field(description="(rows, cols) applied to the after scene to land on the before")
    shift_m: float
    residual_px: float | None = Field(description="RMS misfit of the tile shifts after alignment (px)")
    residual_m: float | None
    ncc: float | None = Field(description="Normalised cross-correlation of the aligned images")
    tiles: int
    inliers: int
    reliable: bool


class ZoneFlowOut(BaseModel):
    """Object changes of one class in one zone (``zone_id`` null: outside every zone)."""

    zone_id: str | None
    cls: str
    appeared: int
    departed: int
    moved: int
    stayed: int
    unobserved: int


class ChangeOut(BaseModel):
    """What changed at a site between two scenes (as ``sitewatch change`` computes it)."""

    site_id: str
    requested: tuple[dt.date, dt.date] = Field(description="The dates asked for (or the alert window's scenes)")
    before: ChangeSceneOut
    after: ChangeSceneOut
    grid: ChangeGridOut
    alignment: AlignmentOut
    valid_fraction: float = Field(description="Share of the grid compared (both scenes clear)")
    changed_fraction: float = Field(description="Share of the compared pixels that changed")
    changed_area_m2: float
    regions: dict[str, int] = Field(description="Change polygons per kind")
    structure_changes: dict[str, int] = Field(description="Structure-level changes per kind (crane, new_structure...)")
    objects: dict[str, int] = Field(description="Object changes per kind (appeared, departed, moved, stayed...)")
    flows: list[ZoneFlowOut] = Field(description="Object changes per zone and class")
    parked_through: int = Field(description="Objects seen parked on every scene from before to after")
    longest_dwell_days: float
    detector: str | None
    summary: str = Field(description="The one-line summary the report shows")
    caveats: list[str]
    polygons: FeatureCollection = Field(description="Change polygons (EPSG:4326) with area_m2, confidence and kind")
    figure_url: str = Field(description="The before/after/change PNG of this comparison")
    simulated: bool
