/** World country shapes (world-atlas TopoJSON) as GeoJSON keyed by alpha-2, and their centroids. */

import type { Feature, FeatureCollection, MultiPolygon, Polygon, Position } from 'geojson'
import { feature } from 'topojson-client'
import type { GeometryCollection, Topology } from 'topojson-specification'

import { alpha2OfShape } from '@/lib/countries'

export interface CountryShapeProps {
  /** The region name ECharts joins data on: the alpha-2 code ("#<id>" when there is none). */
  name: string
  /** The shape's own English name. */
  label: string
}

export type CountryShapes = FeatureCollection<Polygon | MultiPolygon, CountryShapeProps>

/** Whether a segment jumps across the antimeridian (drawn flat, it would cross the whole map). */
const jumps = (a: Position | undefined, b: Position | undefined) => Math.abs((a?.[0] ?? 0) - (b?.[0] ?? 0)) > 180

/**
 * A ring drawable on a flat map. world-atlas rings are spherical: Russia's and Fiji's cross the
 * antimeridian (two jumps: their western points move east of 180°), and Antarctica's goes
 * around the pole (one jump: it is closed along the pole's latitude instead).
 */
export function flatRing(ring: Position[]): Position[] {
  let count = 0
  for (let i = 1; i < ring.length; i += 1) if (jumps(ring[i - 1], ring[i])) count += 1
  if (count === 0) return ring
  if (count % 2 === 0) return ring.map(([x = 0, y = 0]) => [x < 0 ? x + 360 : x, y])
  const pole = ring.reduce((sum, p) => sum + (p[1] ?? 0), 0) < 0 ? -90 : 90
  const out: Position[] = []
  ring.forEach((p, i) => {
    const prev = ring[i - 1]
    if (prev && jumps(prev, p)) {
      const side = Math.sign(prev[0] ?? 0) * 180
      out.push([side, prev[1] ?? 0], [side, pole], [-side, pole], [-side, p[1] ?? 0])
    }
    out.push(p)
  })
  return out
}

function flatGeometry(g: Polygon | MultiPolygon): Polygon | MultiPolygon {
  if (g.type === 'Polygon') return { type: 'Polygon', coordinates: g.coordinates.map(flatRing) }
  return { type: 'MultiPolygon', coordinates: g.coordinates.map((poly) => poly.map(flatRing)) }
}

/** Convert world-atlas's `countries` object into GeoJSON whose region names are alpha-2 codes. */
export function countryShapes(topology: Topology): CountryShapes {
  const object = topology.objects.countries as GeometryCollection<{ name?: string }>
  const fc = feature(topology, object) as FeatureCollection<Polygon | MultiPolygon, { name?: string }>
  const features: Feature<Polygon | MultiPolygon, CountryShapeProps>[] = fc.features.map((f) => {
    const label = f.properties?.name ?? ''
    const code = alpha2OfShape(f.id, label)
    return {
      type: 'Feature',
      id: f.id,
      geometry: flatGeometry(f.geometry),
      properties: { name: code ?? `#${f.id ?? label}`, label },
    }
  })
  return { type: 'FeatureCollection', features }
}

/** Signed area and centroid of one ring (planar lon/lat: fine for placing a bubble). */
function ringCentroid(ring: Position[]): { area: number; x: number; y: number } {
  let area = 0
  let x = 0
  let y = 0
  for (let i = 0, j = ring.length - 1; i < ring.length; j = i, i += 1) {
    const [x0 = 0, y0 = 0] = ring[j] ?? []
    const [x1 = 0, y1 = 0] = ring[i] ?? []
    const cross = x0 * y1 - x1 * y0
    area += cross
    x += (x0 + x1) * cross
    y += (y0 + y1) * cross
  }
  area /= 2
  return area === 0 ? { area: 0, x: ring[0]?.[0] ?? 0, y: ring[0]?.[1] ?? 0 } : { area, x: x / (6 * area), y: y / (6 * area) }
}

/**
 * [longitude, latitude] of each country's largest polygon's centroid, by alpha-2 code.
 *
 * The largest polygon, not all of them: France's centre should be in France, not pulled
 * towards French Guiana; the USA's not towards Alaska.
 */
export function countryCentroids(shapes: CountryShapes): Record<string, [number, number]> {
  const out: Record<string, [number, number]> = {}
  const best: Record<string, number> = {}
  for (const f of shapes.features) {
    const code = f.properties.name
    if (code.startsWith('#')) continue
    const polygons = f.geometry.type === 'Polygon' ? [f.geometry.coordinates] : f.geometry.coordinates
    for (const polygon of polygons) {
      const outer = polygon[0]
      if (!outer || outer.length < 3) continue
      const c = ringCentroid(outer)
      const area = Math.abs(c.area)
      if (area > (best[code] ?? -1)) {
        best[code] = area
        out[code] = [c.x, c.y]
      }
    }
  }
  return out
}
