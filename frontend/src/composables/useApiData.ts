/** Load data from the API for a page: reload when its inputs change, keep the last error's kind. */

import { onBeforeUnmount, ref, shallowRef, watch, type Ref, type ShallowRef, type WatchSource } from 'vue'

import { ApiError } from '@/api/client'
import { sessionExpired } from '@/composables/useSession'

export interface ApiData<T> {
  data: ShallowRef<T | null>
  error: Ref<ApiError | null>
  loading: Ref<boolean>
  reload: () => Promise<void>
}

/**
 * ``load`` runs now and whenever ``sources`` change (the previous request is aborted);
 * with ``refreshSeconds`` set to a number it also runs on that period.
 */
export function useApiData<T>(
  load: (signal: AbortSignal) => Promise<T>,
  sources: WatchSource[] = [],
  refreshSeconds?: Ref<number | null>,
): ApiData<T> {
  const data = shallowRef<T | null>(null)
  const error = ref<ApiError | null>(null)
  const loading = ref(false)
  let controller: AbortController | null = null
  let timer: ReturnType<typeof setInterval> | null = null

  async function reload(): Promise<void> {
    controller?.abort()
    const mine = new AbortController()
    controller = mine
    loading.value = true
    try {
      const value = await load(mine.signal)
      if (mine.signal.aborted) return
      data.value = value
      error.value = null
    } catch (err) {
      if (mine.signal.aborted) return
      if (err instanceof ApiError) {
        error.value = err
        if (err.kind === 'unauthenticated') sessionExpired()
      } else {
        error.value = new ApiError('server', 0, err instanceof Error ? err.message : String(err))
      }
    } finally {
      if (controller === mine) loading.value = false
    }
  }

  function schedule(): void {
    if (timer) clearInterval(timer)
    timer = null
    const s = refreshSeconds?.value
    if (s && s > 0) timer = setInterval(() => void reload(), s * 1000)
  }

  watch(sources, () => void reload(), { immediate: true })
  if (refreshSeconds) watch(refreshSeconds, schedule, { immediate: true })
  onBeforeUnmount(() => {
    controller?.abort()
    if (timer) clearInterval(timer)
  })
  return { data, error, loading, reload }
}
