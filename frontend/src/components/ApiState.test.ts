import { mount } from '@vue/test-utils'
import { describe, expect, it } from 'vitest'
import { createMemoryHistory, createRouter } from 'vue-router'

import { ApiError } from '@/api/client'
import ApiState from '@/components/ApiState.vue'

async function make(props: { error: ApiError | null; loading?: boolean; empty?: boolean; what?: string }) {
  const router = createRouter({ history: createMemoryHistory(), routes: [{ path: '/:p(.*)*', component: { template: '<div/>' } }] })
  await router.push('/countries?range=7d')
  return mount(ApiState, { props, global: { plugins: [router] } })
}

describe('ApiState', () => {
  it('says plainly when the API cannot be reached', async () => {
    const w = await make({ error: new ApiError('unreachable', 0, 'Cannot reach the trafficatlas API.') })
    expect(w.get('[role="alert"]').text()).toContain('Cannot reach the trafficatlas API')
    expect(w.get('[data-state]').attributes('data-state')).toBe('unreachable')
  })

  it('offers the login, coming back to the same page', async () => {
    const w = await make({ error: new ApiError('unauthenticated', 401, 'Log in to see this.') })
    const href = w.get('a').attributes('href') ?? ''
    const url = new URL(href, 'http://x')
    expect(url.pathname).toBe('/login')
    expect(url.searchParams.get('next')).toBe('/countries?range=7d')
  })

  it('shows loading, then an empty range, and nothing once there is data', async () => {
    expect((await make({ error: null, loading: true, empty: true })).text()).toBe('Loading…')
    expect((await make({ error: null, loading: false, empty: true, what: 'countries' })).text()).toBe('No traffic in this range for countries.')
    expect((await make({ error: null, loading: false, empty: false })).text()).toBe('')
  })
})
