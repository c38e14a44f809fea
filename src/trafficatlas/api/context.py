"""ApiContext: what every route needs, built once per app by `create_app`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from trafficatlas.api.cache import ResultCache
from trafficatlas.auth.service import AuthService
from trafficatlas.errors import ConfigError, DatabaseError
from trafficatlas.settings import Settings
from trafficatlas.store.metadata import MetadataStore

if TYPE_CHECKING:
    from trafficatlas.runtime import Runtime
    from trafficatlas.store import Store


@dataclass(slots=True)
class ApiContext:
    runtime: Runtime
    auth: AuthService
    cache: ResultCache
    metadata: MetadataStore  # peers, users, tokens: the SQLite file beside the store

    @property
    def settings(self) -> Settings:
        return self.runtime.settings

    def store(self) -> Store:
        """The open store (DatabaseError, answered as 503, while it is not)."""
        try:
            return self.runtime.require_store()
        except ConfigError:
            raise DatabaseError(
                "the store is not open (the server is starting or stopping)"
            ) from None
