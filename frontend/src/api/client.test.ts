// @vitest-environment node
// A real HTTP server on loopback answers like the API does (and like a missing or dead one).
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'

import { afterAll, beforeAll, describe, expect, it } from 'vitest'

import { api, ApiError, buildUrl, call, CSRF_HEADER, errorFromResponse, fillPath, PATHS, request, setCsrfToken } from '@/api/client'

let server: Server
let base = ''
const seen: { method: string; url: string; headers: Record<string, unknown>; body: string }[] = []

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = ''
    req.on('data', (c: Buffer) => (body += c.toString()))
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body })
      const json = (status: number, value: unknown, headers: Record<string, string> = {}) => {
        res.writeHead(status, { 'Content-Type': 'application/json', ...headers })
        res.end(JSON.stringify(value))
      }
      const url = new URL(req.url ?? '/', 'http://x')
      switch (url.pathname) {
        case PATHS.countries:
          return json(200, { rows: [], totals: { total_bytes: 0 }, echo: url.search })
        case PATHS.session:
          return json(401, { detail: 'authentication required' }, { 'WWW-Authenticate': 'Bearer' })
        case PATHS.login: {
          const b = JSON.parse(body) as { password: string; totp_code?: string }
          if (b.password !== 'right') return json(401, { detail: 'wrong user name or password', code: 'unauthenticated' })
          if (!b.totp_code) return json(401, { detail: 'enter the code from your app', code: 'totp_required' })
          return json(200, { username: 'admin', role: 'admin', csrf_token: 'csrf-1' })
        }
        case PATHS.asn:
          return json(429, { detail: 'too many attempts' }, { 'Retry-After': '7' })
        case PATHS.timeseries:
          return json(422, { detail: [{ loc: ['query', 'step'], msg: 'not a duration' }] })
        case fillPath(PATHS.peerGeo, { peer_id: 'nobody' }):
          return json(404, { detail: "no peer 'nobody'" })
        case fillPath(PATHS.peerGeo, { peer_id: 'a/b c' }):
          return json(200, { peer: { id: 'a/b c' }, echo: url.search })
        case PATHS.geoip:
          return json(503, { detail: 'the GeoIP engine is not loaded yet' })
        case '/html':
          res.writeHead(200, { 'Content-Type': 'text/html' })
          return res.end('<html></html>')
        default:
          return json(404, { detail: 'Not Found' })
      }
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
})

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve))
})

const viaServer: typeof fetch = (input, init) => fetch(`${base}${String(input)}`, init)

async function failure(p: Promise<unknown>): Promise<ApiError> {
  try {
    await p
  } catch (err) {
    if (err instanceof ApiError) return err
    throw err
  }
  throw new Error('expected an ApiError')
}

describe('buildUrl', () => {
  it('repeats keys for lists and leaves out empty values', () => {
    expect(buildUrl('/api/x', { since: '24h', country: ['CH', 'DE'], asn: [], peer: undefined, limit: null, lines: 0 })).toBe(
      '/api/x?since=24h&country=CH&country=DE&lines=0',
    )
    expect(buildUrl('/api/x')).toBe('/api/x')
    expect(buildUrl('/api/x', { q: 'a b&c' })).toBe('/api/x?q=a+b%26c')
  })

  it('builds export and live addresses', () => {
    expect(api.exportUrl({ since: '7d' }, 'asn', 'csv')).toBe('/api/metrics/geo/export?since=7d&by=asn&format=csv')
    expect(api.liveUrl('wg 1', { protocol: 'https:', host: 'vpn.example:8443' })).toBe('wss://vpn.example:8443/api/live?peer=wg+1')
    expect(api.liveUrl(undefined, { protocol: 'http:', host: '127.0.0.1:8650' })).toBe('ws://127.0.0.1:8650/api/live')
  })
})

