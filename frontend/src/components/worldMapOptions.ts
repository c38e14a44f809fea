/**
 * The world map's ECharts option, computed from data: a pure function, so the layers' rules
 * (log scale, bubble sizes, top-N lines, toggles) are tested without a canvas.
 */

import type { MapLine } from '@/api/types'
import { countryFlag, countryName } from '@/lib/countries'
import type { MapOption } from '@/lib/echarts'
import { exactBytes, humanBytes, humanPercent } from '@/lib/format'
import type { Palette } from '@/lib/palette'

export const MAP_NAME = 'world'

export interface MapCountryDatum {
  code: string
  name?: string | null
  total_bytes: number
  /** Sent (outbound) and received (inbound) bytes, when the source gives them. */
  tx_bytes?: number
  rx_bytes?: number
  flows?: number
}

export interface MapPlaceDatum {
  country: string
  city: string
  latitude: number
  longitude: number
  total_bytes: number
  /** Sent and received bytes, when the source gives them (the live feed does). */
  tx_bytes?: number
  rx_bytes?: number
  flows?: number
}

export interface MapPeerDatum {
  id: string
  name: string | null
  /** Where the peer connects from: its endpoint's coordinates, else its country's centroid. */
  latitude: number | null
  longitude: number | null
  country?: string | null
  total_bytes: number
}

export interface WorldMapData {
  home: { latitude: number; longitude: number } | null
  countries: MapCountryDatum[]
  points: MapPlaceDatum[]
  peers: MapPeerDatum[]
  lines: MapLine[]
  /** Everything the range carried (percentages are of this). */
  totalBytes: number
}

export interface MapLayers {
  choropleth: boolean
  bubbles: boolean
  peers: boolean
  lines: boolean
}

export const ALL_LAYERS: MapLayers = { choropleth: true, bubbles: true, peers: true, lines: true }

export interface MapOptionSettings {
  layers: MapLayers
  palette: Palette
  /** Flow lines drawn: the largest by bytes. */
  topLines: number
  /** [lon, lat] per alpha-2, for countries that have traffic but no located city. */
  centroids: Record<string, [number, number]>
  /** Moving effects on the lines (off for prefers-reduced-motion). */
  animate: boolean
}

/** Escape text for ECharts' HTML tooltips (city and AS names come from outside data). */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
}

/** Extent of the choropleth's colour scale in log10(bytes), whole decades, never empty. */
export function logExtent(bytes: number[]): [number, number] {
  const positive = bytes.filter((b) => b > 0)
  if (!positive.length) return [0, 1]
  const lo = Math.floor(Math.log10(Math.min(...positive)))
  const hi = Math.ceil(Math.log10(Math.max(...positive)))
  return [lo, hi > lo ? hi : lo + 1]
}

/** Bubble diameter in pixels: area grows with bytes (sqrt), between 5 and 36. */
export function bubbleSize(bytes: number, maxBytes: number): number {
  if (maxBytes <= 0 || bytes <= 0) return 5
  return 5 + 31 * Math.sqrt(Math.min(1, bytes / maxBytes))
}

function share(bytes: number, total: number): number {
  return total > 0 ? (100 * bytes) / total : 0
}

/** Tooltip of a country or place: flag, name, bytes ↑/↓ (exact in the title line), percent. */
export function trafficTooltip(
  title: { code: string; name?: string | null; city?: string },
  bytes: { total_bytes: number; tx_bytes?: number; rx_bytes?: number; flows?: number },
  totalBytes: number,
): string {
  const flag = countryFlag(title.code)
  const country = title.name || countryName(title.code)
  const head = `${flag ? flag + ' ' : ''}${escapeHtml(title.city ? `${title.city}, ${country}` : country)}`
  const lines = [`<strong>${head}</strong>`]
  lines.push(`${humanBytes(bytes.total_bytes)} <span class="tt-exact">(${exactBytes(bytes.total_bytes)})</span>`)
  if (bytes.tx_bytes !== undefined && bytes.rx_bytes !== undefined) {
    lines.push(`↑ ${humanBytes(bytes.tx_bytes)} sent · ↓ ${humanBytes(bytes.rx_bytes)} received`)
  }
  lines.push(`${humanPercent(share(bytes.total_bytes, totalBytes))} of all traffic`)
  if (bytes.flows !== undefined) lines.push(`${bytes.flows.toLocaleString('en-US')} flows`)
  return lines.join('<br>')
}

