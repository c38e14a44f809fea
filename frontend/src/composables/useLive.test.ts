// The live feed against a real WebSocket server on loopback (node:http upgrade, RFC 6455 frames)
// that answers like /api/live does: snapshots on a collector or single node, one
// `unavailable` message on an API node, or a refusal.
import { createHash } from 'node:crypto'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Duplex } from 'node:stream'

import { flushPromises, mount } from '@vue/test-utils'
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest'
import { defineComponent, h, ref } from 'vue'
import { createMemoryHistory, createRouter } from 'vue-router'

import { api } from '@/api/client'
import type { LiveMessage } from '@/api/types'
import { parseLiveMessage, retryDelay, useLive } from '@/composables/useLive'
import LiveView from '@/views/LiveView.vue'

// what an API node sends (src/trafficatlas/api/routes/live.py)
const UNAVAILABLE = {
  type: 'unavailable',
  role: 'api',
  detail:
    "no live view on this node (role = api): live traffic exists only in the collectors' pipelines; the history views read the shared store",
}
const SNAPSHOT: LiveMessage = {
  type: 'live',
  ts: 1_700_000_000,
  window_s: 60,
  totals: { total_bytes: 1500, tx_bytes: 1000, rx_bytes: 500, flows: 3, packets: 9 },
  countries: [],
  asns: [],
  points: [],
  peers: [],
}

type Behaviour = 'unavailable' | 'live' | 'refuse'
let behaviour: Behaviour = 'unavailable'
let server: Server
let port = 0
let connections = 0
let clientClosed = 0
const sockets = new Set<Duplex>()

/** One unmasked text frame (server to client). */
function textFrame(text: string): Buffer {
  const payload = Buffer.from(text)
  const n = payload.length
  const head = n < 126 ? Buffer.from([0x81, n]) : Buffer.from([0x81, 126, n >> 8, n & 0xff])
  return Buffer.concat([head, payload])
}

beforeAll(async () => {
  server = createServer((_req, res) => {
    res.writeHead(404).end()
  })
  server.on('upgrade', (req, socket: Duplex) => {
    connections += 1
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
    if (behaviour === 'refuse') {
      socket.end('HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n')
      return
    }
    const accept = createHash('sha1')
      .update(`${String(req.headers['sec-websocket-key'])}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`)
      .digest('base64')
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`)
    socket.on('data', (data: Buffer) => {
      if (((data[0] ?? 0) & 0x0f) === 0x8) {
        // the client closes: answer the close frame, as the server does
        clientClosed += 1
        socket.end(Buffer.from([0x88, 0]))
      }
    })
    socket.write(textFrame(JSON.stringify(behaviour === 'live' ? SNAPSHOT : UNAVAILABLE)))
    // an API node then only waits for the client to leave (no further messages)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  port = (server.address() as AddressInfo).port
})

afterAll(async () => {
  for (const s of sockets) s.destroy()
  await new Promise((resolve) => server.close(resolve))
})

beforeEach(() => {
  connections = 0
  clientClosed = 0
  // the real URL builder, pointed at this server instead of the page's origin
  const liveUrl = api.liveUrl
  vi.spyOn(api, 'liveUrl').mockImplementation((peer?: string) => liveUrl(peer, { protocol: 'http:', host: `127.0.0.1:${port}` }))
})

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

async function until(check: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms
  while (!check()) {
    if (Date.now() > end) throw new Error('timed out')
    await sleep(10)
  }
}

function mountLive() {
  const enabled = ref(true)
  let live!: ReturnType<typeof useLive>
  const w = mount(
    defineComponent({
      setup() {
        live = useLive(enabled)
        return () => h('div')
      },
    }),
  )
  return { w, live, enabled }
}

describe('parseLiveMessage', () => {
  it('tells snapshots, the unavailable notice and anything else apart', () => {
    expect(parseLiveMessage(JSON.stringify(SNAPSHOT))).toEqual(SNAPSHOT)
    expect(parseLiveMessage(JSON.stringify(UNAVAILABLE))).toEqual(UNAVAILABLE)
    expect(parseLiveMessage('{"type":"unavailable"}')).toEqual({ type: 'unavailable', role: '', detail: '' })
    expect(parseLiveMessage('{"type":"other"}')).toBeNull()
    expect(parseLiveMessage('[1]')).toBeNull()
    expect(parseLiveMessage('null')).toBeNull()
    expect(parseLiveMessage('not json')).toBeNull()
  })

  it('backs off 1, 2, 4 ... 30 s', () => {
    expect([1, 2, 3, 4, 5, 6, 7, 20].map(retryDelay)).toEqual([1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000])
  })
})

describe('useLive', () => {
  it('on an API node: keeps the reason, closes the socket and does not reconnect', async () => {
    behaviour = 'unavailable'
    const { w, live } = mountLive()
    await until(() => live.status.value === 'unavailable')
    expect(live.unavailable.value?.detail).toContain('collectors')
    expect(live.message.value).toBeNull()
    await until(() => clientClosed === 1) // the client leaves, the server need not hold it
    await sleep(retryDelay(1) + 300) // longer than the first reconnect would wait
    expect(connections).toBe(1)
    expect(live.status.value).toBe('unavailable')
    w.unmount()
  })

  it('reconnects when the server refuses (the case the notice must not be confused with)', async () => {
    behaviour = 'refuse'
    const { w, live } = mountLive()
    await until(() => live.status.value === 'retrying')
    expect(live.unavailable.value).toBeNull()
    await until(() => connections >= 2, retryDelay(1) + 2000)
    w.unmount()
  })

  it('shows snapshots of a node with a live view', async () => {
    behaviour = 'live'
    const { w, live, enabled } = mountLive()
    await until(() => live.message.value !== null)
    expect(live.status.value).toBe('open')
    expect(live.message.value?.totals.total_bytes).toBe(1500)
    enabled.value = false
    await flushPromises()
    expect(live.status.value).toBe('off')
    w.unmount()
  })
})

describe('LiveView', () => {
  async function mountView() {
    const router = createRouter({
      history: createMemoryHistory(),
      routes: [
        { path: '/live', component: LiveView },
        { path: '/:p(.*)*', component: { template: '<div/>' } },
      ],
    })
    await router.push({ path: '/live', query: { range: 'live' } })
    return mount(LiveView, { global: { plugins: [router] } })
  }

  it('says the live view runs on collectors, with the server reason, instead of an empty page', async () => {
    behaviour = 'unavailable'
    const w = await mountView()
    await until(() => w.find('[data-testid="live-unavailable"]').exists())
    const notice = w.get('[data-testid="live-unavailable"]')
    expect(notice.text()).toContain('The live view runs on collectors; this node serves history only.')
    expect(notice.text()).toContain(UNAVAILABLE.detail)
    // history is one click away (stored data: a range that is not "live")
    expect(notice.get('a').attributes('href')).toBe('/?range=1h')
    expect(w.get('.live-status').attributes('data-status')).toBe('unavailable')
    expect(w.get('.live-status').text()).toContain('no live view on this node')
    expect(w.find('.live-status button').exists()).toBe(false) // nothing to pause
    expect(w.find('[role="alert"]').exists()).toBe(false) // not an error to retry
    expect(w.find('dl.totals').exists()).toBe(false)
    w.unmount()
  })

  it('shows no notice where there is a live view', async () => {
    behaviour = 'live'
    const w = await mountView()
    await until(() => w.find('dl.totals').exists())
    expect(w.find('[data-testid="live-unavailable"]').exists()).toBe(false)
    w.unmount()
  })
})
