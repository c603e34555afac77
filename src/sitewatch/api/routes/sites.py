"""Sites and zones: list, get, GeoJSON, create and update (from a GeoJSON FeatureCollection)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status

from sitewatch.api.deps import SitesDep, StoreDep
from sitewatch.api.schemas import WRITE_ERRORS, FeatureCollection, SiteOut
from sitewatch.api.security import Analyst, Viewer
from sitewatch.sites.geojson import parse_sites, sites_to_geojson

router = APIRouter(tags=["sites"], responses=WRITE_ERRORS)


@router.get("/sites", response_model=list[SiteOut])
def list_sites(_: Viewer, sites: SitesDep) -> list[SiteOut]:
    return [SiteOut.of(s) for s in sites.all().values()]


@router.get("/sites.geojson", response_model=FeatureCollection)
def sites_geojson(_: Viewer, store: StoreDep) -> FeatureCollection:
    """All sites and zones as one FeatureCollection (the format of ``sitewatch sites import``)."""
    return FeatureCollection.model_validate(sites_to_geojson(store.list_sites()))


@router.get("/sites/{site_id}", response_model=SiteOut)
def get_site(site_id: str, _: Viewer, sites: SitesDep) -> SiteOut:
    return SiteOut.of(sites.get(site_id))


@router.get("/sites/{site_id}/geojson", response_model=FeatureCollection)
def site_geojson(site_id: str, _: Viewer, store: StoreDep) -> FeatureCollection:
    return FeatureCollection.model_validate(sites_to_geojson([store.get_site(site_id)]))


@router.post("/sites", response_model=list[SiteOut], status_code=status.HTTP_201_CREATED)
def import_sites(body: FeatureCollection, _: Analyst, store: StoreDep, index: SitesDep) -> list[SiteOut]:
    """Create or replace the sites (with their zones) of a FeatureCollection."""
    sites = parse_sites(body.model_dump(), source="request body")
    for site in sites:
        store.upsert_site(site)
    index.invalidate()
    return [SiteOut.of(s) for s in sites]


@router.put("/sites/{site_id}", response_model=SiteOut)
def update_site(site_id: str, body: FeatureCollection, _: Analyst, store: StoreDep, index: SitesDep) -> SiteOut:
    """Replace one site and its zones; the body holds exactly that site."""
    sites = parse_sites(body.model_dump(), source="request body")
    if [s.id for s in sites] != [site_id]:
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST,
            f"the body must hold exactly site {site_id!r}, got {[s.id for s in sites]}",
        )
    store.get_site(site_id)  # 404 for an unknown site: creation goes through POST /sites
    store.upsert_site(sites[0])
    index.invalidate()
    return SiteOut.of(sites[0])
