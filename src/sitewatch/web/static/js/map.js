// Site map (Leaflet): the chosen scene as tiles from the API (no outside tile server), the AOI
// and zones, and that scene's detections coloured by class.
import * as L from "/static/vendor/leaflet.esm.js";
import { api, q } from "./api.js";
import { classColour } from "./dom.js";

export class SiteMap {
  constructor(el, site) {
    this.site = site;
    const [minx, miny, maxx, maxy] = site.bbox;
    this.bounds = L.latLngBounds([miny, minx], [maxy, maxx]);
    this.map = L.map(el, { maxZoom: 22, zoomSnap: 0.5, attributionControl: false });
    this.map.fitBounds(this.bounds.pad(0.05));
    L.geoJSON(site.aoi, { style: { color: "#ffffff", weight: 2, fill: false } }).addTo(this.map);
    for (const z of site.zones) {
      L.geoJSON(z.geometry, { style: { color: "#ffd54f", weight: 1.5, fillOpacity: 0.05 } })
        .bindTooltip(`${z.name} (${z.kind})`).addTo(this.map);
    }
    this.tiles = null;
    this.boxes = L.layerGroup().addTo(this.map);
  }

  /** Show `scene` and its detections; resolves with the number of detections drawn. */
  async show(scene) {
    const url = `/api/v1/scenes/${encodeURIComponent(scene.id)}/tiles/{z}/{x}/{y}.png${q({ site_id: this.site.id })}`;
    const next = L.tileLayer(url, { maxZoom: 22, maxNativeZoom: 22, bounds: this.bounds, tileSize: 256 });
    next.addTo(this.map).bringToBack();
    if (this.tiles) this.map.removeLayer(this.tiles);
    this.tiles = next;
    const page = await api(`/detections${q({ scene_id: scene.id, site_id: this.site.id, limit: 5000 })}`);
    this.boxes.clearLayers();
    L.geoJSON(page, {
      style: (f) => ({ color: classColour(f.properties.cls), weight: 2, fillOpacity: 0.25 }),
      onEachFeature: (f, layer) => layer.bindTooltip(`${f.properties.cls} ${f.properties.score.toFixed(2)}`),
    }).addTo(this.boxes);
    return page.features.length;
  }
}
