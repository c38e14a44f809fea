/** The global time range and filters: parsed from and written to the URL, turned into API parameters. */

import type { DataQuery } from '@/api/client'

export const RANGE_KEYS = ['live', '1h', '24h', '7d', '30d', 'custom'] as const
export type RangeKey = (typeof RANGE_KEYS)[number]
export const DEFAULT_RANGE: RangeKey = '24h'

/** How far back stored data is read while the range is "live" (the map adds the WebSocket feed). */
export const LIVE_SINCE = '15m'
/** Seconds between refreshes of stored data while the range is "live". */
export const LIVE_REFRESH_S = 15

export const RANGE_LABELS: Readonly<Record<RangeKey, string>> = {
  live: 'Live',
  '1h': '1 hour',
  '24h': '24 hours',
  '7d': '7 days',
  '30d': '30 days',
  custom: 'Custom',
}

export const FILTER_KEYS = ['peer', 'direction', 'interface', 'source', 'country', 'asn'] as const
export type FilterKey = (typeof FILTER_KEYS)[number]
export type Filters = Record<FilterKey, string[]>

export const DIRECTIONS = ['outbound', 'inbound', 'internal'] as const

export interface ViewState {
  range: RangeKey
  /** Custom range bounds as `datetime-local` values (local time, "2026-11-01T10:00"). */
  from: string
  to: string
  filters: Filters
}

export type QueryValue = string | null | (string | null)[] | undefined
export type RouteQuery = Record<string, QueryValue>

export function emptyFilters(): Filters {
  return { peer: [], direction: [], interface: [], source: [], country: [], asn: [] }
}

function values(v: QueryValue): string[] {
  const list = Array.isArray(v) ? v : v === undefined || v === null ? [] : [v]
  return [...new Set(list.filter((x): x is string => typeof x === 'string' && x.trim() !== '').map((x) => x.trim()))]
}

const LOCAL_DATETIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?$/

function validFilter(key: FilterKey, v: string): boolean {
  switch (key) {
    case 'country':
      return /^[A-Za-z]{2}$/.test(v)
    case 'asn':
      return /^\d{1,10}$/.test(v) && Number(v) < 2 ** 32
    case 'direction':
      return (DIRECTIONS as readonly string[]).includes(v)
    default:
      return v.length <= 200
  }
}

/** The view state a URL query describes; anything unreadable falls back to the defaults. */
export function parseQuery(query: RouteQuery): ViewState {
  const range = values(query.range)[0]
  const from = values(query.from)[0] ?? ''
  const to = values(query.to)[0] ?? ''
  const filters = emptyFilters()
  for (const key of FILTER_KEYS) {
    filters[key] = values(query[key]).filter((v) => validFilter(key, v))
    if (key === 'country') filters[key] = filters[key].map((v) => v.toUpperCase())
  }
  let key: RangeKey = (RANGE_KEYS as readonly string[]).includes(range ?? '') ? (range as RangeKey) : DEFAULT_RANGE
  const customOk = LOCAL_DATETIME.test(from) && (to === '' || LOCAL_DATETIME.test(to))
  if (key === 'custom' && !customOk) key = DEFAULT_RANGE
  return { range: key, from: key === 'custom' ? from : '', to: key === 'custom' ? to : '', filters }
}

/** The URL query for a view state (defaults left out, so plain links stay plain). */
export function toQuery(state: ViewState): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {}
  if (state.range !== DEFAULT_RANGE) out.range = state.range
  if (state.range === 'custom') {
    out.from = state.from
    if (state.to) out.to = state.to
  }
  for (const key of FILTER_KEYS) {
    const v = state.filters[key]
    if (v.length === 1) out[key] = v[0] as string
    else if (v.length > 1) out[key] = [...v]
  }
  return out
}

function epoch(local: string): number {
  return Math.floor(new Date(local).getTime() / 1000)
}

type Direction = NonNullable<DataQuery['direction']>[number]

/** since/until and filters as the API takes them (typed by the OpenAPI schema). */
export function apiQuery(state: ViewState): DataQuery {
  const q: DataQuery = {}
  if (state.range === 'live') q.since = LIVE_SINCE
  else if (state.range === 'custom') {
    q.since = String(epoch(state.from))
    if (state.to) q.until = String(epoch(state.to))
  } else q.since = state.range
  const f = state.filters
  if (f.peer.length) q.peer = f.peer
  // parseQuery let only valid directions and numeric ASNs through
  if (f.direction.length) q.direction = f.direction as Direction[]
  if (f.interface.length) q.interface = f.interface
  if (f.source.length) q.source = f.source
  if (f.country.length) q.country = f.country
  if (f.asn.length) q.asn = f.asn.map(Number)
  return q
}

/** "24 hours", "2026-11-01 10:00 → now". */
export function rangeLabel(state: ViewState): string {
  if (state.range !== 'custom') return RANGE_LABELS[state.range]
  return `${state.from.replace('T', ' ')} → ${state.to ? state.to.replace('T', ' ') : 'now'}`
}

/** Whether any filter is set. */
export function hasFilters(filters: Filters): boolean {
  return FILTER_KEYS.some((k) => filters[k].length > 0)
}
