import { describe, expect, it } from 'vitest'

import { exactBytes, humanBitrate, humanBytes, humanCount, humanDuration, humanPercent } from '@/lib/format'

describe('humanBytes', () => {
  it.each([
    [0, '0 B'],
    [999, '999 B'],
    [1000, '1.00 KB'],
    [1234567, '1.23 MB'],
    [12_345_678_901, '12.3 GB'],
    [123_456_789_012_345, '123 TB'],
    [-2048, '-2.05 KB'],
  ])('%d → %s', (n, text) => {
    expect(humanBytes(n)).toBe(text)
  })

  it('says so for values that are not numbers', () => {
    expect(humanBytes(Number.NaN)).toBe('–')
  })
})

describe('exact values for tooltips', () => {
  it('groups digits and names the unit', () => {
    expect(exactBytes(1234567)).toBe('1,234,567 bytes')
    expect(exactBytes(1)).toBe('1 byte')
  })
})

describe('rates, counts, shares, durations', () => {
  it('turns bytes per second into bits per second', () => {
    expect(humanBitrate(125_000)).toBe('1.00 Mbit/s')
    expect(humanBitrate(10)).toBe('80 bit/s')
  })
  it('shortens counts', () => {
    expect(humanCount(15320)).toBe('15.3k')
    expect(humanCount(7)).toBe('7')
  })
  it('never shows a tiny share as zero', () => {
    expect(humanPercent(0.01)).toBe('<0.1 %')
    expect(humanPercent(0)).toBe('0.0 %')
    expect(humanPercent(12.34)).toBe('12 %')
    expect(humanPercent(3.456)).toBe('3.5 %')
  })
  it('writes durations in the largest sensible unit', () => {
    expect(humanDuration(30)).toBe('30 s')
    expect(humanDuration(300)).toBe('5 min')
    expect(humanDuration(5400)).toBe('1.5 h')
    expect(humanDuration(3 * 86400)).toBe('3 d')
  })
})
