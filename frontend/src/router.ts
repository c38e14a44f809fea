/** Pages and the login guard. */

import { createRouter, createWebHistory, type RouteRecordRaw } from 'vue-router'

import { refreshSession, useSession } from '@/composables/useSession'

declare module 'vue-router' {
  interface RouteMeta {
    /** Reachable without logging in. */
    public?: boolean
    title?: string
  }
}

export const routes: RouteRecordRaw[] = [
  { path: '/', name: 'overview', component: () => import('@/views/OverviewView.vue'), meta: { title: 'Overview' } },
  { path: '/countries', name: 'countries', component: () => import('@/views/CountriesView.vue'), meta: { title: 'By country' } },
  { path: '/asn', name: 'asn', component: () => import('@/views/AsnView.vue'), meta: { title: 'By ASN' } },
  { path: '/peers', name: 'peers', component: () => import('@/views/PeersView.vue'), meta: { title: 'Peers' } },
  { path: '/peers/:id', name: 'peer', component: () => import('@/views/PeerView.vue'), meta: { title: 'Peer' }, props: true },
  { path: '/live', name: 'live', component: () => import('@/views/LiveView.vue'), meta: { title: 'Live' } },
  { path: '/settings', name: 'settings', component: () => import('@/views/SettingsView.vue'), meta: { title: 'Settings' } },
  { path: '/login', name: 'login', component: () => import('@/views/LoginView.vue'), meta: { public: true, title: 'Log in' } },
  { path: '/:rest(.*)*', name: 'not-found', component: () => import('@/views/NotFoundView.vue'), meta: { public: true, title: 'Not found' } },
]

export function makeRouter() {
  const router = createRouter({ history: createWebHistory(), routes })
  router.beforeEach(async (to) => {
    if (to.meta.public) return true
    const { session } = useSession()
    if (session.status === 'unknown') await refreshSession()
    // an unreachable server still shows the page: it says what is wrong
    if (session.status === 'anonymous') return { path: '/login', query: { next: to.fullPath } }
    return true
  })
  router.afterEach((to) => {
    document.title = to.meta.title ? `${to.meta.title} · trafficatlas` : 'trafficatlas'
  })
  return router
}
