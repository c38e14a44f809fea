import type { Topology } from 'topojson-specification'
import topo from 'world-atlas/countries-110m.json'
import { describe, expect, it } from 'vitest'

import { COUNTRY_NAMES, NUMERIC_TO_ALPHA2 } from '@/generated/countries'
import { alpha2OfShape, countryFlag, countryName } from '@/lib/countries'
import { countryCentroids, countryShapes, flatRing } from '@/lib/worldGeo'

const shapes = countryShapes(topo as unknown as Topology)

describe('country shapes', () => {
  it('names every shape of world-atlas by its alpha-2 code', () => {
    const unnamed = shapes.features.filter((f) => f.properties.name.startsWith('#'))
    expect(unnamed.map((f) => f.properties.label)).toEqual([])
    expect(shapes.features.length).toBe(177)
    const names = new Set(shapes.features.map((f) => f.properties.name))
    for (const code of ['CH', 'US', 'BR', 'RU', 'AU', 'XK', 'JP', 'ZA']) expect(names.has(code)).toBe(true)
  })

  it('draws flat: no edge crosses the whole map', () => {
    for (const f of shapes.features) {
      const polys = f.geometry.type === 'Polygon' ? [f.geometry.coordinates] : f.geometry.coordinates
      for (const ring of polys.flat()) {
        for (let i = 1; i < ring.length; i += 1) {
          const alongPole = Math.abs(ring[i]?.[1] ?? 0) === 90 && Math.abs(ring[i - 1]?.[1] ?? 0) === 90
          if (alongPole) continue // the map's bottom edge, drawn on purpose
          expect(Math.abs((ring[i]?.[0] ?? 0) - (ring[i - 1]?.[0] ?? 0)), f.properties.label).toBeLessThanOrEqual(180)
        }
      }
    }
  })

  it('closes a ring around the pole along the pole', () => {
    const ring = flatRing([
      [170, -70],
      [180, -72],
      [-180, -72],
      [-170, -70],
      [0, -65],
      [170, -70],
    ])
    expect(ring.slice(1, 7)).toEqual([
      [180, -72],
      [180, -72],
      [180, -90],
      [-180, -90],
      [-180, -72],
      [-180, -72],
    ])
  })

  it('joins by the ISO numeric id, zero-padded', () => {
    expect(alpha2OfShape('756', 'Switzerland')).toBe('CH')
    expect(alpha2OfShape(36, 'Australia')).toBe('AU')
    expect(alpha2OfShape(undefined, 'Kosovo')).toBe('XK')
    expect(alpha2OfShape(undefined, 'Atlantis')).toBeNull()
  })

  it('has a generated table that agrees with itself', () => {
    for (const code of Object.values(NUMERIC_TO_ALPHA2)) expect(COUNTRY_NAMES[code]).toBeTruthy()
  })
})

describe('centroids', () => {
  const c = countryCentroids(shapes)
  const near = (code: string, lon: number, lat: number, tolerance: number) => {
    const at = c[code]
    expect(at, code).toBeDefined()
    expect(Math.abs((at?.[0] ?? 999) - lon), `${code} longitude`).toBeLessThan(tolerance)
    expect(Math.abs((at?.[1] ?? 999) - lat), `${code} latitude`).toBeLessThan(tolerance)
  }

  it('puts a country’s bubble inside its main land', () => {
    near('CH', 8.2, 46.8, 1.5)
    near('FR', 2.5, 46.5, 3) // mainland, not pulled towards French Guiana
    near('US', -98, 39, 6) // the lower 48, not Alaska
    near('AU', 134, -25, 5)
    near('BR', -53, -10, 6)
    near('RU', 97, 62, 12) // not dragged across the antimeridian
    near('FJ', 178.5, -17.8, 2)
  })
})

describe('names and flags', () => {
  it('shows flags for countries only', () => {
    expect(countryFlag('ch')).toBe('🇨🇭')
    expect(countryFlag('EU')).toBe('')
    expect(countryFlag('')).toBe('')
    expect(countryName('DE')).toBe('Germany')
    expect(countryName('')).toBe('Not geolocated')
  })
})
