import { describe, expect, it } from 'vitest'

import { apiQuery, DEFAULT_RANGE, emptyFilters, LIVE_SINCE, parseQuery, rangeLabel, toQuery, type ViewState } from '@/lib/range'

describe('parseQuery', () => {
  it('defaults to the last 24 hours without filters', () => {
    expect(parseQuery({})).toEqual({ range: DEFAULT_RANGE, from: '', to: '', filters: emptyFilters() })
  })

  it('reads presets and repeated filters', () => {
    const s = parseQuery({ range: '7d', country: ['ch', 'DE', 'ch'], asn: '13335', peer: 'wg-1' })
    expect(s.range).toBe('7d')
    expect(s.filters.country).toEqual(['CH', 'DE'])
    expect(s.filters.asn).toEqual(['13335'])
    expect(s.filters.peer).toEqual(['wg-1'])
  })

  it('drops values that cannot be right', () => {
    const s = parseQuery({ range: '5y', country: ['Switzerland', 'CH'], asn: ['AS1', '99999999999'], direction: ['up', 'inbound'] })
    expect(s.range).toBe(DEFAULT_RANGE)
    expect(s.filters.country).toEqual(['CH'])
    expect(s.filters.asn).toEqual([])
    expect(s.filters.direction).toEqual(['inbound'])
  })

  it('keeps a custom range only with a readable start', () => {
    expect(parseQuery({ range: 'custom', from: '2026-11-01T10:00' }).range).toBe('custom')
    expect(parseQuery({ range: 'custom', from: 'yesterday' }).range).toBe(DEFAULT_RANGE)
    expect(parseQuery({ range: 'custom' }).range).toBe(DEFAULT_RANGE)
  })
})

describe('toQuery', () => {
  it('round-trips through parseQuery and leaves defaults out', () => {
    const state: ViewState = {
      range: 'custom',
      from: '2026-11-01T10:00',
      to: '2026-11-02T10:00',
      filters: { ...emptyFilters(), country: ['CH', 'DE'], direction: ['outbound'] },
    }
    const q = toQuery(state)
    expect(q).toEqual({ range: 'custom', from: '2026-11-01T10:00', to: '2026-11-02T10:00', country: ['CH', 'DE'], direction: 'outbound' })
    expect(parseQuery(q)).toEqual(state)
    expect(toQuery(parseQuery({}))).toEqual({})
  })
})

describe('apiQuery', () => {
  it('sends presets as relative since', () => {
    expect(apiQuery(parseQuery({ range: '30d', country: 'CH' }))).toEqual({ since: '30d', country: ['CH'] })
  })
  it('reads recent stored data while live', () => {
    expect(apiQuery(parseQuery({ range: 'live' })).since).toBe(LIVE_SINCE)
  })
  it('sends custom bounds as epoch seconds', () => {
    const s = parseQuery({ range: 'custom', from: '2026-11-01T10:00', to: '2026-11-01T11:00' })
    const q = apiQuery(s)
    expect(Number(q.until) - Number(q.since)).toBe(3600)
    expect(Number(q.since)).toBe(new Date('2026-11-01T10:00').getTime() / 1000)
    expect(rangeLabel(s)).toBe('2026-11-01 10:00 → 2026-11-01 11:00')
  })
})
