/** Who is logged in, shared by every page: checked once, updated by login, logout and 401s. */

import { reactive, readonly } from 'vue'

import { api, ApiError, setCsrfToken } from '@/api/client'
import type { SessionInfo } from '@/api/types'

export type SessionStatus =
  | 'unknown' // not asked yet
  | 'authenticated'
  | 'anonymous' // the server answered: not logged in
  | 'unreachable' // no answer from the API
  | 'missing' // the server answered, but has no login API

interface SessionState {
  status: SessionStatus
  user: SessionInfo | null
  message: string
}

const state = reactive<SessionState>({ status: 'unknown', user: null, message: '' })
let pending: Promise<SessionStatus> | null = null

function signedIn(info: SessionInfo): void {
  state.status = 'authenticated'
  state.user = info
  state.message = ''
  setCsrfToken(info.csrf_token)
}

function signedOut(status: SessionStatus, message = ''): void {
  state.status = status
  state.user = null
  state.message = message
  setCsrfToken('')
}

/** Ask the server who we are (one request at a time). */
export function refreshSession(): Promise<SessionStatus> {
  pending ??= api
    .session()
    .then((info) => {
      signedIn(info)
      return state.status
    })
    .catch((err: unknown) => {
      if (!(err instanceof ApiError)) throw err
      if (err.kind === 'unauthenticated' || err.kind === 'forbidden') signedOut('anonymous')
      else if (err.kind === 'missing') signedOut('missing', 'It answers, but has no /api/auth routes.')
      else signedOut('unreachable', err.message)
      return state.status
    })
    .finally(() => {
      pending = null
    })
  return pending
}

/** Log in; ApiError('totp-required') asks for the code, other ApiErrors say why not. */
export async function login(username: string, password: string, totpCode?: string): Promise<void> {
  signedIn(await api.login(username, password, totpCode))
}

export async function logout(): Promise<void> {
  try {
    await api.logout()
  } finally {
    signedOut('anonymous')
  }
}

/** A data call answered 401: the session ended. */
export function sessionExpired(): void {
  signedOut('anonymous', 'Your session ended; log in again.')
}

export function useSession() {
  return { session: readonly(state), refreshSession, login, logout }
}
