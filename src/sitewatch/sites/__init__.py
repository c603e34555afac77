"""Site catalogue: GeoJSON import/export (:mod:`.geojson`) and real facilities (:mod:`.builtin`)."""
