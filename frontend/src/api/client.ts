/**
 * The HTTP API client: every path the dashboard calls is in PATHS, every call is a typed function.
 *
 * Wiring the UI to a changed API is a change to this file (and types.ts) only.
 */

import type {
  AsnResponse,
  CitiesResponse,
  CountriesResponse,
  ExportBy,
  ExportFormat,
  FlowsResponse,
  GeoIPResponse,
  GeoIPUpdateResponse,
  Health,
  LookupResponse,
  MapResponse,
  PeerGeoResponse,
  PeersResponse,
  PeerUpdate,
  SessionInfo,
  TimeseriesResponse,
  TokenInfo,
  UserInfo,
} from '@/api/types'

export const PATHS = {
  health: '/api/health',
  login: '/api/auth/login',
  logout: '/api/auth/logout',
  session: '/api/auth/session',
  countries: '/api/metrics/geo/countries',
  asn: '/api/metrics/geo/asn',
  cities: '/api/metrics/geo/cities',
  map: '/api/metrics/geo/map',
  export: '/api/metrics/geo/export',
  peers: '/api/metrics/peers',
  peer: (id: string) => `/api/metrics/peers/${encodeURIComponent(id)}`,
  peerGeo: (id: string) => `/api/metrics/peers/${encodeURIComponent(id)}/geo`,
  timeseries: '/api/metrics/timeseries',
  flows: '/api/flows',
  geoip: '/api/geoip',
  geoipUpdate: '/api/geoip/update',
  lookup: '/api/lookup',
  users: '/api/users',
  tokens: '/api/tokens',
  live: '/api/live',
  docs: '/api/docs',
} as const

/** Header that carries the session's CSRF token on writes (double submit). */
export const CSRF_HEADER = 'X-CSRF-Token'

export type ApiErrorKind =
  | 'unreachable' // no answer: server down, network, proxy without upstream
  | 'missing' // the server has no such route (an older or partial server)
  | 'unauthenticated' // log in first (or the session expired)
  | 'totp-required' // password right, the user must send a TOTP code
  | 'forbidden' // logged in, but not allowed
  | 'not-found' // the route exists, the thing does not (a peer id...)
  | 'invalid' // parameters the server refused (400/422)
  | 'throttled' // too many attempts (429)
  | 'unavailable' // the server is up but the store or databases are not (503)
  | 'server' // anything else: a bug on the server

export class ApiError extends Error {
  readonly kind: ApiErrorKind
  readonly status: number
  readonly retryAfter: number | null

  constructor(kind: ApiErrorKind, status: number, message: string, retryAfter: number | null = null) {
    super(message)
    this.name = 'ApiError'
    this.kind = kind
    this.status = status
    this.retryAfter = retryAfter
  }
}

export type ParamValue = string | number | boolean | null | undefined | readonly (string | number)[]
export type Params = Record<string, ParamValue>

/** A query string with repeated keys for lists; null, undefined and empty lists left out. */
export function buildUrl(path: string, params: Params = {}): string {
  const search = new URLSearchParams()
  for (const [key, value] of Object.entries(params)) {
    if (value === null || value === undefined) continue
    if (Array.isArray(value)) {
      for (const v of value as readonly (string | number)[]) search.append(key, String(v))
    } else {
      search.append(key, String(value))
    }
  }
  const qs = search.toString()
  return qs ? `${path}?${qs}` : path
}

function detailText(detail: unknown): string {
  if (typeof detail === 'string') return detail
  if (Array.isArray(detail)) {
    // FastAPI validation errors: [{loc: [...], msg: "..."}]
    return detail
      .map((d: { loc?: unknown[]; msg?: string }) => {
        const where = Array.isArray(d.loc) ? d.loc.filter((p) => p !== 'query' && p !== 'body').join('.') : ''
        return where ? `${where}: ${d.msg ?? ''}` : (d.msg ?? '')
      })
      .join('; ')
  }
  return ''
}

/** Turn a non-2xx answer into an ApiError whose kind says what the page should show. */
export function errorFromResponse(status: number, body: unknown, headers: Headers): ApiError {
  const isJson = typeof body === 'object' && body !== null
  const detail = isJson ? detailText((body as { detail?: unknown }).detail) : ''
  const retry = Number(headers.get('Retry-After'))
  const retryAfter = Number.isFinite(retry) && retry > 0 ? retry : null
  if (status === 401) {
    if (/TOTP code is required/i.test(detail)) return new ApiError('totp-required', status, detail)
    return new ApiError('unauthenticated', status, detail || 'Log in to see this.')
  }
  if (status === 403) return new ApiError('forbidden', status, detail || 'Not allowed for this account.')
  if (status === 404) {
    if (!isJson || detail === 'Not Found') {
      return new ApiError('missing', status, 'This server does not offer this part of the API.')
    }
    return new ApiError('not-found', status, detail)
  }
  if (status === 400 || status === 422) return new ApiError('invalid', status, detail || 'The server refused the request.')
  if (status === 429) return new ApiError('throttled', status, detail || 'Too many attempts.', retryAfter)
  if (status === 502 || status === 504 || (status === 503 && !isJson)) {
    return new ApiError('unreachable', status, 'Cannot reach the trafficatlas API.')
  }
  if (status === 503) return new ApiError('unavailable', status, detail || 'The server is not ready yet.')
  return new ApiError('server', status, detail || `The server answered ${status}.`)
}

