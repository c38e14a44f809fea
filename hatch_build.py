"""Hatchling build hook: build the web dashboard into the package when it is missing.

Wheels and sdists ship ``src/trafficatlas/web/dist`` (gitignored, so it is declared as an
artifact here). When it is missing, ``npm ci && npm run build`` runs in ``frontend/``; without
npm the package is built without the dashboard and the server shows how to build it. Editable
installs (``uv sync``) never run npm: a checkout builds it with ``scripts/build_frontend.sh``.
Set TRAFFICATLAS_SKIP_FRONTEND=1 to build without the dashboard on purpose.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

DIST = "src/trafficatlas/web/dist"


class FrontendBuildHook(BuildHookInterface):
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        root = Path(self.root)
        dist = root / DIST
        if self.target_name == "wheel" and version == "editable":
            return
        if not (dist / "index.html").is_file():
            self._build(root / "frontend", dist)
        if (dist / "index.html").is_file():
            build_data["artifacts"].append(f"/{DIST}/**")

    def _build(self, frontend: Path, dist: Path) -> None:
        if os.environ.get("TRAFFICATLAS_SKIP_FRONTEND"):
            self._say("TRAFFICATLAS_SKIP_FRONTEND is set: building without the web dashboard.")
            return
        if not (frontend / "package.json").is_file():
            self._say(f"no frontend sources in {frontend}: building without the web dashboard.")
            return
        npm = shutil.which("npm")
        if npm is None:
            self._say(
                "npm was not found: building WITHOUT the web dashboard (the server will show "
                "how to build it). Install Node.js 20.19+ with npm and build again to include it."
            )
            return
        for args in (["ci"], ["run", "build"]):
            self._say(f"running npm {' '.join(args)} in {frontend}")
            done = subprocess.run([npm, *args], cwd=frontend, check=False)
            if done.returncode != 0:
                raise RuntimeError(
                    f"`npm {' '.join(args)}` failed in {frontend} (exit {done.returncode}); "
                    "fix the frontend build, or set TRAFFICATLAS_SKIP_FRONTEND=1 to build "
                    "without the dashboard"
                )
        if not (dist / "index.html").is_file():
            raise RuntimeError(f"the frontend build finished but {dist}/index.html is missing")

    def _say(self, message: str) -> None:
        print(f"trafficatlas build hook: {message}", file=sys.stderr, flush=True)
