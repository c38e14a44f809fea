/**
 * Response shapes of the HTTP API (src/trafficatlas/api/models/*.py), by hand for now.
 *
 * Keep in step with the pydantic models; a later step generates them from the OpenAPI schema.
 */

export type Role = 'admin' | 'viewer' | 'peer'
export type Direction = 'outbound' | 'inbound' | 'internal' | 'unknown' | 'sent' | 'received'

export interface Totals {
  total_bytes: number
  tx_bytes: number
  rx_bytes: number
  packets: number
  flows: number
}

export interface RangeResult {
  requested_since: number
  requested_until: number
  since: number
  until: number
}

export interface TrafficValues {
  total_bytes: number
  tx_bytes: number
  rx_bytes: number
  packets: number
  flows: number
  percent: number
}

export interface CountryRow extends TrafficValues {
  code: string
  name: string | null
  flag: string | null
}

export interface TopResponse<Row> extends RangeResult {
  limit: number | null
  groups: number
  rows: Row[]
  other: Row | null
  totals: Totals
}

export type CountriesResponse = TopResponse<CountryRow>

export interface AsnRow extends TrafficValues {
  asn: number
  organization: string | null
  country: string | null
}

export type AsnResponse = TopResponse<AsnRow>

export interface CityRow extends TrafficValues {
  country: string
  country_name: string | null
  city: string
  latitude: number | null
  longitude: number | null
}

export type CitiesResponse = TopResponse<CityRow>

export interface MapPoint {
  country: string
  city: string
  latitude: number
  longitude: number
  total_bytes: number
  flows: number
  intensity: number
}

export interface MapCountry {
  code: string
  name: string | null
  total_bytes: number
  flows: number
  intensity: number
}

export interface MapPeer {
  id: string
  name: string | null
  total_bytes: number
  latitude: number | null
  longitude: number | null
}

export interface MapLine {
  peer: string
  peer_name: string | null
  country: string
  city: string
  from_latitude: number | null
  from_longitude: number | null
  to_latitude: number
  to_longitude: number
  total_bytes: number
  intensity: number
}

export interface MapResponse extends RangeResult {
  home: { latitude: number; longitude: number } | null
  points: MapPoint[]
  countries: MapCountry[]
  peers: MapPeer[]
  lines: MapLine[]
  unlocated_bytes: number
  totals: Totals
}

export interface PeerRow extends TrafficValues {
  id: string
  name: string | null
  private: boolean
}

export interface PeersResponse extends RangeResult {
  rows: PeerRow[]
  totals: Totals
}

export interface PeerInfo {
  id: string
  name: string
  private: boolean
  created_at: number
  updated_at: number
}

export interface PeerCountry extends TrafficValues {
  code: string
  name: string | null
}

export interface PeerGeoResponse extends RangeResult {
  peer: PeerInfo
  rows: PeerCountry[]
  totals: Totals
}

export interface PeerUpdate {
  name?: string
  private?: boolean
  scrub_history?: boolean
}

export type KeyValue = string | number
export type AttrValue = string | number | null

export interface Series {
  rank: number
  key: Record<string, KeyValue>
  attrs: Record<string, AttrValue>
  totals: Totals
  total_bytes: number[]
  tx_bytes: number[]
  rx_bytes: number[]
  packets: number[]
  flows: number[]
}

export interface TimeseriesResponse extends RangeResult {
  by: string[]
  step: number
  timestamps: number[]
  limit: number | null
  groups: number
  series: Series[]
  other: Series | null
  totals: Totals
}

export interface FlowRow extends TrafficValues {
  key: Record<string, KeyValue>
}

export interface FlowsResponse extends TopResponse<FlowRow> {
  by: string[]
}

export type ExportBy = 'country' | 'asn' | 'city' | 'peer'
export type ExportFormat = 'csv' | 'json'

export interface SessionInfo {
  username: string
  role: Role
  peer_id: string | null
  csrf_token: string
  expires_at: number
  idle_expires_at: number
  totp_enabled: boolean
}

export interface GeoIPDatabaseInfo {
  name: string
  path: string | null
  kind: string
  roles: string[]
  schema_name: string
  database_type: string
  build_date: string | null
  age_days: number | null
  networks: number
  size: number
  license: string
  source: string
}

export interface GeoIPResponse {
  databases: GeoIPDatabaseInfo[]
  attribution: string
}

export interface GeoIPUpdateResponse {
  results: { name: string; status: 'updated' | 'up-to-date' | 'failed'; message: string; bytes: number }[]
  reloaded: boolean
}

export interface LookupItem {
  ip: string
  country?: string | null
  country_name?: string | null
  flag?: string | null
  city?: string | null
  region?: string | null
  latitude?: number | null
  longitude?: number | null
  asn?: number | null
  as_org?: string | null
  network?: string | null
  label?: string | null
}

export interface LookupResponse {
  results: LookupItem[]
}

export interface UserInfo {
  username: string
  role: Role
  peer_id: string | null
  disabled: boolean
  totp_enabled: boolean
  created_at: number
  updated_at: number
}

export interface TokenInfo {
  id: string
  name: string
  scope: 'read' | 'admin'
  peer_id: string | null
  created_by: string
  created_at: number
  expires_at: number | null
  last_used_at: number | null
  revoked_at: number | null
}

/** GET /api/health: free-form state of the pipeline (no authentication). */
export type Health = Record<string, unknown>

/** One message of the WebSocket /api/live. */
export interface LiveMessage {
  type: 'live'
  ts: number
  window_s: number
  totals: { total_bytes: number; packets: number; flows: number }
  countries: { code: string; name: string | null; total_bytes: number; flows: number }[]
  points: MapPoint[]
  peers: { peer: string; total_bytes: number }[]
}
