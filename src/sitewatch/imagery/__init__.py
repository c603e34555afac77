"""Imagery: raster reads (:mod:`.raster`), scene metadata (:mod:`.metadata`) and ingest (:mod:`.ingest`)."""
