/** Colours the canvas charts need (CSS variables cannot reach inside a canvas). */

export interface Palette {
  dark: boolean
  text: string
  muted: string
  land: string
  border: string
  hover: string
  /** Low to high traffic, for the choropleth. */
  ramp: string[]
  bubble: string
  peer: string
  home: string
  line: string
  tooltipBg: string
  series: string[]
}

export const DARK: Palette = {
  dark: true,
  text: '#e6edf3',
  muted: '#8b98a5',
  land: '#1f2a35',
  border: '#3a4856',
  hover: '#35506b',
  ramp: ['#17324d', '#1f5f8b', '#2f8fc0', '#6cc3d5', '#f5d76e', '#ff8c42'],
  bubble: 'rgba(255, 179, 71, 0.75)',
  peer: '#b48cff',
  home: '#5ee6a8',
  line: '#ffb347',
  tooltipBg: 'rgba(17, 24, 31, 0.95)',
  series: ['#4fb3ff', '#ffb347', '#5ee6a8', '#ff6b8b', '#b48cff', '#f5d76e', '#6cc3d5', '#ff8c42', '#9fd356', '#e07be0', '#8b98a5'],
}

export const LIGHT: Palette = {
  dark: false,
  text: '#1b2631',
  muted: '#56636f',
  land: '#e4e9ee',
  border: '#a9b6c2',
  hover: '#bcd4ea',
  ramp: ['#fff1c9', '#fdd49e', '#fdbb84', '#fc8d59', '#e34a33', '#b30000'],
  bubble: 'rgba(8, 81, 156, 0.65)',
  peer: '#7048c8',
  home: '#138a55',
  line: '#d95f02',
  tooltipBg: 'rgba(255, 255, 255, 0.97)',
  series: ['#1f77b4', '#d95f02', '#1b9e77', '#d62728', '#7048c8', '#b8860b', '#17becf', '#e7298a', '#66a61e', '#8c564b', '#7f7f7f'],
}
