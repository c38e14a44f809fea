import { flushPromises, mount } from '@vue/test-utils'
import { describe, expect, it, vi } from 'vitest'
import { createMemoryHistory, createRouter } from 'vue-router'

import { api, ApiError } from '@/api/client'
import type { SessionInfo } from '@/api/types'
import { useSession } from '@/composables/useSession'
import LoginView from '@/views/LoginView.vue'

const session: SessionInfo = {
  username: 'admin',
  role: 'admin',
  peer_id: null,
  csrf_token: 'c',
  expires_at: 0,
  idle_expires_at: 0,
  totp_enabled: true,
}

async function make(next = '/peers') {
  const router = createRouter({
    history: createMemoryHistory(),
    routes: [
      { path: '/login', component: LoginView },
      { path: '/:p(.*)*', component: { template: '<div/>' } },
    ],
  })
  await router.push({ path: '/login', query: { next } })
  const w = mount(LoginView, { global: { plugins: [router] }, attachTo: document.body })
  return { w, router }
}

async function fill(w: Awaited<ReturnType<typeof make>>['w'], user: string, password: string) {
  await w.get('#username').setValue(user)
  await w.get('#password').setValue(password)
  await w.get('form').trigger('submit')
  await flushPromises()
}

describe('LoginView', () => {
  it('asks for the TOTP code after the password, then goes where it was sent from', async () => {
    const login = vi
      .spyOn(api, 'login')
      .mockRejectedValueOnce(new ApiError('totp-required', 401, 'a TOTP code is required for this user'))
      .mockResolvedValueOnce(session)
    const { w, router } = await make('/peers?range=7d')
    await fill(w, 'admin', 'pw')
    expect(w.find('#password').exists()).toBe(false)
    expect(w.get('#totp').attributes('autocomplete')).toBe('one-time-code')
    expect(document.activeElement?.id).toBe('totp')
    await w.get('#totp').setValue('123456')
    await w.get('form').trigger('submit')
    await flushPromises()
    expect(login.mock.calls).toEqual([
      ['admin', 'pw', undefined],
      ['admin', 'pw', '123456'],
    ])
    expect(router.currentRoute.value.fullPath).toBe('/peers?range=7d')
    expect(useSession().session.status).toBe('authenticated')
    w.unmount()
  })

  it('says a password is wrong, and that a server is unreachable', async () => {
    vi.spyOn(api, 'login')
      .mockRejectedValueOnce(new ApiError('unauthenticated', 401, 'wrong user name or password'))
      .mockRejectedValueOnce(new ApiError('unreachable', 0, 'Cannot reach the trafficatlas API.'))
      .mockRejectedValueOnce(new ApiError('throttled', 429, 'too many attempts', 30))
    const { w } = await make()
    await fill(w, 'admin', 'bad')
    expect(w.get('[data-testid="login-error"]').text()).toBe('Wrong user name or password.')
    await w.get('form').trigger('submit')
    await flushPromises()
    expect(w.get('[data-testid="login-error"]').text()).toContain('Cannot reach the trafficatlas API')
    await w.get('form').trigger('submit')
    await flushPromises()
    expect(w.get('[data-testid="login-error"]').text()).toBe('Too many attempts. Try again in 30 s.')
    w.unmount()
  })

  it('never redirects off the site after login', async () => {
    vi.spyOn(api, 'login').mockResolvedValueOnce(session)
    const { w, router } = await make('//evil.example/x')
    await fill(w, 'admin', 'pw')
    expect(router.currentRoute.value.fullPath).toBe('/')
    w.unmount()
  })
})
