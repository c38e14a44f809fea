"""The page served instead of the dashboard when the frontend has not been built."""

from __future__ import annotations

import html
from pathlib import Path

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>trafficatlas — web UI not built</title>
<style>
  body {{ font: 16px/1.5 system-ui, sans-serif; margin: 0; background: #0f1419; color: #e6e6e6; }}
  main {{ max-width: 44rem; margin: 3rem auto; padding: 0 1.25rem; }}
  h1 {{ font-size: 1.5rem; }}
  code, pre {{ background: #1c2630; border-radius: 4px; }}
  code {{ padding: 0.1em 0.3em; }}
  pre {{ padding: 0.75rem 1rem; overflow-x: auto; }}
  a {{ color: #7cc4ff; }}
</style>
</head>
<body>
<main>
<h1>The trafficatlas web UI is not built</h1>
<p>The server is running and its API answers, but the dashboard's files are missing from
<code>{dist}</code>.</p>
<p>Build them from a source checkout (needs Node.js 20.19 or newer and npm):</p>
<pre><code>scripts/build_frontend.sh</code></pre>
<p>or by hand:</p>
<pre><code>cd frontend
npm ci
npm run build</code></pre>
<p>Then reload this page; no restart is needed. Wheels and source archives built with
<code>uv build</code> include the dashboard.</p>
<p>Meanwhile: <a href="/api/health">/api/health</a>, the API documentation at
<a href="/api/docs">/api/docs</a> (after logging in), and <code>trafficatlas top</code> on the
command line.</p>
</main>
</body>
</html>
"""


def not_built_page(dist: Path) -> str:
    """HTML explaining how to build the dashboard into ``dist``."""
    return _PAGE.format(dist=html.escape(str(dist)))
