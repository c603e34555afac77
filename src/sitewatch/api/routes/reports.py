"""Site reports: the HTML evidence report and the JSON evidence bundle (from :mod:`sitewatch.report`)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import HTMLResponse

from sitewatch.api.deps import StoreDep
from sitewatch.api.pdf import html_to_pdf
from sitewatch.api.schemas import IMAGE_ERRORS, ErrorOut
from sitewatch.api.security import Viewer
from sitewatch.report.bundle import collect, to_json
from sitewatch.report.html import build_context, render

router = APIRouter(tags=["reports"], responses=IMAGE_ERRORS)


@router.get(
    "/sites/{site_id}/report.html",
    response_class=Response,
    responses={200: {"content": {"text/html": {}}, "description": "HTML report"}},
)
def report_html(site_id: str, _: Viewer, store: StoreDep) -> HTMLResponse:
    """The self-contained HTML evidence report of the site (no scripts, images inline)."""
    return HTMLResponse(render(build_context(collect(store, site_id), store)))


@router.get(
    "/sites/{site_id}/report.pdf",
    response_class=Response,
    responses={
        200: {"content": {"application/pdf": {}}, "description": "PDF report"},
        501: {"model": ErrorOut, "description": "No Chromium on the server to print the PDF"},
    },
)
def report_pdf(site_id: str, _: Viewer, store: StoreDep) -> Response:
    """The HTML report printed to PDF by headless Chromium on the server (slow: seconds)."""
    pdf = html_to_pdf(render(build_context(collect(store, site_id), store)))
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{_safe(site_id)}-report.pdf"'},
    )


@router.get("/sites/{site_id}/bundle.json")
def report_bundle(site_id: str, _: Viewer, store: StoreDep) -> dict[str, Any]:
    """The JSON evidence bundle of the site: what the report rests on, with provenance."""
    return to_json(collect(store, site_id))


def _safe(name: str) -> str:
    """``name`` reduced to characters safe inside a quoted header value."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
