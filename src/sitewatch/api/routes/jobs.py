"""Jobs: submit ingest, detect or analyze; follow their status and progress."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Request, status
from pydantic import BaseModel, Field

from sitewatch.api.deps import SitesDep
from sitewatch.api.jobs import JobRunner, JobState, resolve_inputs, work_for
from sitewatch.api.schemas import WRITE_ERRORS
from sitewatch.api.security import Analyst, Viewer

router = APIRouter(tags=["jobs"], responses=WRITE_ERRORS)


class JobIn(BaseModel):
    kind: Literal["ingest", "detect", "analyze"]
    site_ids: list[str] | None = Field(None, max_length=1000, description="Sites to process (default: all)")
    detector: Literal["default", "simple"] | None = Field(None, description="detect: which bundled detector")
    paths: list[str] = Field(
        default_factory=list,
        max_length=1000,
        description="ingest: files or folders relative to the server's ingest root",
    )


class JobOut(BaseModel):
    id: str
    kind: str
    user: str
    params: dict[str, Any]
    status: Literal["queued", "running", "done", "failed"]
    done: int
    total: int
    label: str
    submitted: dt.datetime
    started: dt.datetime | None
    finished: dt.datetime | None
    result: dict[str, Any]
    error: str | None

    @classmethod
    def of(cls, j: JobState) -> JobOut:
        return cls.model_validate(j, from_attributes=True)


def _runner(request: Request) -> JobRunner:
    return request.app.state.jobs  # type: ignore[no-any-return]


@router.post("/jobs", response_model=JobOut, status_code=status.HTTP_202_ACCEPTED)
def submit(body: JobIn, request: Request, who: Analyst, sites: SitesDep) -> JobOut:
    """Queue a job; poll ``GET /jobs/{id}`` for its progress and result."""
    for site_id in body.site_ids or ():
        sites.get(site_id)  # 404 now rather than a failed job later
    root = request.app.state.settings.ingest_root
    inputs = resolve_inputs(Path(root) if root else None, body.paths) if body.kind == "ingest" else []
    work = work_for(body.kind, site_ids=body.site_ids, detector=body.detector, inputs=inputs)
    params = body.model_dump(exclude_none=True, exclude_defaults=True)
    return JobOut.of(_runner(request).submit(body.kind, who.user, params, work))


@router.get("/jobs", response_model=list[JobOut])
def list_jobs(request: Request, _: Viewer) -> list[JobOut]:
    """Jobs since the server started, oldest first."""
    return [JobOut.of(j) for j in _runner(request).list()]


@router.get("/jobs/{job_id}", response_model=JobOut)
def get_job(job_id: str, request: Request, _: Viewer) -> JobOut:
    job = _runner(request).get(job_id)
    if job is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no job {job_id!r} (jobs are kept until the server restarts)")
    return JobOut.of(job)