interface BubbleDatum {
  name: string
  value: [number, number, number]
  symbolSize: number
  country: string
  city: string
  tx_bytes?: number
  rx_bytes?: number
  flows?: number
}

/** Bubbles: located cities, plus a country's centroid when none of its traffic has a city. */
export function bubbleData(data: WorldMapData, centroids: Record<string, [number, number]>): BubbleDatum[] {
  const located = new Set(data.points.filter((p) => p.total_bytes > 0).map((p) => p.country))
  const out: Omit<BubbleDatum, 'symbolSize'>[] = []
  for (const p of data.points) {
    if (p.total_bytes <= 0) continue
    out.push({
      name: p.city ? `${p.city}, ${p.country}` : p.country,
      value: [p.longitude, p.latitude, p.total_bytes],
      country: p.country,
      city: p.city,
      tx_bytes: p.tx_bytes,
      rx_bytes: p.rx_bytes,
      flows: p.flows,
    })
  }
  for (const c of data.countries) {
    const at = centroids[c.code]
    if (c.total_bytes <= 0 || !c.code || located.has(c.code) || !at) continue
    out.push({
      name: c.code,
      value: [at[0], at[1], c.total_bytes],
      country: c.code,
      city: '',
      tx_bytes: c.tx_bytes,
      rx_bytes: c.rx_bytes,
      flows: c.flows,
    })
  }
  const max = Math.max(0, ...out.map((b) => b.value[2]))
  return out
    .sort((a, b) => b.value[2] - a.value[2])
    .map((b) => ({ ...b, symbolSize: bubbleSize(b.value[2], max) }))
}

interface PeerDatum {
  name: string
  value: [number, number, number]
  id: string
  country: string
}

/** Peers where they connect from: the endpoint's coordinates, else its country's centroid. */
export function peerData(data: WorldMapData, centroids: Record<string, [number, number]>): PeerDatum[] {
  const out: PeerDatum[] = []
  for (const x of data.peers) {
    const country = x.country ?? ''
    const at: [number, number] | undefined =
      x.latitude !== null && x.longitude !== null ? [x.longitude, x.latitude] : country ? centroids[country] : undefined
    if (!at) continue
    out.push({ name: x.name || x.id, value: [at[0], at[1], x.total_bytes], id: x.id, country })
  }
  return out
}

interface LineDatum {
  coords: [[number, number], [number, number]]
  name: string
  total_bytes: number
  lineStyle: { width: number; opacity: number }
}

/**
 * The ``top`` largest flows as lines, starting at the peer's location or else at home. With no
 * city-located flows at all (country-level databases, such as the bundled ones), lines go from
 * home to the centroids of the largest countries instead, so the map still shows where traffic goes.
 */
export function lineData(data: WorldMapData, top: number, centroids: Record<string, [number, number]> = {}): LineDatum[] {
  const lines = data.lines.length ? data.lines : countryLines(data, centroids)
  const drawable = lines
    .map((l) => {
      const fromLat = l.from_latitude ?? data.home?.latitude
      const fromLon = l.from_longitude ?? data.home?.longitude
      if (fromLat === undefined || fromLon === undefined || l.total_bytes <= 0) return null
      return { l, from: [fromLon, fromLat] as [number, number] }
    })
    .filter((x): x is { l: MapLine; from: [number, number] } => x !== null)
    .sort((a, b) => b.l.total_bytes - a.l.total_bytes)
    .slice(0, Math.max(0, top))
  const max = drawable[0]?.l.total_bytes ?? 1
  return drawable.map(({ l, from }) => {
    const rel = l.total_bytes / max
    const who = l.peer_name || l.peer || 'this site'
    const where = l.city ? `${l.city}, ${l.country}` : l.country
    return {
      coords: [from, [l.to_longitude, l.to_latitude]],
      name: `${who} → ${where}`,
      total_bytes: l.total_bytes,
      lineStyle: { width: 1 + 3 * rel, opacity: 0.35 + 0.5 * rel },
    }
  })
}

