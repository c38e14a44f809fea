/** The live feed (WebSocket /api/live): the latest message, reconnecting with backoff. */

import { onBeforeUnmount, ref, shallowRef, watch, type Ref } from 'vue'

import { api } from '@/api/client'
import type { LiveMessage } from '@/api/types'

export type LiveStatus = 'off' | 'connecting' | 'open' | 'retrying'

export function useLive(enabled: Ref<boolean>, peer?: Ref<string | undefined>) {
  const message = shallowRef<LiveMessage | null>(null)
  const status = ref<LiveStatus>('off')
  const failures = ref(0)
  let socket: WebSocket | null = null
  let retry: ReturnType<typeof setTimeout> | null = null

  function close(): void {
    if (retry) clearTimeout(retry)
    retry = null
    if (socket) {
      socket.onclose = null
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
      try {
        const msg = JSON.parse(String(ev.data)) as LiveMessage
        if (msg.type === 'live') message.value = msg
      } catch {
        // not ours: ignore
      }
    }
    ws.onclose = () => {
      socket = null
      if (!enabled.value) return
      failures.value += 1
      status.value = 'retrying'
      // 1, 2, 4 ... 30 s: a restarting server is not hammered
      const delay = Math.min(30_000, 1000 * 2 ** Math.min(5, failures.value - 1))
      retry = setTimeout(open, delay)
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
  return { message, status, failures }
}
