/** Assemble what the world map draws from the API's answers (map, countries, live feed). */

import type { CountriesResponse, LiveMessage, MapResponse } from '@/api/types'
import type { WorldMapData } from '@/components/worldMapOptions'

/**
 * The map's data: places, peers and lines from /map; per-country ↑/↓ from /countries; with a
 * live message, its last seconds replace the countries and places (peers and lines stay).
 */
export function worldMapData(
  map: MapResponse | null,
  countries: CountriesResponse | null,
  live: LiveMessage | null = null,
): WorldMapData | null {
  if (!map && !countries && !live) return null
  const detail = new Map((countries?.rows ?? []).map((r) => [r.code, r]))
  if (live) {
    return {
      home: map?.home ?? null,
      countries: live.countries.map((c) => ({
        code: c.code,
        name: c.name,
        total_bytes: c.total_bytes,
        tx_bytes: c.tx_bytes,
        rx_bytes: c.rx_bytes,
        flows: c.flows,
      })),
      points: live.points,
      peers: map?.peers ?? [],
      lines: map?.lines ?? [],
      totalBytes: live.totals.total_bytes,
    }
  }
  const base = map?.countries ?? countries?.rows.map((r) => ({ code: r.code, name: r.name, total_bytes: r.total_bytes, flows: r.flows })) ?? []
  return {
    home: map?.home ?? null,
    countries: base.map((c) => {
      const d = detail.get(c.code)
      return {
        code: c.code,
        name: c.name,
        total_bytes: c.total_bytes,
        flows: c.flows,
        tx_bytes: d?.tx_bytes,
        rx_bytes: d?.rx_bytes,
      }
    }),
    points: map?.points ?? [],
    peers: map?.peers ?? [],
    lines: map?.lines ?? [],
    totalBytes: map?.totals.total_bytes ?? countries?.totals.total_bytes ?? 0,
  }
}
