"""Files written for a change result: map, polygons, object changes, figure and chips.

```
OUT/change_map.tif        uint8 on the comparison grid: 0 no change, 1 change, 255 not compared
OUT/change_regions.geojson  polygons (EPSG:4326) with area_m2, confidence and kind
OUT/object_changes.csv    one row per object: kind, class, zone, distance, positions
OUT/change.json           summary, caveats, zone flows, object changes and dwell tracks
OUT/before_after.png      before, after and change side by side
OUT/chips/region-<id>.png before/after chips of structure changes
```
Files made from simulated data say SIMULATED (tags, properties, watermark).
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from dataclasses import asdict
from pathlib import Path
from typing import Literal

import numpy as np
import rasterio
import shapely

from sitewatch import SIMULATED_MARK
from sitewatch.change.figure import before_after, chip
from sitewatch.change.objects import ObjectChange
from sitewatch.change.pipeline import ChangeResult
from sitewatch.change.structures import STRUCTURE_KINDS
from sitewatch.model import Detection

NODATA = 255
OBJECT_FIELDS: tuple[str, ...] = (
    "kind",
    "cls",
    "zone_id",
    "distance_m",
    "before_lon",
    "before_lat",
    "after_lon",
    "after_lat",
    "before_score",
    "after_score",
)


def write_change_map(result: ChangeResult, path: Path) -> Path:
    """The change mask as a single-band uint8 GeoTIFF on the comparison grid."""
    px = result.pair.pixels
    data = np.where(px.valid, px.mask.astype(np.uint8), NODATA).astype(np.uint8)
    g = result.grid
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=g.width,
        height=g.height,
        count=1,
        dtype="uint8",
        crs=g.crs,
        transform=g.transform,
        nodata=NODATA,
        compress="deflate",
        tiled=True,
    ) as dst:
        dst.write(data, 1)
        dst.set_band_description(1, "change (1) / no change (0)")
        dst.update_tags(
            method="IR-MAD chi-square",
            alpha=str(px.alpha),
            threshold=f"{px.threshold:.4f}",
            before=result.before.id,
            after=result.after.id,
            site=result.site.id,
            **({SIMULATED_MARK: "true"} if result.simulated else {}),
        )
    return path


def regions_geojson(result: ChangeResult) -> dict[str, object]:
    features = [
        {
            "type": "Feature",
            "geometry": shapely.geometry.mapping(r.geometry),
            "properties": {
                "id": r.id,
                "kind": r.kind,
                "area_m2": round(r.area_m2, 2),
                "confidence": round(r.confidence, 4),
                "length_m": round(r.length_m, 2),
                "width_m": round(r.width_m, 2),
                "rectangularity": round(r.rectangularity, 3),
                "brightness_change": round(r.brightness, 2),
                "texture_change": round(r.texture_change, 3),
                "simulated": result.simulated,
            },
        }
        for r in result.pair.regions
    ]
    return {
        "type": "FeatureCollection",
        "name": f"change {result.site.id} {result.before.id} -> {result.after.id}",
        "features": features,
    }


def _where(det: Detection | None) -> tuple[float | None, float | None]:
    if det is None:
        return None, None
    c = det.geometry.centroid
    return round(c.x, 7), round(c.y, 7)


def _object_row(o: ObjectChange) -> dict[str, object]:
    (lon0, lat0), (lon1, lat1) = _where(o.before), _where(o.after)
    return {
        "kind": o.kind,
        "cls": o.cls,
        "zone_id": o.zone_id,
        "distance_m": None if o.distance_m is None else round(o.distance_m, 2),
        "before_lon": lon0,
        "before_lat": lat0,
        "after_lon": lon1,
        "after_lat": lat1,
        "before_score": None if o.before is None else round(o.before.score, 3),
        "after_score": None if o.after is None else round(o.after.score, 3),
    }


def write_outputs(result: ChangeResult, out_dir: str | Path) -> dict[str, Path]:
    """Write every product of ``result`` into ``out_dir``; returns their paths by name."""
    out = Path(out_dir)
    (out / "chips").mkdir(parents=True, exist_ok=True)
    paths = {
        "map": write_change_map(result, out / "change_map.tif"),
        "regions": out / "change_regions.geojson",
        "objects_csv": out / "object_changes.csv",
        "json": out / "change.json",
        "figure": out / "before_after.png",
    }
    paths["regions"].write_text(json.dumps(regions_geojson(result)))
    rows = [_object_row(o) for o in result.objects]
    with paths["objects_csv"].open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=OBJECT_FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    doc = {
        **result.summary(),
        "flows": [{**asdict(fl), "net": fl.net} for fl in result.flows],
        "object_changes": rows,
        "dwell_tracks": [
            {
                "cls": t.cls,
                "first_seen": t.first_seen.isoformat(),
                "last_seen": t.last_seen.isoformat(),
                "dwell_days": round(t.dwell.total_seconds() / 86400, 2),
                "scenes": t.scenes,
                "lon": round(t.geometry.centroid.x, 7),
                "lat": round(t.geometry.centroid.y, 7),
            }
            for t in result.tracks
            if t.scenes > 1
        ],
        **({"note": f"{SIMULATED_MARK}: made from simulated data"} if result.simulated else {}),
    }
    paths["json"].write_text(json.dumps(doc, indent=2))
    pair = result.pair
    paths["figure"].write_bytes(figure_png(result))
    for r in pair.regions:
        if r.kind in STRUCTURE_KINDS:
            p = out / "chips" / f"region-{r.id}.png"
            p.write_bytes(chip(pair.before, pair.after, r, simulated=result.simulated))
            paths[f"chip-{r.id}"] = p
    return paths


def figure_png(result: ChangeResult, *, max_px: int = 900, fmt: Literal["png", "jpeg"] = "png") -> bytes:
    """The before/after/change figure of ``result`` (what the CLI, API and report show), PNG by default."""
    pair = result.pair
    titles = (
        f"before {result.before.acquired:%Y-%m-%d} {result.before.sensor}",
        f"after {result.after.acquired:%Y-%m-%d} {result.after.sensor} (aligned)",
    )
    return before_after(
        pair.before,
        pair.after,
        pair.pixels.mask,
        pair.pixels.valid,
        pair.regions,
        titles=titles,
        simulated=result.simulated,
        max_px=max_px,
        fmt=fmt,
    )


def summary_line(result: ChangeResult) -> str:
    """One line for a reader: changed area, objects appeared/departed by class, structure changes."""
    px = result.pair.pixels
    area = float(px.mask.sum() * result.grid.pixel_area)
    parts = [f"changed {px.changed_fraction:.2%} of the compared area ({area:,.0f} m²)"]
    by_kind: dict[str, Counter[str]] = {}
    for o in result.objects:
        by_kind.setdefault(o.kind, Counter())[o.cls] += 1
    for kind in ("appeared", "departed"):
        tally = by_kind.get(kind)
        listed = ", ".join(f"{n} {cls}" for cls, n in sorted(tally.items())) if tally else "none"
        parts.append(f"{kind}: {listed}")
    if result.detector is None:
        parts[-2:] = ["objects: no detections stored"]
    structures = Counter(r.kind for r in result.pair.regions if r.kind in STRUCTURE_KINDS)
    listed = ", ".join(f"{n} {kind.replace('_', ' ')}" for kind, n in sorted(structures.items()))
    parts.append(f"structures: {listed or 'none'}")
    return "; ".join(parts)
