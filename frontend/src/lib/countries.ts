/** Country names, flags and the numeric-id join for the map's shapes. */

import { COUNTRY_NAMES, NUMERIC_TO_ALPHA2 } from '@/generated/countries'

// Shapes world-atlas publishes without an ISO numeric id, joined to the code
// geolocation databases use for the same area.
const UNNUMBERED: Readonly<Record<string, string>> = {
  Kosovo: 'XK',
  Somaliland: 'SO',
  'N. Cyprus': 'CY',
}

/** English name of an alpha-2 code ("" → "Not geolocated"; unknown codes as they are). */
export function countryName(code: string | null | undefined): string {
  if (!code) return 'Not geolocated'
  return COUNTRY_NAMES[code.toUpperCase()] ?? code.toUpperCase()
}

/** Flag emoji from regional indicator letters ("" for codes that are not countries). */
export function countryFlag(code: string | null | undefined): string {
  if (!code || code.length !== 2) return ''
  const up = code.toUpperCase()
  if (!(up in COUNTRY_NAMES) || up === 'AP' || up === 'EU') return ''
  const base = 0x1f1e6
  return String.fromCodePoint(base + up.charCodeAt(0) - 65, base + up.charCodeAt(1) - 65)
}

/** Alpha-2 code of a world-atlas shape (by numeric id, else by the names above), or null. */
export function alpha2OfShape(id: string | number | undefined, name: string | undefined): string | null {
  if (id !== undefined && id !== null) {
    const code = NUMERIC_TO_ALPHA2[String(id).padStart(3, '0')]
    if (code) return code
  }
  return (name && UNNUMBERED[name]) || null
}
