/** Table columns several pages share (traffic values, countries). */

import type { TrafficValues } from '@/api/types'
import type { Column } from '@/components/table'
import { countryFlag, countryName } from '@/lib/countries'
import { exactBytes, humanBytes, humanPercent } from '@/lib/format'

/** ↑ sent, ↓ received, total and percent. */
export function trafficColumns<T extends TrafficValues>(): Column<T>[] {
  return [
    { key: 'tx', label: '↑ Sent', numeric: true, value: (r) => r.tx_bytes, display: (r) => humanBytes(r.tx_bytes), title: (r) => exactBytes(r.tx_bytes) },
    { key: 'rx', label: '↓ Received', numeric: true, value: (r) => r.rx_bytes, display: (r) => humanBytes(r.rx_bytes), title: (r) => exactBytes(r.rx_bytes) },
    { key: 'total', label: 'Total', numeric: true, value: (r) => r.total_bytes, display: (r) => humanBytes(r.total_bytes), title: (r) => exactBytes(r.total_bytes) },
    { key: 'percent', label: '%', numeric: true, value: (r) => r.percent, display: (r) => humanPercent(r.percent), title: (r) => `${r.percent.toFixed(4)} %` },
  ]
}

/** "🇨🇭 Switzerland" (or "Not geolocated"). */
export function countryLabel(code: string, name?: string | null): string {
  const flag = countryFlag(code)
  return `${flag ? flag + ' ' : ''}${name || countryName(code)}`
}
