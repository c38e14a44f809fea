"""API tokens (admin only): created with a scope, shown once, revocable."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Request

from trafficatlas.api.deps import Admin, Ctx, client_of
from trafficatlas.api.errors import error_doc
from trafficatlas.api.models.admin import Done, TokenCreate, TokenCreated, TokenInfo
from trafficatlas.auth.models import ApiToken, Scope

router = APIRouter(prefix="/api/tokens", tags=["tokens"], responses=error_doc(400, 401, 403))


def token_info(t: ApiToken) -> TokenInfo:
    return TokenInfo(
        id=t.id,
        name=t.name,
        scope=t.scope.value,
        peer_id=t.peer_id,
        created_by=t.created_by,
        created_at=t.created_at,
        expires_at=t.expires_at,
        last_used_at=t.last_used_at,
        revoked_at=t.revoked_at,
    )


@router.get("", operation_id="tokens_list", response_model=list[TokenInfo])
def list_tokens(ctx: Ctx, principal: Admin) -> list[TokenInfo]:
    """Every token (ids and metadata only: tokens are stored as hashes)."""
    return [token_info(t) for t in ctx.auth.store.tokens()]


@router.post("", operation_id="tokens_create", response_model=TokenCreated, status_code=201)
def create_token(ctx: Ctx, principal: Admin, body: TokenCreate, request: Request) -> TokenCreated:
    """Create a token; the response holds it this once."""
    token, rec = ctx.auth.create_token(
        principal.name,
        body.name,
        Scope(body.scope),
        body.peer_id,
        body.expires_in_s,
        client_of(request),
    )
    return TokenCreated(token=token, info=token_info(rec))


@router.delete(
    "/{token_id}", operation_id="tokens_revoke", response_model=Done, responses=error_doc(404)
)
def revoke_token(
    ctx: Ctx,
    principal: Admin,
    token_id: Annotated[str, Path(min_length=1, max_length=64, description="Token id.")],
    request: Request,
) -> Done:
    """Revoke a token: it stops working on the next request."""
    if not ctx.auth.revoke_token(principal.name, token_id, client_of(request)):
        raise HTTPException(404, f"no active token {token_id!r}")
    return Done(ok=True)
