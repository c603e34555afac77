"""Log in and out, who am I, and admin management of users, keys and the audit log."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from pydantic import BaseModel, Field

from sitewatch.api.accounts import MIN_PASSWORD_LENGTH, USER_NAME
from sitewatch.api.deps import AccountsDep
from sitewatch.api.schemas import MAX_OFFSET, WRITE_ERRORS, AuditOut, LoginIn, Me, SessionOut, UserOut
from sitewatch.api.security import SESSION_COOKIE, Admin, Viewer, check_rate

router = APIRouter(tags=["accounts"], responses=WRITE_ERRORS)


@router.post("/login", response_model=SessionOut)
def login(body: LoginIn, request: Request, response: Response, accounts: AccountsDep) -> SessionOut:
    """Exchange a user name and password for a session (cookie and bearer token)."""
    # Limit guesses per client address and per targeted account.
    check_rate(request, f"ip:{request.client.host if request.client else '-'}")
    check_rate(request, f"login:{body.username}")
    request.state.audit_detail = {"username": body.username}
    user = accounts.authenticate(body.username, body.password)
    if user is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "wrong user name or password")
    settings = request.app.state.settings
    issued = accounts.issue(user.name, kind="session", ttl=dt.timedelta(hours=settings.session_hours))
    response.set_cookie(
        SESSION_COOKIE,
        issued.secret,
        max_age=int(settings.session_hours * 3600),
        httponly=True,
        samesite="strict",
        secure=settings.secure_cookies,
        path="/",
    )
    return SessionOut(token=issued.secret, user=user.name, role=user.role, expires=issued.expires)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
def logout(who: Viewer, request: Request, accounts: AccountsDep) -> Response:
    """End the current session (API keys are revoked by an admin instead)."""
    if who.via == "session":
        accounts.revoke(who.token_id)
        request.app.state.credentials.forget(who.token_id)
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/me", response_model=Me)
def me(who: Viewer) -> Me:
    return Me(user=who.user, role=who.role, via=who.via)


class UserIn(BaseModel):
    name: str = Field(min_length=1, max_length=100, pattern=USER_NAME)
    password: str = Field(min_length=MIN_PASSWORD_LENGTH, max_length=1000)
    role: Literal["viewer", "analyst", "admin"] = "viewer"


class KeyOut(BaseModel):
    id: str
    key: str = Field(description="The API key; shown once, only its digest is stored")
    user: str
    role: str


@router.get("/users", response_model=list[UserOut])
def list_users(_: Admin, accounts: AccountsDep) -> list[UserOut]:
    return [UserOut.of(u) for u in accounts.list_users()]


@router.post("/users", response_model=UserOut, status_code=status.HTTP_201_CREATED)
def add_user(body: UserIn, _: Admin, accounts: AccountsDep) -> UserOut:
    return UserOut.of(accounts.add_user(body.name, body.password, body.role))


@router.post("/users/{name}/keys", response_model=KeyOut, status_code=status.HTTP_201_CREATED)
def add_key(name: str, _: Admin, accounts: AccountsDep) -> KeyOut:
    issued = accounts.issue(name, kind="key")
    return KeyOut(id=issued.id, key=issued.secret, user=issued.user, role=issued.role)


@router.get("/audit", response_model=list[AuditOut])
def audit(
    _: Admin,
    accounts: AccountsDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> list[AuditOut]:
    """The most recent writes first."""
    return [AuditOut.of(e) for e in accounts.list_audit(limit=limit, offset=offset)]
