import { describe, expect, it } from 'vitest'

import type { MapLine } from '@/api/types'
import {
  ALL_LAYERS,
  bubbleData,
  bubbleSize,
  buildMapOption,
  clickedCountry,
  escapeHtml,
  lineData,
  logExtent,
  mapSummary,
  type MapOptionSettings,
  peerData,
  trafficTooltip,
  type WorldMapData,
} from '@/components/worldMapOptions'
import { DARK } from '@/lib/palette'

function line(peer: string, city: string, bytes: number, from: [number, number] | null = [8.5, 47.4]): MapLine {
  return {
    peer,
    peer_name: peer ? `peer ${peer}` : null,
    country: 'US',
    city,
    from_latitude: from ? from[1] : null,
    from_longitude: from ? from[0] : null,
    to_latitude: 40,
    to_longitude: -74,
    total_bytes: bytes,
    intensity: 0,
  }
}

const data: WorldMapData = {
  home: { latitude: 47.4, longitude: 8.5 },
  countries: [
    { code: 'US', name: 'United States', total_bytes: 5_000_000_000, tx_bytes: 1_000_000_000, rx_bytes: 4_000_000_000, flows: 900 },
    { code: 'DE', name: 'Germany', total_bytes: 20_000_000, tx_bytes: 5_000_000, rx_bytes: 15_000_000, flows: 40 },
    { code: 'CH', name: 'Switzerland', total_bytes: 3_000, flows: 2 },
    { code: '', name: null, total_bytes: 7_000, flows: 3 }, // not geolocated: never on the map
  ],
  points: [
    { country: 'US', city: 'New York', latitude: 40.7, longitude: -74, total_bytes: 4_000_000_000, flows: 700 },
    { country: 'US', city: 'Ashburn', latitude: 39, longitude: -77.5, total_bytes: 1_000_000_000, flows: 200 },
  ],
  peers: [
    { id: 'wg-1', name: 'laptop', latitude: 52.5, longitude: 13.4, total_bytes: 100 },
    { id: 'wg-2', name: null, latitude: null, longitude: null, total_bytes: 50 },
    { id: 'wg-3', name: 'phone', latitude: null, longitude: null, country: 'CH', total_bytes: 70 },
    { id: 'wg-4', name: 'tv', latitude: null, longitude: null, country: 'ZZ', total_bytes: 10 },
  ],
  lines: Array.from({ length: 30 }, (_, i) => line(`wg-${i}`, `c${i}`, (i + 1) * 1000)),
  totalBytes: 5_020_010_000,
}

const settings: MapOptionSettings = {
  layers: { ...ALL_LAYERS },
  palette: DARK,
  topLines: 20,
  centroids: { US: [-98, 39], DE: [10.4, 51.1], CH: [8.2, 46.8] },
  animate: true,
}

type AnySeries = { id: string; type: string; data: Record<string, unknown>[]; effect?: { show: boolean } }
const seriesOf = (o: ReturnType<typeof buildMapOption>) => o.series as unknown as AnySeries[]
const byId = (o: ReturnType<typeof buildMapOption>, id: string) => seriesOf(o).find((s) => s.id === id)

describe('choropleth', () => {
  it('colours countries on a log scale of whole decades', () => {
    const o = buildMapOption(data, settings)
    const countries = byId(o, 'countries')
    expect(countries?.type).toBe('map')
    const us = countries?.data.find((d) => d.name === 'US')
    expect(us?.value).toBeCloseTo(Math.log10(5e9))
    expect(us?.bytes).toBe(5e9)
    const vm = o.visualMap as { min: number; max: number; seriesIndex: number; formatter: (v: number) => string }
    expect([vm.min, vm.max]).toEqual([3, 10]) // 3 kB … 5 GB → 10^3 … 10^10
    expect(vm.seriesIndex).toBe(0)
    expect(vm.formatter(6)).toBe('1.00 MB') // the legend reads bytes, not logarithms
  })

  it('leaves out traffic without a country', () => {
    const names = byId(buildMapOption(data, settings), 'countries')?.data.map((d) => d.name)
    expect(names).toEqual(['US', 'DE', 'CH'])
  })

  it('has an extent even for one value or none', () => {
    expect(logExtent([1000])).toEqual([3, 4])
    expect(logExtent([])).toEqual([0, 1])
    expect(logExtent([0, 0])).toEqual([0, 1])
    expect(logExtent([999, 1001])).toEqual([2, 4])
  })
})

