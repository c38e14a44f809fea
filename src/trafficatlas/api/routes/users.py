"""User accounts (admin only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Request

from trafficatlas.api.deps import Admin, Ctx, client_of
from trafficatlas.api.errors import error_doc
from trafficatlas.api.models.admin import UserCreate, UserInfo, UserUpdate
from trafficatlas.auth.models import Role, User

router = APIRouter(prefix="/api/users", tags=["users"], responses=error_doc(400, 401, 403))

Username = Annotated[str, Path(min_length=1, max_length=64, description="User name.")]


def user_info(u: User) -> UserInfo:
    return UserInfo(
        username=u.username,
        role=u.role.value,
        peer_id=u.peer_id,
        disabled=u.disabled,
        totp_enabled=u.totp_enabled,
        created_at=u.created_at,
        updated_at=u.updated_at,
    )


@router.get("", operation_id="users_list", response_model=list[UserInfo])
def list_users(ctx: Ctx, principal: Admin) -> list[UserInfo]:
    """Every user."""
    return [user_info(u) for u in ctx.auth.store.users()]


@router.post("", operation_id="users_add", response_model=UserInfo, status_code=201)
def add_user(ctx: Ctx, principal: Admin, body: UserCreate, request: Request) -> UserInfo:
    """Create a user (the password must meet the policy)."""
    user = ctx.auth.add_user(
        principal.name,
        body.username,
        body.password,
        Role(body.role),
        body.peer_id,
        client_of(request),
    )
    return user_info(user)


@router.patch(
    "/{username}",
    operation_id="users_update",
    response_model=UserInfo,
    responses=error_doc(404, 409),
)
def update_user(
    ctx: Ctx, principal: Admin, username: Username, body: UserUpdate, request: Request
) -> UserInfo:
    """Change a user's role, disable or enable it, or reset its password."""
    user = ctx.auth.store.user(username)
    if user is None:
        raise HTTPException(404, f"no user {username!r}")
    role = Role(body.role) if body.role else None
    losing_admin = user.role == Role.ADMIN and (
        (role is not None and role != Role.ADMIN) or body.disabled
    )
    if losing_admin and not any(
        u.role == Role.ADMIN and not u.disabled and u.id != user.id for u in ctx.auth.store.users()
    ):
        raise HTTPException(409, "this is the last enabled admin: keep at least one")
    client = client_of(request)
    if body.password is not None:
        ctx.auth.set_password(principal.name, user, body.password, client)
    if role is not None or body.peer_id is not None or body.disabled is not None:
        user = ctx.auth.update_user(
            principal.name,
            user,
            role=role,
            peer_id=body.peer_id,
            disabled=body.disabled,
            client=client,
        )
    return user_info(user)
