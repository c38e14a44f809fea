/**
 * The HTTP API client: a thin typed fetch over the paths of the generated OpenAPI types.
 *
 * `call(method, path, ...)` takes a path as the schema spells it ('/api/metrics/peers/{peer_id}/geo');
 * its query, path parameters, body and answer are typed from src/generated/openapi.ts, so a
 * changed API fails the type-check here and wherever a view uses the result.
 */

import type { ErrorCode, ExportBy, ExportFormat, PeerUpdate } from '@/api/types'
import type { operations, paths } from '@/generated/openapi'

/** Every path the dashboard calls (checked against the schema's paths). */
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
  peer: '/api/metrics/peers/{peer_id}',
  peerGeo: '/api/metrics/peers/{peer_id}/geo',
  timeseries: '/api/metrics/timeseries',
  flows: '/api/flows',
  geoip: '/api/geoip',
  geoipUpdate: '/api/geoip/update',
  lookup: '/api/lookup',
  users: '/api/users',
  tokens: '/api/tokens',
} as const satisfies Record<string, keyof paths>

/** Outside the OpenAPI paths: the live WebSocket and the interactive docs. */
export const LIVE_PATH = '/api/live'
export const DOCS_PATH = '/api/docs'

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
  /** The server's stable reason, when it gave one. */
  readonly code: ErrorCode | null

  constructor(kind: ApiErrorKind, status: number, message: string, retryAfter: number | null = null, code: ErrorCode | null = null) {
    super(message)
    this.name = 'ApiError'
    this.kind = kind
    this.status = status
    this.retryAfter = retryAfter
    this.code = code
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
  const rawCode = isJson ? (body as { code?: unknown }).code : undefined
  const code = typeof rawCode === 'string' ? (rawCode as ErrorCode) : null
  const retry = Number(headers.get('Retry-After'))
  const retryAfter = Number.isFinite(retry) && retry > 0 ? retry : null
  if (status === 401) {
    // the server's code, never its wording, says that the password was right
    if (code === 'totp_required') return new ApiError('totp-required', status, detail, null, code)
    return new ApiError('unauthenticated', status, detail || 'Log in to see this.', null, code)
  }
  if (status === 403) return new ApiError('forbidden', status, detail || 'Not allowed for this account.', null, code)
  if (status === 404) {
    if (!isJson || detail === 'Not Found') {
      return new ApiError('missing', status, 'This server does not offer this part of the API.')
    }
    return new ApiError('not-found', status, detail)
  }
  if (status === 400 || status === 422) return new ApiError('invalid', status, detail || 'The server refused the request.', null, code)
  if (status === 429) return new ApiError('throttled', status, detail || 'Too many attempts.', retryAfter, code)
  if (status === 502 || status === 504 || (status === 503 && !isJson)) {
    return new ApiError('unreachable', status, 'Cannot reach the trafficatlas API.')
  }
  if (status === 503) return new ApiError('unavailable', status, detail || 'The server is not ready yet.', null, code)
  return new ApiError('server', status, detail || `The server answered ${status}.`, null, code)
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

type Method = 'get' | 'post' | 'patch' | 'delete'
/** Paths of the schema that answer ``M``. */
export type PathWith<M extends Method> = { [P in keyof paths]: undefined extends paths[P][M] ? never : P }[keyof paths]
type Operation<P extends keyof paths, M extends Method> = NonNullable<paths[P][M]>
type QueryOf<Op> = Op extends { parameters: { query?: infer Q } } ? NonNullable<Q> : never
type PathParamsOf<Op> = Op extends { parameters: { path: infer X } } ? X : never
type BodyOf<Op> = Op extends { requestBody: { content: { 'application/json': infer B } } } ? B : never
/** The JSON of an operation's 200 answer. */
export type AnswerOf<Op> = Op extends { responses: { 200: { content: { 'application/json': infer R } } } } ? R : unknown

/** What a call needs: path parameters and body when the operation has them, the query if any. */
export type CallOptions<Op> = { signal?: AbortSignal; query?: QueryOf<Op> } & ([PathParamsOf<Op>] extends [never]
  ? unknown
  : { path: PathParamsOf<Op> }) &
  ([BodyOf<Op>] extends [never] ? unknown : { body: BodyOf<Op> })

/** '/api/metrics/peers/{peer_id}' with ``{peer_id: 'a b'}`` → '/api/metrics/peers/a%20b'. */
export function fillPath(path: string, params: Record<string, string | number> = {}): string {
  return path.replace(/\{([^}]+)\}/g, (_, name: string) => {
    const value = params[name]
    if (value === undefined) throw new Error(`no value for {${name}} in ${path}`)
    return encodeURIComponent(String(value))
  })
}

