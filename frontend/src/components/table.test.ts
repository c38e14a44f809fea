import { describe, expect, it } from 'vitest'

import { type Column, searchRows, sortRows } from '@/components/table'

interface Row {
  name: string
  bytes: number
}
const rows: Row[] = [
  { name: 'Germany', bytes: 10 },
  { name: 'Switzerland', bytes: 300 },
  { name: 'Austria', bytes: 10 },
  { name: 'United States', bytes: 2000 },
]
const columns: Column<Row>[] = [
  { key: 'name', label: 'Country', value: (r) => r.name },
  { key: 'bytes', label: 'Bytes', numeric: true, value: (r) => r.bytes },
]

describe('sortRows', () => {
  it('sorts numbers numerically, stable for ties', () => {
    expect(sortRows(rows, columns, { key: 'bytes', desc: true }).map((r) => r.name)).toEqual([
      'United States',
      'Switzerland',
      'Germany',
      'Austria',
    ])
    expect(sortRows(rows, columns, { key: 'bytes', desc: false }).map((r) => r.bytes)).toEqual([10, 10, 300, 2000])
  })
  it('sorts text by locale and ignores unknown columns', () => {
    expect(sortRows(rows, columns, { key: 'name', desc: false })[0]?.name).toBe('Austria')
    expect(sortRows(rows, columns, { key: 'nope', desc: false })).toEqual(rows)
  })
})

describe('searchRows', () => {
  it('matches every word, case-insensitively', () => {
    expect(searchRows(rows, 'united STATES', (r) => r.name).map((r) => r.name)).toEqual(['United States'])
    expect(searchRows(rows, '  ', (r) => r.name)).toHaveLength(4)
    expect(searchRows(rows, 'land', (r) => r.name).map((r) => r.name)).toEqual(['Switzerland'])
  })
})
