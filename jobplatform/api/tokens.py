"""/api/tokens: long-lived API tokens for integrations, for admins."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from jobplatform.api.deps import Principal, admin
from jobplatform.api.users import Role
from jobplatform.auth import api_tokens

router = APIRouter(prefix="/api/tokens", tags=["api tokens"])


class TokenOut(BaseModel):
    id: str
    name: str
    role: Role
    prefix: str
    created_by: str
    created_at: str
    revoked: bool


class CreatedToken(TokenOut):
    token: str = Field(description="the token itself; shown only this once")


class NewToken(BaseModel):
    name: str = Field(min_length=1, max_length=api_tokens.MAX_NAME_LENGTH)
    role: Role


@router.get("", response_model=list[TokenOut])
async def list_tokens(_: Principal = Depends(admin)) -> list[dict]:
    return [t.describe() for t in await run_in_threadpool(api_tokens.list_api_tokens)]


@router.post("", status_code=201, response_model=CreatedToken)
async def create_token(body: NewToken, me: Principal = Depends(admin)) -> dict:
    """Create a token with a role. The response carries the token; it is never shown again
    (only its digest is stored). It stops working when revoked or when its creator is
    disabled."""
    record, token = await run_in_threadpool(
        api_tokens.create_api_token, body.name, body.role, me.username
    )
    return {**record.describe(), "token": token}


@router.delete("/{token_id}", response_model=TokenOut)
async def revoke_token(token_id: str, _: Principal = Depends(admin)) -> dict:
    return (await run_in_threadpool(api_tokens.revoke_api_token, token_id)).describe()
