/** ECharts, tree-shaken: only the charts, components and renderer the dashboard draws with. */

import { LineChart, LinesChart, MapChart, ScatterChart } from 'echarts/charts'
import type { LineSeriesOption, LinesSeriesOption, MapSeriesOption, ScatterSeriesOption } from 'echarts/charts'
import {
  DataZoomInsideComponent,
  GeoComponent,
  GridComponent,
  LegendComponent,
  TooltipComponent,
  VisualMapContinuousComponent,
} from 'echarts/components'
import type {
  DataZoomComponentOption,
  GeoComponentOption,
  GridComponentOption,
  LegendComponentOption,
  TooltipComponentOption,
  VisualMapComponentOption,
} from 'echarts/components'
import { type ComposeOption, use } from 'echarts/core'
import { CanvasRenderer } from 'echarts/renderers'

let registered = false

/** Register what we use, once (not at import time, so importing this module is free). */
export function ensureECharts(): void {
  if (registered) return
  use([
    MapChart,
    ScatterChart,
    LinesChart,
    LineChart,
    GeoComponent,
    TooltipComponent,
    VisualMapContinuousComponent,
    GridComponent,
    LegendComponent,
    DataZoomInsideComponent,
    CanvasRenderer,
  ])
  registered = true
}

export type MapOption = ComposeOption<
  MapSeriesOption | ScatterSeriesOption | LinesSeriesOption | GeoComponentOption | TooltipComponentOption | VisualMapComponentOption
>

export type ChartOption = ComposeOption<
  | LineSeriesOption
  | GridComponentOption
  | TooltipComponentOption
  | LegendComponentOption
  | DataZoomComponentOption
>

export { getMap, init, registerMap } from 'echarts/core'
export type { EChartsType } from 'echarts/core'
