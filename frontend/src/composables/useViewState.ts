/** The global range and filters, read from and written to the URL (so views can be shared). */

import { computed } from 'vue'
import { useRoute, useRouter } from 'vue-router'

import { apiQuery, type FilterKey, parseQuery, type RouteQuery, toQuery, type ViewState } from '@/lib/range'

export function useViewState() {
  const route = useRoute()
  const router = useRouter()
  const state = computed<ViewState>(() => parseQuery(route.query as RouteQuery))
  const query = computed(() => apiQuery(state.value))

  function update(next: ViewState): void {
    void router.replace({ path: route.path, query: toQuery(next) })
  }

  function setRange(range: ViewState['range'], from = '', to = ''): void {
    update({ ...state.value, range, from, to })
  }

  function setFilter(key: FilterKey, values: string[]): void {
    update({ ...state.value, filters: { ...state.value.filters, [key]: values } })
  }

  function addFilter(key: FilterKey, value: string): void {
    const current = state.value.filters[key]
    if (!current.includes(value)) setFilter(key, [...current, value])
  }

  function removeFilter(key: FilterKey, value: string): void {
    setFilter(
      key,
      state.value.filters[key].filter((v) => v !== value),
    )
  }

  /** Query to carry the range and filters along on a link to another page. */
  const linkQuery = computed(() => toQuery(state.value))

  return { state, query, linkQuery, update, setRange, setFilter, addFilter, removeFilter }
}
