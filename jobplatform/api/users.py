"""/api/users: user accounts, for admins."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from jobplatform.api.deps import Principal, admin
from jobplatform.auth import accounts, users
from jobplatform.auth.roles import ROLES
from jobplatform.auth.users import USERNAME_PATTERN

router = APIRouter(prefix="/api/users", tags=["users"])
Role = Literal[ROLES]


class UserOut(BaseModel):
    username: str
    role: Role
    disabled: bool
    created_at: str


class NewUser(BaseModel):
    username: str = Field(pattern=USERNAME_PATTERN)
    password: str = Field(min_length=users.MIN_PASSWORD_LENGTH, max_length=1024)
    role: Role


class UserChange(BaseModel):
    role: Role | None = None
    disabled: bool | None = None
    password: str | None = Field(None, min_length=users.MIN_PASSWORD_LENGTH, max_length=1024)


@router.get("", response_model=list[UserOut])
async def list_users(_: Principal = Depends(admin)) -> list[dict]:
    return [u.describe() for u in await run_in_threadpool(users.list_users)]


@router.post("", status_code=201, response_model=UserOut)
async def create_user(body: NewUser, _: Principal = Depends(admin)) -> dict:
    user = await run_in_threadpool(users.create_user, body.username, body.password, body.role)
    return user.describe()


@router.get("/{username}", response_model=UserOut)
async def get_user(username: str, _: Principal = Depends(admin)) -> dict:
    return (await run_in_threadpool(users.get_user, username)).describe()


@router.patch("/{username}", response_model=UserOut)
async def change_user(username: str, body: UserChange, me: Principal = Depends(admin)) -> dict:
    """Change a role, disable or enable, or set a new password. Disabling or a new
    password ends the user's login sessions at once."""

    def change():
        return accounts.change_user(
            username,
            role=body.role,
            disabled=body.disabled,
            password=body.password,
            by=me.username,
        )

    return (await run_in_threadpool(change)).describe()
