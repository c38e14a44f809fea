"""The web dashboard: the built frontend (``dist/``) served by the API app with SPA fallback."""

from trafficatlas.web.mount import DEFAULT_DIST, RESERVED_PREFIXES, WebFiles, is_built, mount_web

__all__ = ["DEFAULT_DIST", "RESERVED_PREFIXES", "WebFiles", "is_built", "mount_web"]
