"""The audit log: logins, logouts and every admin action, with who, from where and result."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from trafficatlas.logging import get_logger
from trafficatlas.store.metadata import MetadataStore

log = get_logger("audit")


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    ts: float
    actor: str
    action: str
    target: str
    client: str
    success: bool
    detail: dict[str, Any]


class AuditLog:
    """Append-only records in the metadata store (also mirrored to the process log)."""

    def __init__(self, metadata: MetadataStore) -> None:
        self.db = metadata

    def record(
        self,
        actor: str,
        action: str,
        *,
        target: str = "",
        client: str = "",
        success: bool = True,
        **detail: Any,
    ) -> None:
        """Append one entry; ``detail`` must be JSON-serializable and hold no secrets."""
        self.db.execute(
            "INSERT INTO audit_log (ts, actor, action, target, client, success, detail)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            [time.time(), actor, action, target, client, int(success), json.dumps(detail)],
        )
        log.info("audit", actor=actor, action=action, target=target, success=success)

    def entries(
        self, limit: int = 100, since: float | None = None, action: str | None = None
    ) -> list[AuditEntry]:
        """Newest first."""
        where: list[str] = []
        params: list[Any] = []
        if since is not None:
            where.append("ts >= ?")
            params.append(since)
        if action:
            where.append("action = ?")
            params.append(action)
        sql = "SELECT id, ts, actor, action, target, client, success, detail FROM audit_log"
        if where:
            sql += " WHERE " + " AND ".join(where)
        rows = self.db.execute(sql + " ORDER BY id DESC LIMIT ?", [*params, limit])
        return [
            AuditEntry(int(r[0]), float(r[1]), r[2], r[3], r[4], r[5], bool(r[6]), json.loads(r[7]))
            for r in rows
        ]
