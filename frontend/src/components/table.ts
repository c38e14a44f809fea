/** Column definitions and sorting/searching for DataTable (pure, tested). */

import type { RouteLocationRaw } from 'vue-router'

export interface Column<T> {
  key: string
  label: string
  /** Right-aligned, sorted as a number. */
  numeric?: boolean
  /** Sort key. */
  value: (row: T) => number | string
  /** Shown text (default: the value). */
  display?: (row: T) => string
  /** Hover text: the exact value. */
  title?: (row: T) => string
  /** A small trend drawn after the text. */
  trend?: (row: T) => number[] | undefined
  /** Make the cell a link... */
  link?: (row: T) => RouteLocationRaw | null
  /** ...or a button (e.g. "filter by this country"). */
  action?: (row: T) => void
  actionLabel?: (row: T) => string
  /** Left out at phone width (a detail the row is still readable without). */
  hideOnPhone?: boolean
  /** Long text (names): may wrap onto more lines instead of widening the table. */
  wrap?: boolean
}

export interface SortState {
  key: string
  desc: boolean
}

/** Rows whose search text contains every word of ``query`` (case-insensitive). */
export function searchRows<T>(rows: readonly T[], query: string, text: (row: T) => string): T[] {
  const words = query.toLowerCase().split(/\s+/).filter(Boolean)
  if (!words.length) return [...rows]
  return rows.filter((r) => {
    const t = text(r).toLowerCase()
    return words.every((w) => t.includes(w))
  })
}

/** Rows sorted by one column (stable; numbers numerically, text by locale). */
export function sortRows<T>(rows: readonly T[], columns: readonly Column<T>[], sort: SortState): T[] {
  const col = columns.find((c) => c.key === sort.key)
  if (!col) return [...rows]
  const dir = sort.desc ? -1 : 1
  return rows
    .map((row, i) => ({ row, i, v: col.value(row) }))
    .sort((a, b) => {
      const c =
        typeof a.v === 'number' && typeof b.v === 'number' ? a.v - b.v : String(a.v).localeCompare(String(b.v))
      return c !== 0 ? c * dir : a.i - b.i
    })
    .map((x) => x.row)
}
