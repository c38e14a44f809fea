"""rwstats-style tables for the terminal (shared by `analyze`, `top` and the demo)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

UNITS = ("B", "KB", "MB", "GB", "TB", "PB", "EB")


def human_bytes(n: float) -> str:
    """1234567 → '1.2 MB' (decimal units, as network tools count)."""
    value = float(n)
    for unit in UNITS:
        if abs(value) < 1000 or unit == UNITS[-1]:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} EB"  # pragma: no cover


def key_text(key: Mapping[str, Any]) -> list[str]:
    """Display cells for a row key (None → '-')."""
    return ["-" if v is None or v == "" else str(v) for v in key.values()]


def rwstats_table(
    title: str,
    key_names: Sequence[str],
    rows: Sequence[Mapping[str, Any]],
    totals: Mapping[str, int],
    exact: bool = False,
) -> Table:
    """A table of key columns, bytes, packets, flows, %bytes and cumulative %."""
    table = Table(title=title, title_justify="left")
    for name in key_names:
        table.add_column(name)
    for name in ("bytes", "packets", "flows", "%bytes", "cumul%"):
        table.add_column(name, justify="right")
    for row in rows:
        table.add_row(
            *key_text(row["key"]),
            f"{row['bytes']:,}" if exact else human_bytes(row["bytes"]),
            f"{row['packets']:,}",
            f"{row['flows']:,}",
            f"{row['percent']:.2f}",
            f"{row['cumulative_percent']:.2f}",
        )
    table.caption = (
        f"total {human_bytes(totals.get('bytes', 0))} ({totals.get('bytes', 0):,} B), "
        f"{totals.get('packets', 0):,} packets, {totals.get('flows', 0):,} flows"
    )
    return table


def print_table(table: Table) -> None:
    Console().print(table)
