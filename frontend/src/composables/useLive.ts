/** The live feed (WebSocket /api/live): the latest message, reconnecting with backoff. */

import { onBeforeUnmount, ref, shallowRef, watch, type Ref } from 'vue'

import { api } from '@/api/client'
import type { LiveMessage, LiveUnavailable } from '@/api/types'

/**
 * `unavailable`: the server said this node has no live view (an API node serving history from
 * the shared store); asking again would get the same answer, so the feed stays closed.
 */
export type LiveStatus = 'off' | 'connecting' | 'open' | 'retrying' | 'unavailable'

/** What a message of /api/live is: a snapshot, the node's "no live view here", or not ours. */
export function parseLiveMessage(data: unknown): LiveMessage | LiveUnavailable | null {
  let msg: unknown
  try {
    msg = JSON.parse(String(data))
  } catch {
    return null
  }
  if (typeof msg !== 'object' || msg === null) return null
  const type = (msg as { type?: unknown }).type
  if (type === 'live') return msg as LiveMessage
  if (type === 'unavailable') {
    const { role, detail } = msg as { role?: unknown; detail?: unknown }
    return { type, role: typeof role === 'string' ? role : '', detail: typeof detail === 'string' ? detail : '' }
  }
  return null
}

/** Delay before reconnect attempt ``failures`` (1, 2, 4 ... 30 s: a restarting server is not hammered). */
export function retryDelay(failures: number): number {
  return Math.min(30_000, 1000 * 2 ** Math.min(5, Math.max(0, failures - 1)))
}

export function useLive(enabled: Ref<boolean>, peer?: Ref<string | undefined>) {
  const message = shallowRef<LiveMessage | null>(null)
  const status = ref<LiveStatus>('off')
  const failures = ref(0)
  /** Why the node has no live view (status `unavailable`), as the server said it. */
  const unavailable = shallowRef<LiveUnavailable | null>(null)
  let socket: WebSocket | null = null
  let retry: ReturnType<typeof setTimeout> | null = null

  function close(): void {
    if (retry) clearTimeout(retry)
    retry = null
    if (socket) {
      socket.onclose = null
      socket.onmessage = null
      socket.close()
    }
    socket = null
  }

  function open(): void {
    close()
    status.value = 'connecting'
    const ws = new WebSocket(api.liveUrl(peer?.value))
    socket = ws
    ws.onopen = () => {
      status.value = 'open'
      failures.value = 0
    }
    ws.onmessage = (ev: MessageEvent) => {
      const msg = parseLiveMessage(ev.data)
      if (msg?.type === 'live') {
        message.value = msg
        unavailable.value = null
      } else if (msg?.type === 'unavailable') {
        // the answer will not change: close without scheduling a reconnect
        unavailable.value = msg
        message.value = null
        close()
        status.value = 'unavailable'
      }
    }
    ws.onclose = () => {
      socket = null
      if (!enabled.value) return
      failures.value += 1
      status.value = 'retrying'
      retry = setTimeout(open, retryDelay(failures.value))
    }
  }

  watch(
    [enabled, () => peer?.value],
    ([on]) => {
      if (on) open()
      else {
        close()
        status.value = 'off'
      }
    },
    { immediate: true },
  )
  onBeforeUnmount(close)
  return { message, status, failures, unavailable }
}
