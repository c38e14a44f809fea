/** How a peer's state reads on screen: last handshake, where it connects from, an AS. */

import type { PeerEndpoint } from '@/api/types'
import { countryFlag, countryName } from '@/lib/countries'
import { formatTime, timeAgo } from '@/lib/format'

/** "AS15169 Google LLC", "AS64500", or "unknown AS". */
export function asnLabel(asn: number | null | undefined, organization?: string | null): string {
  if (!asn) return 'unknown AS'
  return organization ? `AS${asn} ${organization}` : `AS${asn}`
}

/** "2 min ago" (null: "never"). */
export function handshakeLabel(epochSeconds: number | null | undefined, now = Date.now() / 1000): string {
  return epochSeconds ? timeAgo(epochSeconds, now) : 'never'
}

/** The exact time for the tooltip ("" when there was none). */
export function handshakeTitle(epochSeconds: number | null | undefined): string {
  return epochSeconds ? `Last handshake ${formatTime(epochSeconds, true)}` : 'No handshake reported'
}

/** "🇨🇭 Switzerland · Zürich" (or "–" when unknown or private). */
export function endpointPlace(endpoint: PeerEndpoint | null | undefined): string {
  if (!endpoint) return '–'
  if (!endpoint.country) return endpoint.address ?? 'not geolocated'
  const flag = countryFlag(endpoint.country)
  const country = endpoint.country_name || countryName(endpoint.country)
  return `${flag ? flag + ' ' : ''}${country}${endpoint.city ? ' · ' + endpoint.city : ''}`
}

/** Network and address for the tooltip: "AS3303 Swisscom (Schweiz) AG · 193.246.8.17". */
export function endpointDetail(endpoint: PeerEndpoint | null | undefined): string {
  if (!endpoint) return 'Endpoint unknown (or the peer is private)'
  const parts = [endpoint.asn ? asnLabel(endpoint.asn, endpoint.organization) : '', endpoint.address ?? '']
  return parts.filter(Boolean).join(' · ') || 'No network known'
}