/** One typed call of an operation of the schema. */
export function call<M extends Method, P extends PathWith<M>>(
  method: M,
  path: P,
  options: CallOptions<Operation<P, M>>,
  fetchImpl: typeof fetch = fetch,
): Promise<AnswerOf<Operation<P, M>>> {
  const o = options as { signal?: AbortSignal; query?: Params; path?: Record<string, string>; body?: unknown }
  const verb = method.toUpperCase() as 'GET' | 'POST' | 'PATCH' | 'DELETE'
  return request(verb, fillPath(path, o.path), { params: o.query, body: o.body, signal: o.signal }, fetchImpl)
}

type Query<O extends keyof operations> = QueryOf<operations[O]>
/** The data routes' shared parameters: since, until and the filters (see lib/range.ts). */
export type DataQuery = Omit<Query<'geo_countries'>, 'limit'>

export const api = {
  health: (signal?: AbortSignal) => call('get', PATHS.health, { signal }),
  session: (signal?: AbortSignal) => call('get', PATHS.session, { signal }),
  login: (username: string, password: string, totpCode?: string) =>
    call('post', PATHS.login, { body: { username, password, ...(totpCode ? { totp_code: totpCode } : {}) } }),
  logout: () => call('post', PATHS.logout, {}),

  countries: (q: DataQuery, limit?: number, signal?: AbortSignal) => call('get', PATHS.countries, { query: { ...q, limit }, signal }),
  asn: (q: DataQuery, limit?: number, signal?: AbortSignal) => call('get', PATHS.asn, { query: { ...q, limit }, signal }),
  cities: (q: DataQuery, limit?: number, signal?: AbortSignal) => call('get', PATHS.cities, { query: { ...q, limit }, signal }),
  map: (q: DataQuery, lines = 50, signal?: AbortSignal) => call('get', PATHS.map, { query: { ...q, lines }, signal }),
  peers: (q: DataQuery, signal?: AbortSignal) => call('get', PATHS.peers, { query: q, signal }),
  peerGeo: (id: string, q: DataQuery, signal?: AbortSignal) =>
    call('get', PATHS.peerGeo, { path: { peer_id: id }, query: q, signal }),
  updatePeer: (id: string, body: PeerUpdate) => call('patch', PATHS.peer, { path: { peer_id: id }, body }),
  timeseries: (
    q: DataQuery,
    opts: { by?: Query<'timeseries'>['by']; step?: string; limit?: number } = {},
    signal?: AbortSignal,
  ) => call('get', PATHS.timeseries, { query: { ...q, by: opts.by, step: opts.step, limit: opts.limit }, signal }),
  flows: (q: DataQuery, by?: Query<'flows'>['by'], limit?: number, signal?: AbortSignal) =>
    call('get', PATHS.flows, { query: { ...q, by, limit }, signal }),
  geoip: (signal?: AbortSignal) => call('get', PATHS.geoip, { signal }),
  geoipUpdate: () => call('post', PATHS.geoipUpdate, {}),
  lookup: (ips: string[], signal?: AbortSignal) => call('get', PATHS.lookup, { query: { ip: ips }, signal }),
  users: (signal?: AbortSignal) => call('get', PATHS.users, { signal }),
  tokens: (signal?: AbortSignal) => call('get', PATHS.tokens, { signal }),

  /** Link for an export download (the browser sends the session cookie). */
  exportUrl: (q: DataQuery, by: ExportBy, format: ExportFormat) => buildUrl(PATHS.export, { ...q, by, format }),
  /** The live feed's WebSocket address on this page's origin. */
  liveUrl: (peer?: string, loc: Pick<Location, 'protocol' | 'host'> = window.location) =>
    buildUrl(`${loc.protocol === 'https:' ? 'wss:' : 'ws:'}//${loc.host}${LIVE_PATH}`, { peer }),
  docsUrl: DOCS_PATH,
}
