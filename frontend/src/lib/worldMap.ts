/** Load the country shapes (a separate chunk) and register them with ECharts, once. */

import type { Topology } from 'topojson-specification'

import { MAP_NAME } from '@/components/worldMapOptions'
import { ensureECharts, registerMap } from '@/lib/echarts'
import { countryCentroids, countryShapes } from '@/lib/worldGeo'

let loading: Promise<Record<string, [number, number]>> | null = null

/** Registers the "world" map; resolves to each country's centroid ([lon, lat] by alpha-2). */
export function loadWorld(): Promise<Record<string, [number, number]>> {
  loading ??= import('world-atlas/countries-110m.json')
    .then((mod) => {
      ensureECharts()
      const shapes = countryShapes(mod.default as unknown as Topology)
      registerMap(MAP_NAME, shapes as unknown as Parameters<typeof registerMap>[1])
      return countryCentroids(shapes)
    })
    .catch((err: unknown) => {
      loading = null // let a later mount try again
      throw err
    })
  return loading
}
