import { mount } from '@vue/test-utils'
import { describe, expect, it } from 'vitest'

import RangePicker from '@/components/RangePicker.vue'
import { parseQuery } from '@/lib/range'

describe('RangePicker', () => {
  it('marks the current range and emits a preset', async () => {
    const w = mount(RangePicker, { props: { state: parseQuery({ range: '7d' }) } })
    expect(w.get('[data-range="7d"]').attributes('aria-pressed')).toBe('true')
    expect(w.get('[data-range="24h"]').attributes('aria-pressed')).toBe('false')
    await w.get('[data-range="live"]').trigger('click')
    expect(w.emitted('change')).toEqual([['live', '', '']])
  })

  it('asks for custom bounds and checks them before emitting', async () => {
    const w = mount(RangePicker, { props: { state: parseQuery({}) } })
    await w.get('[data-range="custom"]').trigger('click')
    expect(w.emitted('change')).toBeUndefined()
    const from = w.get('input[name="from"]')
    expect((from.element as HTMLInputElement).value).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}$/)
    await from.setValue('2026-11-02T10:00')
    await w.get('input[name="to"]').setValue('2026-11-01T10:00')
    await w.get('form').trigger('submit')
    expect(w.get('[role="alert"]').text()).toBe('The end must be after the start.')
    expect(w.emitted('change')).toBeUndefined()
    await w.get('input[name="to"]').setValue('2026-11-03T00:00')
    await w.get('form').trigger('submit')
    expect(w.emitted('change')).toEqual([['custom', '2026-11-02T10:00', '2026-11-03T00:00']])
  })

  it('is a labelled group of buttons for keyboards and screen readers', () => {
    const w = mount(RangePicker, { props: { state: parseQuery({}) } })
    const group = w.get('[role="group"]')
    expect(group.attributes('aria-label')).toBe('Time range')
    expect(group.findAll('button').map((b) => b.text())).toEqual(['Live', '1 hour', '24 hours', '7 days', '30 days', 'Custom'])
  })
})
