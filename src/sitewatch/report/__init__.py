"""Evidence reports: one self-contained HTML file per site (:mod:`.html`) and a JSON bundle (:mod:`.bundle`).

:mod:`.figures` turns data into PNG bytes, :mod:`.chips` reads image crops through
:mod:`sitewatch.imagery.raster`; only :mod:`.html` and :mod:`.bundle` touch the store.
"""
