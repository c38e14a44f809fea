/** The traffic chart's ECharts option from a time series answer (pure, tested). */

import type { Series, TimeseriesResponse } from '@/api/types'
import { countryFlag, countryName } from '@/lib/countries'
import type { ChartOption } from '@/lib/echarts'
import { exactBytes, formatTime, humanBitrate, humanBytes } from '@/lib/format'
import type { Palette } from '@/lib/palette'

export interface ChartLine {
  name: string
  values: number[]
}

/** A series' display name from its key ("🇨🇭 Switzerland", "AS13335 Cloudflare", "wg-1"). */
export function seriesName(s: Series): string {
  if (s.rank === 0) return 'Other'
  const parts: string[] = []
  for (const [k, v] of Object.entries(s.key)) {
    if (k === 'country') parts.push(`${countryFlag(String(v))} ${countryName(String(v))}`.trim())
    else if (k === 'asn') {
      const org = s.attrs.as_org
      parts.push(`AS${v}${org ? ' ' + String(org) : ''}`)
    } else if (k === 'peer') parts.push(String(s.attrs.peer_name ?? v) || 'no peer')
    else if (k === 'direction') parts.push(String(s.attrs.direction_name ?? v))
    else parts.push(String(v))
  }
  return parts.join(' · ') || 'All traffic'
}

/**
 * The lines to draw: with no split, sent and received; else one line per series (and "other").
 */
export function chartLines(ts: TimeseriesResponse): ChartLine[] {
  if (!ts.by.length) {
    const s = ts.series[0]
    const zero = ts.timestamps.map(() => 0)
    return [
      { name: '↑ Sent', values: s?.tx_bytes ?? zero },
      { name: '↓ Received', values: s?.rx_bytes ?? zero },
    ]
  }
  const out = ts.series.map((s) => ({ name: seriesName(s), values: s.total_bytes }))
  if (ts.other) out.push({ name: 'Other', values: ts.other.total_bytes })
  return out
}

/** Stacked areas of bytes per step; the axis shows rates, tooltips the exact bytes. */
export function buildChartOption(ts: TimeseriesResponse, palette: Palette, stacked = true): ChartOption {
  const lines = chartLines(ts)
  const step = ts.step || 1
  const withSeconds = step < 60
  return {
    backgroundColor: 'transparent',
    color: palette.series,
    animation: false,
    grid: { left: 8, right: 16, top: 36, bottom: 8, containLabel: true },
    legend: { type: 'scroll', top: 0, textStyle: { color: palette.text }, pageTextStyle: { color: palette.muted } },
    tooltip: {
      trigger: 'axis',
      backgroundColor: palette.tooltipBg,
      borderColor: palette.border,
      textStyle: { color: palette.text },
      valueFormatter: (v) => {
        const n = Number(v)
        return `${humanBytes(n)} (${humanBitrate(n / step)}) · ${exactBytes(n)}`
      },
    },
    dataZoom: [{ type: 'inside', xAxisIndex: 0 }],
    xAxis: {
      type: 'category',
      boundaryGap: false,
      data: ts.timestamps.map((t) => formatTime(t, withSeconds)),
      axisLabel: { color: palette.muted },
      axisLine: { lineStyle: { color: palette.border } },
    },
    yAxis: {
      type: 'value',
      axisLabel: { color: palette.muted, formatter: (v: number) => humanBitrate(v / step) },
      splitLine: { lineStyle: { color: palette.border, opacity: 0.4 } },
    },
    series: lines.map((l) => ({
      name: l.name,
      type: 'line',
      data: l.values,
      showSymbol: false,
      stack: stacked ? 'total' : undefined,
      areaStyle: { opacity: stacked ? 0.35 : 0.1 },
      lineStyle: { width: 1.2 },
      emphasis: { focus: 'series' },
    })),
  }
}
