"""Scenes: list by site and time, metadata, thumbnail and XYZ map tiles of the site AOI."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import shapely
from fastapi import APIRouter, HTTPException, Path, Query, Response, status

from sitewatch.api.deps import SitesDep, StoreDep, utc_query
from sitewatch.api.schemas import IMAGE_ERRORS, SceneOut
from sitewatch.api.security import Viewer
from sitewatch.api.tiles import MAX_ZOOM, render_thumbnail, render_tile, valid_tile
from sitewatch.report.chips import scene_path

router = APIRouter(tags=["scenes"], responses=IMAGE_ERRORS)

PNG = {"content": {"image/png": {}}, "description": "PNG image"}
#: Scene pixels never change once ingested; let the browser keep them a while.
IMAGE_CACHE = "private, max-age=3600"


@router.get("/scenes", response_model=list[SceneOut])
def list_scenes(
    _: Viewer,
    store: StoreDep,
    sites: SitesDep,
    site_id: str | None = None,
    start: Annotated[dt.datetime | None, Query(description="Acquired at or after (ISO 8601 with zone)")] = None,
    end: Annotated[dt.datetime | None, Query(description="Acquired at or before (ISO 8601 with zone)")] = None,
) -> list[SceneOut]:
    if site_id is not None:
        sites.get(site_id)  # 404 for an unknown site rather than an empty list
    scenes = store.list_scenes(site_id, utc_query(start, "start"), utc_query(end, "end"))
    return [SceneOut.of(s) for s in scenes]


@router.get("/scenes/{scene_id}", response_model=SceneOut)
def get_scene(scene_id: str, _: Viewer, store: StoreDep) -> SceneOut:
    return SceneOut.of(store.get_scene(scene_id))


@router.get("/scenes/{scene_id}/thumbnail.png", response_class=Response, responses={200: PNG})
def thumbnail(scene_id: str, _: Viewer, store: StoreDep) -> Response:
    scene = store.get_scene(scene_id)
    return Response(
        render_thumbnail(scene_path(scene.uri)), media_type="image/png", headers={"Cache-Control": IMAGE_CACHE}
    )


@router.get("/scenes/{scene_id}/tiles/{z}/{x}/{y}.png", response_class=Response, responses={200: PNG})
def tile(
    scene_id: str,
    z: Annotated[int, Path(ge=0, le=MAX_ZOOM)],
    x: Annotated[int, Path(ge=0)],
    y: Annotated[int, Path(ge=0)],
    _: Viewer,
    store: StoreDep,
    sites: SitesDep,
    site_id: Annotated[
        str | None, Query(description="Clip to this site's AOI (default: every site the scene covers)")
    ] = None,
) -> Response:
    """Web Mercator tile of the scene, transparent outside the site AOI and the valid pixels."""
    if not valid_tile(z, x, y):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no tile {z}/{x}/{y}: x and y must be below 2^z")
    scene = store.get_scene(scene_id)
    if site_id is not None:
        clip = sites.get(site_id).aoi
    else:
        aois = [s.aoi for s in sites.all().values() if s.aoi.intersects(scene.footprint)]
        clip = shapely.union_all(aois) if aois else shapely.Polygon()
    png = render_tile(scene_path(scene.uri), z, x, y, clip=clip)
    return Response(png, media_type="image/png", headers={"Cache-Control": IMAGE_CACHE})