describe('layer toggles', () => {
  it('draws every layer by default', () => {
    expect(seriesOf(buildMapOption(data, settings)).map((s) => s.id)).toEqual(['countries', 'bubbles', 'lines', 'peers'])
  })

  it('drops a layer that is switched off, keeping countries clickable', () => {
    const o = buildMapOption(data, { ...settings, layers: { choropleth: false, bubbles: false, peers: true, lines: false } })
    expect(seriesOf(o).map((s) => s.id)).toEqual(['countries', 'peers'])
    expect(o.visualMap).toBeUndefined()
    expect(byId(o, 'countries')?.data.every((d) => d.value === undefined)).toBe(true)
  })

  it('stops the moving lines when animation is off', () => {
    const o = buildMapOption(data, { ...settings, animate: false })
    expect(byId(o, 'lines')?.effect?.show).toBe(false)
    expect(byId(buildMapOption(data, settings), 'lines')?.effect?.show).toBe(true)
  })

  it('lets the map be zoomed and panned', () => {
    const geo = buildMapOption(data, settings).geo as { roam: boolean; map: string }
    expect(geo.roam).toBe(true)
    expect(geo.map).toBe('world')
  })
})

describe('bubbles', () => {
  it('uses cities, and a centroid for countries with no located city', () => {
    const b = bubbleData(data, settings.centroids)
    expect(b.map((x) => x.name)).toEqual(['New York, US', 'Ashburn, US', 'DE', 'CH'])
    expect(b[2]?.value).toEqual([10.4, 51.1, 20_000_000])
    expect(b[2]?.tx_bytes).toBe(5_000_000)
  })

  it('sizes by area: the largest is 36 px, a quarter of the bytes is half the extra size', () => {
    expect(bubbleSize(100, 100)).toBe(36)
    expect(bubbleSize(25, 100)).toBeCloseTo(5 + 31 / 2)
    expect(bubbleSize(0, 100)).toBe(5)
    const b = bubbleData(data, settings.centroids)
    expect(b[0]?.symbolSize).toBe(36)
    expect(b.every((x, i) => i === 0 || x.symbolSize <= (b[i - 1]?.symbolSize ?? 0))).toBe(true)
  })

  it('skips countries whose centroid is unknown', () => {
    expect(bubbleData(data, {}).map((x) => x.name)).toEqual(['New York, US', 'Ashburn, US'])
  })
})

describe('flow lines', () => {
  it('keeps the top N by bytes, largest first and widest', () => {
    const l = lineData(data, 5)
    expect(l.map((x) => x.total_bytes)).toEqual([30000, 29000, 28000, 27000, 26000])
    expect(l[0]?.lineStyle.width).toBe(4)
    expect(l[4]?.lineStyle.width).toBeLessThan(4)
    expect(byId(buildMapOption(data, { ...settings, topLines: 7 }), 'lines')?.data).toHaveLength(7)
  })

  it('starts at home when the peer has no location, and skips lines with neither', () => {
    const d = { ...data, lines: [line('', 'x', 10, null)] }
    expect(lineData(d, 5)[0]?.coords[0]).toEqual([8.5, 47.4])
    expect(lineData({ ...d, home: null }, 5)).toEqual([])
  })

  it('falls back to home → country centroids when no flow has a city location', () => {
    const d = { ...data, lines: [] }
    const l = lineData(d, 3, settings.centroids)
    expect(l.length).toBeGreaterThan(0)
    expect(l[0]?.coords[0]).toEqual([8.5, 47.4])
    expect(l[0]?.name).toMatch(/^this site → [A-Z]{2}$/)
    expect(lineData({ ...d, home: null }, 3, settings.centroids)).toEqual([])
    expect(lineData(d, 3)).toEqual([]) // no centroids known yet
  })

  it('names the line peer → destination', () => {
    expect(lineData(data, 1)[0]?.name).toBe('peer wg-29 → c29, US')
  })
})

