#!/usr/bin/env bash
# Build the web dashboard into src/trafficatlas/web/dist (API types generated from
# frontend/openapi.json first), then run its unit tests and check the size budget.
# Needs Node.js >= 20.19 and npm; installs exactly what package-lock.json says.
set -euo pipefail
cd "$(dirname "$0")/../frontend"

fail() {
  echo "build_frontend: $*" >&2
  exit 1
}

command -v node >/dev/null || fail "node is not installed (Node.js >= 20.19 with npm is needed)"
command -v npm >/dev/null || fail "npm is not installed (it comes with Node.js >= 20.19)"
node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)' ||
  fail "Node.js $(node --version) is too old: Vite needs >= 20.19"

echo "== frontend: npm ci" >&2
npm ci --no-audit --no-fund
# `npm run build` first regenerates src/generated/openapi.ts from the committed openapi.json
# (scripts/export_openapi.py writes it from the app), then type-checks against it.
echo "== frontend: API types from openapi.json, type-check and build" >&2
npm run build
echo "== frontend: unit tests" >&2
npx vitest run
echo "== frontend: size" >&2
node scripts/size.mjs --budget-kb 400
test -f ../src/trafficatlas/web/dist/index.html || fail "the build wrote no index.html"
