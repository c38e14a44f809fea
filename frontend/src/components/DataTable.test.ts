import { mount } from '@vue/test-utils'
import { describe, expect, it } from 'vitest'
import { createMemoryHistory, createRouter } from 'vue-router'

import DataTable from '@/components/DataTable.vue'
import type { Column } from '@/components/table'

interface Row {
  code: string
  bytes: number
}
const rows: Row[] = [
  { code: 'DE', bytes: 2_000_000 },
  { code: 'CH', bytes: 30_000_000 },
  { code: 'AT', bytes: 500 },
]
const columns: Column<Row>[] = [
  { key: 'code', label: 'Country', value: (r) => r.code },
  { key: 'bytes', label: 'Bytes', numeric: true, value: (r) => r.bytes, display: (r) => `${r.bytes / 1e6} MB`, title: (r) => `${r.bytes} bytes` },
]

function make(extra: Record<string, unknown> = {}) {
  const router = createRouter({ history: createMemoryHistory(), routes: [{ path: '/', component: { template: '<div/>' } }] })
  return mount(DataTable<Row>, {
    props: { rows, columns, caption: 'Countries', rowKey: (r: Row) => r.code, ...extra },
    global: { plugins: [router] },
  })
}

const codes = (w: ReturnType<typeof make>) => w.findAll('tbody tr').map((tr) => tr.find('td').text())

describe('DataTable', () => {
  it('sorts by a header button, toggling direction, with aria-sort', async () => {
    const w = make({ sort: { key: 'bytes', desc: true } })
    expect(codes(w)).toEqual(['CH', 'DE', 'AT'])
    const th = w.findAll('th')[1]!
    expect(th.attributes('aria-sort')).toBe('descending')
    await th.get('button').trigger('click')
    expect(codes(w)).toEqual(['AT', 'DE', 'CH'])
    expect(th.attributes('aria-sort')).toBe('ascending')
    await w.findAll('th')[0]!.get('button').trigger('click')
    expect(codes(w)).toEqual(['AT', 'CH', 'DE'])
    expect(th.attributes('aria-sort')).toBe('none')
  })

  it('shows the exact value on hover', () => {
    const w = make({ sort: { key: 'bytes', desc: true } })
    const cell = w.findAll('tbody tr')[0]!.findAll('td')[1]!
    expect(cell.text()).toBe('30 MB')
    expect(cell.attributes('title')).toBe('30000000 bytes')
  })

  it('searches and says when nothing matches', async () => {
    const w = make({ searchText: (r: Row) => r.code })
    await w.get('input[type="search"]').setValue('ch')
    expect(codes(w)).toEqual(['CH'])
    await w.get('input[type="search"]').setValue('zz')
    expect(w.get('tbody').text()).toContain('Nothing matches the search.')
  })

  it('links CSV and JSON exports of the same query', () => {
    const w = make({ exportBy: 'country', exportQuery: { since: '7d', peer: ['wg-1'] } })
    expect(w.get('[data-export="country-csv"]').attributes('href')).toBe('/api/metrics/geo/export?since=7d&peer=wg-1&by=country&format=csv')
    expect(w.get('[data-export="country-json"]').attributes('href')).toContain('format=json')
  })

  it('marks columns that wrap or that a phone leaves out, in the header and every cell', () => {
    const cols: Column<Row>[] = [
      { ...columns[0]!, wrap: true },
      { ...columns[1]!, hideOnPhone: true },
    ]
    const w = make({ columns: cols })
    const classes = (sel: string) => w.findAll(sel).map((e) => e.classes())
    expect(classes('th')[0]).toContain('wrap')
    expect(classes('th')[1]).toEqual(expect.arrayContaining(['num', 'phone-hide']))
    for (const tr of w.findAll('tbody tr')) {
      const [name, bytes] = tr.findAll('td')
      expect(name!.classes()).toContain('wrap')
      expect(bytes!.classes()).toContain('phone-hide')
      expect(bytes!.classes()).not.toContain('wrap')
    }
  })

  it('shows the first rows of a long list until asked for all', async () => {
    const w = make({ sort: { key: 'bytes', desc: true }, maxRows: 2 })
    expect(codes(w)).toEqual(['CH', 'DE'])
    const more = w.get('button.more')
    expect(more.text()).toBe('Show all 3 rows')
    await more.trigger('click')
    expect(codes(w)).toEqual(['CH', 'DE', 'AT'])
    expect(w.get('button.more').text()).toBe('Show the first 2 rows')
    expect(make({ maxRows: 3 }).find('button.more').exists()).toBe(false)
  })
})