let csrfToken = ''

/** Remember the session's CSRF token (from the login or session answer) for later writes. */
export function setCsrfToken(token: string): void {
  csrfToken = token
}

export interface RequestOptions {
  params?: Params
  body?: unknown
  signal?: AbortSignal
}

/** One API call: JSON in and out, errors as ApiError. ``fetchImpl`` is for tests. */
export async function request<T>(
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE',
  path: string,
  options: RequestOptions = {},
  fetchImpl: typeof fetch = fetch,
): Promise<T> {
  const headers: Record<string, string> = { Accept: 'application/json' }
  if (options.body !== undefined) headers['Content-Type'] = 'application/json'
  if (method !== 'GET' && csrfToken) headers[CSRF_HEADER] = csrfToken
  let response: Response
  try {
    response = await fetchImpl(buildUrl(path, options.params), {
      method,
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      credentials: 'same-origin',
      signal: options.signal,
    })
  } catch (err) {
    if (err instanceof DOMException && err.name === 'AbortError') throw err
    throw new ApiError('unreachable', 0, 'Cannot reach the trafficatlas API.')
  }
  const type = response.headers.get('Content-Type') ?? ''
  let body: unknown = null
  try {
    body = type.includes('json') ? await response.json() : await response.text()
  } catch {
    body = null
  }
  if (!response.ok) throw errorFromResponse(response.status, body, response.headers)
  if (!type.includes('json')) {
    throw new ApiError('server', response.status, `Expected JSON from ${path}, got ${type || 'nothing'}.`)
  }
  return body as T
}

const get = <T>(path: string, params?: Params, signal?: AbortSignal) => request<T>('GET', path, { params, signal })

/** The data routes' shared parameters: since, until and the filters (see lib/range.ts). */
export type DataQuery = Params

export const api = {
  health: (signal?: AbortSignal) => get<Health>(PATHS.health, undefined, signal),
  session: (signal?: AbortSignal) => get<SessionInfo>(PATHS.session, undefined, signal),
  login: (username: string, password: string, totpCode?: string) =>
    request<SessionInfo>('POST', PATHS.login, {
      body: { username, password, ...(totpCode ? { totp_code: totpCode } : {}) },
    }),
  logout: () => request<{ ok: boolean }>('POST', PATHS.logout),

  countries: (q: DataQuery, limit?: number, signal?: AbortSignal) =>
    get<CountriesResponse>(PATHS.countries, { ...q, limit }, signal),
  asn: (q: DataQuery, limit?: number, signal?: AbortSignal) => get<AsnResponse>(PATHS.asn, { ...q, limit }, signal),
  cities: (q: DataQuery, limit?: number, signal?: AbortSignal) =>
    get<CitiesResponse>(PATHS.cities, { ...q, limit }, signal),
  map: (q: DataQuery, lines = 50, signal?: AbortSignal) => get<MapResponse>(PATHS.map, { ...q, lines }, signal),
  peers: (q: DataQuery, signal?: AbortSignal) => get<PeersResponse>(PATHS.peers, q, signal),
  peerGeo: (id: string, q: DataQuery, signal?: AbortSignal) => get<PeerGeoResponse>(PATHS.peerGeo(id), q, signal),
  updatePeer: (id: string, body: PeerUpdate) => request<unknown>('PATCH', PATHS.peer(id), { body }),
  timeseries: (
    q: DataQuery,
    opts: { by?: readonly string[]; step?: string; limit?: number } = {},
    signal?: AbortSignal,
  ) => get<TimeseriesResponse>(PATHS.timeseries, { ...q, by: opts.by, step: opts.step, limit: opts.limit }, signal),
  flows: (q: DataQuery, by?: readonly string[], limit?: number, signal?: AbortSignal) =>
    get<FlowsResponse>(PATHS.flows, { ...q, by, limit }, signal),
  geoip: (signal?: AbortSignal) => get<GeoIPResponse>(PATHS.geoip, undefined, signal),
  geoipUpdate: () => request<GeoIPUpdateResponse>('POST', PATHS.geoipUpdate),
  lookup: (ips: readonly string[], signal?: AbortSignal) => get<LookupResponse>(PATHS.lookup, { ip: ips }, signal),
  users: (signal?: AbortSignal) => get<UserInfo[]>(PATHS.users, undefined, signal),
  tokens: (signal?: AbortSignal) => get<TokenInfo[]>(PATHS.tokens, undefined, signal),

  /** Link for an export download (the browser sends the session cookie). */
  exportUrl: (q: DataQuery, by: ExportBy, format: ExportFormat) => buildUrl(PATHS.export, { ...q, by, format }),
  /** The live feed's WebSocket address on this page's origin. */
  liveUrl: (peer?: string, loc: Pick<Location, 'protocol' | 'host'> = window.location) =>
    buildUrl(`${loc.protocol === 'https:' ? 'wss:' : 'ws:'}//${loc.host}${PATHS.live}`, { peer }),
  docsUrl: PATHS.docs,
}
