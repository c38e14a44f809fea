import { describe, expect, it } from 'vitest'

import type { PeerEndpoint } from '@/api/types'
import { asnLabel, endpointDetail, endpointPlace, handshakeLabel, handshakeTitle } from '@/lib/peers'

const swisscom: PeerEndpoint = {
  address: null,
  country: 'CH',
  country_name: 'Switzerland',
  city: null,
  latitude: null,
  longitude: null,
  asn: 3303,
  organization: 'Swisscom (Schweiz) AG',
}

describe('peer labels', () => {
  it('say when the last handshake was', () => {
    expect(handshakeLabel(1000, 1000 + 125)).toBe('2 min ago')
    expect(handshakeLabel(null)).toBe('never')
    expect(handshakeTitle(null)).toBe('No handshake reported')
    expect(handshakeTitle(1_800_000_000)).toMatch(/^Last handshake \d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/)
  })

  it('say where a peer connects from, and from which network', () => {
    expect(endpointPlace(swisscom)).toBe('🇨🇭 Switzerland')
    expect(endpointPlace({ ...swisscom, city: 'Zürich' })).toBe('🇨🇭 Switzerland · Zürich')
    expect(endpointPlace(null)).toBe('–')
    expect(endpointPlace({ ...swisscom, country: null, address: '10.0.0.7' })).toBe('10.0.0.7')
    expect(endpointDetail(swisscom)).toBe('AS3303 Swisscom (Schweiz) AG')
    expect(endpointDetail({ ...swisscom, address: '193.246.8.17' })).toBe('AS3303 Swisscom (Schweiz) AG · 193.246.8.17')
    expect(endpointDetail(null)).toMatch(/unknown/)
  })

  it('name an AS with or without its organization', () => {
    expect(asnLabel(15169, 'Google LLC')).toBe('AS15169 Google LLC')
    expect(asnLabel(64500, null)).toBe('AS64500')
    expect(asnLabel(0)).toBe('unknown AS')
  })
})