describe('request against a server', () => {
  it('returns the JSON body and sends the query', async () => {
    const r = await request<{ echo: string }>('GET', PATHS.countries, { params: { since: '1h', country: ['CH'] } }, viaServer)
    expect(r.echo).toBe('?since=1h&country=CH')
  })

  it('tells a route the server lacks from a thing that does not exist', async () => {
    expect((await failure(request('GET', '/api/metrics/nothing', {}, viaServer))).kind).toBe('missing')
    const e = await failure(request('GET', fillPath(PATHS.peerGeo, { peer_id: 'nobody' }), {}, viaServer))
    expect(e.kind).toBe('not-found')
    expect(e.message).toBe("no peer 'nobody'")
  })

  it('classifies 401, 429, 422 and 503', async () => {
    expect((await failure(request('GET', PATHS.session, {}, viaServer))).kind).toBe('unauthenticated')
    const throttled = await failure(request('GET', PATHS.asn, {}, viaServer))
    expect([throttled.kind, throttled.retryAfter]).toEqual(['throttled', 7])
    const invalid = await failure(request('GET', PATHS.timeseries, {}, viaServer))
    expect([invalid.kind, invalid.message]).toEqual(['invalid', 'step: not a duration'])
    expect((await failure(request('GET', PATHS.geoip, {}, viaServer))).kind).toBe('unavailable')
  })

  it('asks for the TOTP step, then logs in', async () => {
    const wrong = await failure(request('POST', PATHS.login, { body: { username: 'admin', password: 'nope' } }, viaServer))
    expect(wrong.kind).toBe('unauthenticated')
    const step = await failure(request('POST', PATHS.login, { body: { username: 'admin', password: 'right' } }, viaServer))
    expect([step.kind, step.code]).toEqual(['totp-required', 'totp_required'])
    const ok = await request<{ csrf_token: string }>(
      'POST',
      PATHS.login,
      { body: { username: 'admin', password: 'right', totp_code: '123456' } },
      viaServer,
    )
    expect(ok.csrf_token).toBe('csrf-1')
  })

  it('sends the CSRF token on writes only', async () => {
    setCsrfToken('tok-9')
    seen.length = 0
    await request('GET', PATHS.countries, {}, viaServer)
    await failure(request('POST', '/api/geoip/update', {}, viaServer))
    expect(seen[0]?.headers[CSRF_HEADER.toLowerCase()]).toBeUndefined()
    expect(seen[1]?.headers[CSRF_HEADER.toLowerCase()]).toBe('tok-9')
    setCsrfToken('')
  })

  it('refuses a non-JSON success', async () => {
    expect((await failure(request('GET', '/html', {}, viaServer))).kind).toBe('server')
  })

  it('says the API is unreachable when nothing listens', async () => {
    const closed = createServer()
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve))
    const port = (closed.address() as AddressInfo).port
    await new Promise((resolve) => closed.close(resolve))
    const dead: typeof fetch = (input, init) => fetch(`http://127.0.0.1:${port}${String(input)}`, init)
    const e = await failure(request('GET', PATHS.health, {}, dead))
    expect(e.kind).toBe('unreachable')
    expect(e.message).toMatch(/Cannot reach/)
  })
})

describe('typed calls', () => {
  it('fill path parameters and send the typed query', async () => {
    const r = await call('get', PATHS.peerGeo, { path: { peer_id: 'a/b c' }, query: { since: '7d', country: ['CH'], asn: [3303] } }, viaServer)
    expect(r.peer.id).toBe('a/b c')
    expect((r as unknown as { echo: string }).echo).toBe('?since=7d&country=CH&asn=3303')
  })

  it('refuse a template without its value', () => {
    expect(fillPath('/api/tokens/{token_id}', { token_id: 'ab12' })).toBe('/api/tokens/ab12')
    expect(() => fillPath('/api/tokens/{token_id}')).toThrow(/token_id/)
  })
})

describe('errorFromResponse', () => {
  it('takes the TOTP step from the code, never from the wording', () => {
    const worded = errorFromResponse(401, { detail: 'a TOTP code is required for this user' }, new Headers())
    expect([worded.kind, worded.code]).toEqual(['unauthenticated', null])
    const coded = errorFromResponse(401, { detail: 'Zwei-Faktor-Code fehlt', code: 'totp_required' }, new Headers())
    expect([coded.kind, coded.code, coded.message]).toEqual(['totp-required', 'totp_required', 'Zwei-Faktor-Code fehlt'])
    expect(errorFromResponse(429, { detail: 'locked', code: 'throttled' }, new Headers({ 'Retry-After': '3' })).retryAfter).toBe(3)
  })

  it('treats a proxy without its upstream as unreachable', () => {
    expect(errorFromResponse(502, 'Bad Gateway', new Headers()).kind).toBe('unreachable')
    expect(errorFromResponse(503, '<html>', new Headers()).kind).toBe('unreachable')
    expect(errorFromResponse(403, { detail: 'peer tokens see their own peer' }, new Headers()).kind).toBe('forbidden')
    expect(errorFromResponse(500, null, new Headers()).kind).toBe('server')
  })
})
