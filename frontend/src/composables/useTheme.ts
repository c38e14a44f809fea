/** Dark theme by default, a light one on request; remembered in this browser. */

import { computed, ref } from 'vue'

import { DARK, LIGHT, type Palette } from '@/lib/palette'

export type Theme = 'dark' | 'light'
const STORAGE_KEY = 'trafficatlas.theme'

function stored(): Theme {
  try {
    return localStorage.getItem(STORAGE_KEY) === 'light' ? 'light' : 'dark'
  } catch {
    return 'dark' // storage blocked: the default
  }
}

const theme = ref<Theme>('dark')
let started = false

function apply(t: Theme): void {
  document.documentElement.dataset.theme = t
}

/** The current theme, its canvas palette, and a toggle. */
export function useTheme() {
  if (!started) {
    started = true
    theme.value = stored()
    apply(theme.value)
  }
  const palette = computed<Palette>(() => (theme.value === 'dark' ? DARK : LIGHT))
  function set(t: Theme): void {
    theme.value = t
    apply(t)
    try {
      localStorage.setItem(STORAGE_KEY, t)
    } catch {
      // not remembered; still applied
    }
  }
  const toggle = () => set(theme.value === 'dark' ? 'light' : 'dark')
  return { theme, palette, set, toggle }
}
