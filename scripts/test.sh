#!/usr/bin/env bash
# The project's test command (README): installs what it needs, then lint, types and tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
export PATH="$HOME/.local/bin:$PATH"

echo "== ruff" >&2
uv run --frozen ruff check src tests bench scripts
uv run --frozen ruff format --check src tests bench scripts
echo "== mypy" >&2
uv run --frozen mypy
echo "== frontend" >&2
bash scripts/build_frontend.sh
echo "== pytest" >&2
uv run --frozen pytest "$@"
