import { describe, expect, it } from 'vitest'

import type { Series, TimeseriesResponse } from '@/api/types'
import { buildChartOption, chartLines, seriesName } from '@/components/chartOptions'
import { DARK } from '@/lib/palette'

const totals = { total_bytes: 0, tx_bytes: 0, rx_bytes: 0, packets: 0, flows: 0 }

function series(rank: number, key: Series['key'], attrs: Series['attrs'], values: number[]): Series {
  return { rank, key, attrs, totals, total_bytes: values, tx_bytes: values, rx_bytes: values, packets: values, flows: values }
}

function response(by: string[], s: Series[], other: Series | null = null): TimeseriesResponse {
  return {
    requested_since: 0,
    requested_until: 180,
    since: 0,
    until: 180,
    by,
    step: 60,
    timestamps: [0, 60, 120],
    limit: 10,
    groups: s.length,
    series: s,
    other,
    totals,
  }
}

describe('chart lines', () => {
  it('splits unsplit traffic into sent and received', () => {
    const s: Series = { ...series(1, {}, {}, [3, 3, 3]), tx_bytes: [1, 2, 3], rx_bytes: [2, 1, 0] }
    expect(chartLines(response([], [s]))).toEqual([
      { name: '↑ Sent', values: [1, 2, 3] },
      { name: '↓ Received', values: [2, 1, 0] },
    ])
    expect(chartLines(response([], []))[0]?.values).toEqual([0, 0, 0])
  })

  it('draws one line per key, and the rest as other', () => {
    const r = response(
      ['country'],
      [series(1, { country: 'CH' }, { country_name: 'Switzerland' }, [5, 5, 5])],
      series(0, {}, {}, [1, 1, 1]),
    )
    expect(chartLines(r).map((l) => l.name)).toEqual(['🇨🇭 Switzerland', 'Other'])
  })

  it('names series by their key and attributes', () => {
    expect(seriesName(series(1, { asn: 13335 }, { as_org: 'Cloudflare' }, []))).toBe('AS13335 Cloudflare')
    expect(seriesName(series(2, { peer: 'wg-1' }, { peer_name: 'laptop' }, []))).toBe('laptop')
    expect(seriesName(series(3, { direction: 1 }, { direction_name: 'outbound' }, []))).toBe('outbound')
  })
})

describe('chart option', () => {
  it('stacks areas with rates on the axis and exact bytes in the tooltip', () => {
    const r = response(['country'], [series(1, { country: 'DE' }, {}, [60_000, 0, 120_000])])
    const o = buildChartOption(r, DARK)
    const s = o.series as { stack?: string; data: number[] }[]
    expect(s[0]?.stack).toBe('total')
    expect(s[0]?.data).toEqual([60_000, 0, 120_000])
    const y = o.yAxis as { axisLabel: { formatter: (v: number) => string } }
    expect(y.axisLabel.formatter(60_000)).toBe('8.00 kbit/s') // 60 kB per 60 s step
    const tip = o.tooltip as { valueFormatter: (v: number) => string }
    expect(tip.valueFormatter(60_000)).toBe('60.0 KB (8.00 kbit/s) · 60,000 bytes')
    expect((o.xAxis as { data: string[] }).data).toHaveLength(3)
  })
})
