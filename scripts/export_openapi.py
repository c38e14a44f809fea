"""Write the API's OpenAPI schema to frontend/openapi.json (no server needed).

The dashboard's TypeScript types (frontend/src/generated/openapi.ts) are generated from this file
by the frontend build; a test fails when the committed file differs from the app's schema.

Usage: uv run python scripts/export_openapi.py [--check] [--output PATH]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from trafficatlas.api.schema import FRONTEND_SCHEMA, openapi_schema, render
from trafficatlas.logging import configure_logging

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=ROOT / FRONTEND_SCHEMA)
    parser.add_argument(
        "--check", action="store_true", help="only compare: exit 1 when the file is out of date"
    )
    args = parser.parse_args(argv)
    configure_logging("warning")  # the throw-away app's account bootstrap is not news
    text = render(openapi_schema())
    out: Path = args.output
    if args.check:
        current = out.read_text(encoding="utf-8") if out.is_file() else ""
        if current != text:
            print(f"{out} is out of date: run scripts/export_openapi.py", file=sys.stderr)
            return 1
        print(f"{out} is up to date")
        return 0
    out.write_text(text, encoding="utf-8")
    print(f"wrote {out} ({len(text):,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
