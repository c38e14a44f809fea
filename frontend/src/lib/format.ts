/** Human units for the screen, exact values for tooltips and titles. */

const BYTE_UNITS = ['B', 'KB', 'MB', 'GB', 'TB', 'PB', 'EB'] as const
const COUNT_UNITS = ['', 'k', 'M', 'G', 'T'] as const
const integer = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 })

function scaled(value: number, units: readonly string[], space: string): string {
  if (!Number.isFinite(value)) return '–'
  const sign = value < 0 ? '-' : ''
  let v = Math.abs(value)
  let i = 0
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000
    i += 1
  }
  // 3 significant digits: 1.23 GB, 12.3 GB, 123 GB
  const text = i === 0 ? String(Math.round(v)) : v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2)
  const unit = units[i] ?? ''
  return `${sign}${text}${unit ? space + unit : ''}`
}

/** 1234567 → "1.23 MB" (decimal units, as network tools count). */
export function humanBytes(bytes: number): string {
  return scaled(bytes, BYTE_UNITS, ' ')
}

/** Bytes per second as bits per second: 125000 → "1.00 Mbit/s". */
export function humanBitrate(bytesPerSecond: number): string {
  return scaled(bytesPerSecond * 8, ['bit/s', 'kbit/s', 'Mbit/s', 'Gbit/s', 'Tbit/s'], ' ')
}

/** 15320 → "15.3k" (packets, flows). */
export function humanCount(n: number): string {
  return scaled(n, COUNT_UNITS, '')
}

/** 1234567 → "1,234,567 bytes" (the exact value, for tooltips). */
export function exactBytes(bytes: number): string {
  return `${integer.format(bytes)} ${bytes === 1 ? 'byte' : 'bytes'}`
}

/** 1234567 → "1,234,567". */
export function exactCount(n: number): string {
  return integer.format(n)
}

/** 12.3456 → "12.3 %"; tiny shares show as "<0.1 %" rather than a misleading 0. */
export function humanPercent(percent: number): string {
  if (!Number.isFinite(percent)) return '–'
  if (percent > 0 && percent < 0.1) return '<0.1 %'
  return `${percent >= 10 ? percent.toFixed(0) : percent.toFixed(1)} %`
}

/** Epoch seconds → local "2026-11-22 14:05" (seconds shown when the step is below a minute). */
export function formatTime(epochSeconds: number, withSeconds = false): string {
  const d = new Date(epochSeconds * 1000)
  const p = (n: number) => String(n).padStart(2, '0')
  const date = `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}`
  const time = `${p(d.getHours())}:${p(d.getMinutes())}${withSeconds ? ':' + p(d.getSeconds()) : ''}`
  return `${date} ${time}`
}

/** Seconds → "5 min", "2 h", "3 d". */
export function humanDuration(seconds: number): string {
  if (seconds < 60) return `${Math.round(seconds)} s`
  if (seconds < 3600) return `${Math.round(seconds / 60)} min`
  if (seconds < 86400) return `${+(seconds / 3600).toFixed(1)} h`
  return `${+(seconds / 86400).toFixed(1)} d`
}

/** Epoch seconds in the past → "3 min ago" (relative to ``now``, epoch seconds). */
export function timeAgo(epochSeconds: number, now = Date.now() / 1000): string {
  const delta = Math.max(0, now - epochSeconds)
  return delta < 5 ? 'just now' : `${humanDuration(delta)} ago`
}