describe('peers', () => {
  it('marks home and located peers only', () => {
    const peers = byId(buildMapOption(data, settings), 'peers')?.data
    expect(peers?.map((p) => p.name)).toEqual(['This site', 'laptop', 'phone'])
  })

  it('places a peer at its endpoint, else at its country\'s centroid', () => {
    const peers = peerData(data, settings.centroids)
    expect(peers.find((p) => p.id === 'wg-1')?.value).toEqual([13.4, 52.5, 100])
    expect(peers.find((p) => p.id === 'wg-3')).toEqual({ name: 'phone', value: [8.2, 46.8, 70], id: 'wg-3', country: 'CH' })
    expect(peers.map((p) => p.id)).toEqual(['wg-1', 'wg-3']) // no place known: not drawn
  })
})

describe('tooltips', () => {
  it('show flag, country, bytes up and down, and the share', () => {
    const t = trafficTooltip({ code: 'DE', name: 'Germany' }, data.countries[1]!, data.totalBytes)
    expect(t).toContain('🇩🇪 Germany')
    expect(t).toContain('20.0 MB')
    expect(t).toContain('20,000,000 bytes')
    expect(t).toContain('↑ 5.00 MB sent · ↓ 15.0 MB received')
    expect(t).toContain('0.4 % of all traffic')
  })

  it('escape names that come from outside data', () => {
    expect(escapeHtml('<img src=x onerror=alert(1)>')).not.toContain('<')
    const t = trafficTooltip({ code: 'US', city: '<b>x</b>' }, { total_bytes: 1 }, 1)
    expect(t).not.toContain('<b>x</b>')
  })

  it('are wired into the option for every layer', () => {
    const o = buildMapOption(data, settings)
    const format = (o.tooltip as { formatter: (p: unknown) => string }).formatter
    expect(format({ seriesId: 'countries', name: 'US', data: { bytes: 5e9, tx_bytes: 1e9, rx_bytes: 4e9 } })).toContain('↓ 4.00 GB received')
    expect(format({ seriesId: 'countries', name: 'FR' })).toContain('no traffic')
    expect(format({ seriesId: 'bubbles', data: { country: 'US', city: 'New York', value: [0, 0, 4e9] } })).toContain('New York, United States')
    expect(format({ seriesId: 'peers', data: { id: 'wg-1', name: 'laptop', value: [0, 0, 100] } })).toContain('Peer laptop')
    expect(format({ seriesId: 'peers', data: { id: 'wg-3', name: 'phone', country: 'CH', value: [0, 0, 70] } })).toContain(
      'connects from 🇨🇭 Switzerland',
    )
    const live = { seriesId: 'bubbles', data: { country: 'US', city: 'Ashburn', value: [0, 0, 30], tx_bytes: 10, rx_bytes: 20 } }
    expect(format(live)).toContain('↑ 10 B sent · ↓ 20 B received')
  })
})

describe('summary', () => {
  it('names the largest destinations and where peers connect from', () => {
    expect(mapSummary(data)).toBe(
      'Largest destinations: United States 5.00 GB, Germany 20.0 MB, Switzerland 3.00 KB. Peers connect from Switzerland, ZZ.',
    )
    expect(mapSummary({ ...data, peers: [], countries: [] })).toBe('No traffic with a known country in this range.')
    expect(mapSummary(null)).toBe('No data yet.')
  })
})

describe('clicks', () => {
  it('mean a country on a region or a bubble, nothing elsewhere', () => {
    expect(clickedCountry({ seriesId: 'countries', name: 'CH' })).toBe('CH')
    expect(clickedCountry({ componentType: 'geo', name: 'DE' })).toBe('DE')
    expect(clickedCountry({ seriesId: 'bubbles', data: { country: 'US' } })).toBe('US')
    expect(clickedCountry({ seriesId: 'countries', name: '#-99' })).toBeNull()
    expect(clickedCountry({ seriesId: 'lines', name: 'a → b' })).toBeNull()
  })
})
