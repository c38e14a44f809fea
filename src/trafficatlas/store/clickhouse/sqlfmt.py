"""Client-side binding of ``%(name)s`` parameters into ClickHouse SQL text, with escaping.

ClickHouse's native protocol (before server-side parameters, which 18.16 lacks) and chDB both take
finished SQL text, so bound values are formatted here, the same way for both engines. Only the
``%(name)s`` tokens are replaced: other ``%`` characters in the text are left alone.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

import numpy as np

_TOKEN = re.compile(r"%\(([A-Za-z_][A-Za-z0-9_]*)\)s")
# Backslash escapes ClickHouse understands in quoted strings.
_ESCAPES = str.maketrans(
    {"\\": "\\\\", "'": "\\'", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\0": "\\0", "\b": "\\b"}
)


def quote(value: Any) -> str:
    """A value as a ClickHouse literal (TypeError for types with no literal here)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool | np.bool_):
        return "1" if value else "0"
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        f = float(value)
        if not math.isfinite(f):
            raise ValueError(f"cannot bind the non-finite float {f!r}")
        return repr(f)
    if isinstance(value, str):
        return "'" + value.translate(_ESCAPES) + "'"
    if isinstance(value, list | tuple):
        inner = ", ".join(quote(v) for v in value)
        return f"[{inner}]" if isinstance(value, list) else f"tuple({inner})"
    raise TypeError(f"cannot bind a {type(value).__name__} into ClickHouse SQL")


def format_query(sql: str, params: Mapping[str, Any] | None) -> str:
    """``sql`` with every ``%(name)s`` replaced by the quoted value (KeyError when missing)."""
    if not params:
        return sql
    return _TOKEN.sub(lambda m: quote(params[m.group(1)]), sql)
