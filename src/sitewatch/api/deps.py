"""FastAPI dependencies shared by the routers: the store and the accounts of the running app."""

from __future__ import annotations

import datetime as dt
import time
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status

from sitewatch.api.accounts import Accounts
from sitewatch.model import Site, utc
from sitewatch.store.base import Store


# async: trivial dependencies then run on the event loop instead of a threadpool hop each.
async def get_store(request: Request) -> Store:
    return request.app.state.store  # type: ignore[no-any-return]


async def get_accounts(request: Request) -> Accounts:
    return request.app.state.accounts  # type: ignore[no-any-return]


class SiteIndex:
    """All sites by id, re-read from the store at most every ``ttl`` seconds.

    Hot read paths (count series, tiles, alert lists) need a site's AOI or ``simulated``
    flag on every request; sites change rarely. Writes through this server call
    :meth:`invalidate`; sites imported by another process appear within ``ttl``.
    """

    def __init__(self, store: Store, ttl: float = 10.0) -> None:
        self.store, self.ttl = store, ttl
        self._sites: dict[str, Site] = {}
        self._expires = 0.0

    def all(self) -> dict[str, Site]:
        if time.monotonic() >= self._expires:
            self._sites = {s.id: s for s in self.store.list_sites()}
            self._expires = time.monotonic() + self.ttl
        return self._sites

    def get(self, site_id: str) -> Site:
        """The site; :class:`~sitewatch.errors.NotFoundError` (from the store) if there is none."""
        site = self.all().get(site_id)
        if site is None:
            site = self.store.get_site(site_id)  # a site newer than the index, or a 404
            self.invalidate()
        return site

    def invalidate(self) -> None:
        self._expires = 0.0


async def get_sites(request: Request) -> SiteIndex:
    return request.app.state.sites  # type: ignore[no-any-return]


StoreDep = Annotated[Store, Depends(get_store)]
SitesDep = Annotated[SiteIndex, Depends(get_sites)]
AccountsDep = Annotated[Accounts, Depends(get_accounts)]


def utc_query(t: dt.datetime | None, name: str) -> dt.datetime | None:
    """A time query parameter as aware UTC; 400 for a naive time (its zone would be a guess)."""
    if t is None:
        return None
    try:
        return utc(t)
    except ValueError as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, f"{name}: {exc}") from exc