/** Lines from home to each country with traffic, at its centroid (no peer: "this site"). */
function countryLines(data: WorldMapData, centroids: Record<string, [number, number]>): MapLine[] {
  if (!data.home) return []
  const out: MapLine[] = []
  for (const c of data.countries) {
    const at = centroids[c.code]
    if (!c.code || c.total_bytes <= 0 || !at) continue
    out.push({
      peer: '',
      peer_name: null,
      country: c.code,
      city: '',
      from_latitude: data.home.latitude,
      from_longitude: data.home.longitude,
      to_latitude: at[1],
      to_longitude: at[0],
      total_bytes: c.total_bytes,
      intensity: 0,
    })
  }
  return out
}

type TooltipParams = { seriesId?: string; name?: string; data?: unknown }

/** The full option: geo base map, then each enabled layer as a series with a stable id. */
export function buildMapOption(data: WorldMapData, s: MapOptionSettings): MapOption {
  const { palette: p, layers } = s
  const total = data.totalBytes
  const countries = data.countries.filter((c) => c.code && c.total_bytes > 0)
  const [lo, hi] = logExtent(countries.map((c) => c.total_bytes))
  const series: NonNullable<MapOption['series']> = []

  // Always present (hover and click on every country); it colours the regions only with the choropleth.
  series.push({
    id: 'countries',
    type: 'map',
    geoIndex: 0,
    data: countries.map((c) => ({
      name: c.code,
      value: layers.choropleth ? Math.log10(c.total_bytes) : undefined,
      bytes: c.total_bytes,
      tx_bytes: c.tx_bytes,
      rx_bytes: c.rx_bytes,
      flows: c.flows,
      label_name: c.name,
    })),
  })
  if (layers.bubbles) {
    series.push({
      id: 'bubbles',
      type: 'scatter',
      coordinateSystem: 'geo',
      geoIndex: 0,
      data: bubbleData(data, s.centroids),
      itemStyle: { color: p.bubble, borderColor: p.dark ? '#ffe0b0' : '#ffffff', borderWidth: 0.6 },
      emphasis: { scale: 1.2 },
      zlevel: 2,
    })
  }
  if (layers.lines) {
    series.push({
      id: 'lines',
      type: 'lines',
      coordinateSystem: 'geo',
      geoIndex: 0,
      data: lineData(data, s.topLines, s.centroids),
      lineStyle: { color: p.line, curveness: 0.25 },
      effect: {
        show: s.animate,
        period: 5,
        trailLength: 0.25,
        symbol: 'arrow',
        symbolSize: 5,
        color: p.line,
      },
      zlevel: 3,
      silent: false,
    })
  }
  if (layers.peers) {
    const peers = peerData(data, s.centroids)
    const home = data.home ? [{ name: 'This site', value: [data.home.longitude, data.home.latitude, total], id: '' }] : []
    series.push({
      id: 'peers',
      type: 'scatter',
      coordinateSystem: 'geo',
      geoIndex: 0,
      symbol: 'diamond',
      symbolSize: 10,
      data: [...home, ...peers],
      itemStyle: { color: p.peer, borderColor: p.text, borderWidth: 0.5 },
      zlevel: 4,
    })
  }

  const option: MapOption = {
    backgroundColor: 'transparent',
    animation: s.animate,
    tooltip: {
      trigger: 'item',
      backgroundColor: p.tooltipBg,
      borderColor: p.border,
      textStyle: { color: p.text },
      formatter: (params: unknown) => tooltipFor(params as TooltipParams, total),
    },
    geo: {
      map: MAP_NAME,
      roam: true,
      scaleLimit: { min: 1, max: 12 },
      zoom: 1.15,
      top: 8,
      bottom: 8,
      itemStyle: { areaColor: p.land, borderColor: p.border, borderWidth: 0.5 },
      emphasis: { itemStyle: { areaColor: p.hover }, label: { show: false } },
      select: { disabled: true },
      label: { show: false },
    },
    series,
  }
  if (layers.choropleth && countries.length) {
    option.visualMap = {
      type: 'continuous',
      seriesIndex: 0,
      min: lo,
      max: hi,
      calculable: false,
      orient: 'horizontal',
      left: 12,
      bottom: 12,
      itemWidth: 10,
      itemHeight: 120,
      text: [humanBytes(10 ** hi), humanBytes(10 ** lo)],
      textStyle: { color: p.muted },
      inRange: { color: p.ramp },
      formatter: (v: unknown) => humanBytes(10 ** Number(v)),
    }
  }
  return option
}

