"""The audit log (admin only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from trafficatlas.api.deps import Admin, Ctx
from trafficatlas.api.errors import error_doc
from trafficatlas.api.models.admin import AuditItem, AuditResponse
from trafficatlas.api.params import TimeRange, time_range

router = APIRouter(prefix="/api/audit", tags=["audit"], responses=error_doc(400, 401, 403))


@router.get("", operation_id="audit_log", response_model=AuditResponse)
def audit_log(
    ctx: Ctx,
    principal: Admin,
    rng: Annotated[TimeRange, Depends(time_range)],
    limit: Annotated[int, Query(ge=1, le=10_000, description="Entries, newest first.")] = 100,
    action: Annotated[
        str | None, Query(max_length=64, description="Only this action (e.g. login).")
    ] = None,
) -> AuditResponse:
    """Logins, logouts and admin actions: who, when, from where, and whether it worked."""
    entries = ctx.auth.audit.entries(limit, rng.since, action)
    return AuditResponse(
        entries=[
            AuditItem(
                id=e.id,
                ts=e.ts,
                actor=e.actor,
                action=e.action,
                target=e.target,
                client=e.client,
                success=e.success,
                detail=e.detail,
            )
            for e in entries
            if e.ts < rng.until
        ]
    )
