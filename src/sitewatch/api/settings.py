"""Server settings: one frozen object, safe defaults (closed CORS, small bodies, rate limits)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

#: Environment variable carrying the settings (JSON) to worker processes of ``sitewatch serve``.
ENV_SETTINGS = "SITEWATCH_API_SETTINGS"


@dataclass(frozen=True)
class ApiSettings:
    """How the API server behaves; the defaults suit one team server on a private network."""

    #: Origins allowed by CORS; empty means same-origin only.
    cors_origins: tuple[str, ...] = ()
    #: Largest request body accepted, in bytes (a site catalogue upload is far smaller).
    max_body_bytes: int = 1_000_000
    #: Sustained requests per second allowed per credential (or per client address before login).
    rate_per_second: float = 50.0
    #: Requests a credential may make in a burst above the sustained rate.
    rate_burst: int = 200
    #: Lifetime of a dashboard session, in hours.
    session_hours: float = 12.0
    #: Mark the session cookie Secure (set when served over HTTPS).
    secure_cookies: bool = False
    #: Largest page of detections returned at once.
    max_page: int = 5000
    #: Folder the ingest jobs may read from (paths are given relative to it); None disables them.
    ingest_root: str | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> ApiSettings:
        values = json.loads(text)
        values["cors_origins"] = tuple(values.get("cors_origins", ()))
        return cls(**values)