function tooltipFor(params: TooltipParams, total: number): string {
  const d = (params.data ?? {}) as Record<string, unknown>
  switch (params.seriesId) {
    case 'bubbles':
      return trafficTooltip(
        { code: String(d.country ?? ''), city: String(d.city ?? '') },
        {
          total_bytes: (d.value as number[] | undefined)?.[2] ?? 0,
          tx_bytes: d.tx_bytes as number | undefined,
          rx_bytes: d.rx_bytes as number | undefined,
          flows: d.flows as number | undefined,
        },
        total,
      )
    case 'lines':
      return `${escapeHtml(String(d.name ?? ''))}<br>${humanBytes(Number(d.total_bytes ?? 0))} <span class="tt-exact">(${exactBytes(Number(d.total_bytes ?? 0))})</span>`
    case 'peers': {
      const bytes = (d.value as number[] | undefined)?.[2] ?? 0
      const who = d.id ? `Peer ${escapeHtml(String(d.name ?? ''))}` : 'This site'
      const code = String(d.country ?? '')
      const from = code ? `<br>connects from ${countryFlag(code)} ${escapeHtml(countryName(code))}` : ''
      return `<strong>${who}</strong>${from}<br>${humanBytes(bytes)} <span class="tt-exact">(${exactBytes(bytes)})</span>`
    }
    default: {
      const code = params.name ?? ''
      if (d.bytes === undefined) {
        return `${countryFlag(code)} ${escapeHtml(code.startsWith('#') ? 'Unknown area' : countryName(code))}<br>no traffic`
      }
      return trafficTooltip(
        { code, name: d.label_name as string | null | undefined },
        {
          total_bytes: Number(d.bytes),
          tx_bytes: d.tx_bytes as number | undefined,
          rx_bytes: d.rx_bytes as number | undefined,
          flows: d.flows as number | undefined,
        },
        total,
      )
    }
  }
}

/** What the map shows, in words (the canvas says nothing to a screen reader). */
export function mapSummary(data: WorldMapData | null): string {
  if (!data) return 'No data yet.'
  const top = [...data.countries]
    .filter((c) => c.code)
    .sort((a, b) => b.total_bytes - a.total_bytes)
    .slice(0, 5)
    .map((c) => `${countryName(c.code)} ${humanBytes(c.total_bytes)}`)
  const dest = top.length ? `Largest destinations: ${top.join(', ')}.` : 'No traffic with a known country in this range.'
  const from = [...new Set(data.peers.map((p) => p.country).filter((c): c is string => !!c))].map((c) => countryName(c))
  return from.length ? `${dest} Peers connect from ${from.join(', ')}.` : dest
}

/** The country a click on the map means, or null (a click on a line, a peer, the sea). */
export function clickedCountry(params: { seriesId?: string; componentType?: string; name?: string; data?: unknown }): string | null {
  if (params.seriesId === 'bubbles') {
    const c = (params.data as { country?: string } | undefined)?.country
    return c || null
  }
  if (params.seriesId === 'countries' || params.componentType === 'geo') {
    const name = params.name ?? ''
    return /^[A-Z]{2}$/.test(name) ? name : null
  }
  return null
}
