"""Races between writers that the one-writer lock alone does not close."""

from __future__ import annotations

import datetime as dt

from shapely.geometry import box

from sitewatch.model import Scene, Site
from sitewatch.store import open_store

from .conftest import db_url  # noqa: F401  (the sqlite/postgis store fixture)


def _scene(scene_id: str, x: float) -> Scene:
    fp = box(x, 0.0, x + 0.01, 0.01)
    when = dt.datetime(2024, 3, 1, 2, 0, tzinfo=dt.UTC)
    return Scene(
        scene_id, f"/data/{scene_id}.tif", when, "WorldView-3", 0.3, "EPSG:32631", fp, fp, f"h-{scene_id}", 10, 10, 3
    )


def test_a_site_imported_while_a_scene_is_being_ingested_is_linked(db_url: str) -> None:  # noqa: F811
    """Ingest lists the sites, then another process imports one, then ingest adds the scene:
    the scene must still be linked to it (it used to be linked only to the sites listed)."""
    with open_store(db_url) as ingest, open_store(db_url) as api:
        listed = [s.id for s in ingest.list_sites()]  # nothing yet
        api.upsert_site(Site("new", "Imported meanwhile", box(0.005, 0.005, 0.02, 0.02)))
        api.upsert_site(Site("far", "Not covered", box(5.0, 5.0, 5.01, 5.01)))
        assert ingest.add_scene(_scene("sc", 0.0), listed)
        assert ingest.scene_site_ids("sc") == ["new"]
        assert [s.id for s in api.list_scenes("new")] == ["sc"]
