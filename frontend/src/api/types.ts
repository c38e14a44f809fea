/**
 * Shapes of the HTTP API under short names, all taken from the types generated from the
 * server's OpenAPI schema (src/generated/openapi.ts, from ../openapi.json). Nothing here is
 * written by hand: a changed API changes these types, and the type-check finds every use.
 */

import type { components, operations, paths } from '@/generated/openapi'

type Schemas = components['schemas']
type QueryOf<Op> = Op extends { parameters: { query?: infer Q } } ? NonNullable<Q> : never
type JsonOf<R> = R extends { content: { 'application/json': infer B } } ? B : never

export type Totals = Schemas['Totals']
export type CountryRow = Schemas['CountryRow']
export type CountriesResponse = Schemas['CountriesResponse']
export type AsnRow = Schemas['AsnRow']
export type AsnResponse = Schemas['AsnResponse']
export type CityRow = Schemas['CityRow']
export type CitiesResponse = Schemas['CitiesResponse']
export type MapPoint = Schemas['MapPoint']
export type MapCountry = Schemas['MapCountry']
export type MapPeer = Schemas['MapPeer']
export type MapLine = Schemas['MapLine']
export type MapResponse = Schemas['MapResponse']
export type PeerRow = Schemas['PeerRow']
export type PeersResponse = Schemas['PeersResponse']
export type PeerEndpoint = Schemas['PeerEndpoint']
export type PeerInfo = Schemas['PeerInfo']
export type PeerCountry = Schemas['PeerCountry']
export type PeerGeoResponse = Schemas['PeerGeoResponse']
export type PeerUpdate = Schemas['PeerUpdate']
export type PeerUpdateResult = Schemas['PeerUpdateResult']
export type Series = Schemas['Series']
export type TimeseriesResponse = Schemas['TimeseriesResponse']
export type FlowRow = Schemas['FlowRow']
export type FlowsResponse = Schemas['FlowsResponse']
export type SessionInfo = Schemas['SessionInfo']
export type Role = SessionInfo['role']
export type GeoIPDatabaseInfo = Schemas['GeoIPDatabaseInfo']
export type GeoIPResponse = Schemas['GeoIPResponse']
export type GeoIPUpdateResponse = Schemas['GeoIPUpdateResponse']
export type LookupItem = Schemas['LookupItem']
export type LookupResponse = Schemas['LookupResponse']
export type UserInfo = Schemas['UserInfo']
export type TokenInfo = Schemas['TokenInfo']
export type ErrorResponse = Schemas['ErrorResponse']
/** The stable reason of an error answer (`totp_required`...). */
export type ErrorCode = NonNullable<ErrorResponse['code']>
/** A 422: FastAPI's list of issues, `code` = `invalid_parameter` and the first refused `field`. */
export type ValidationErrorResponse = Schemas['ValidationErrorResponse']

/** What every row of traffic carries (the server's TrafficValues). */
export type TrafficValues = Pick<CountryRow, 'total_bytes' | 'tx_bytes' | 'rx_bytes' | 'packets' | 'flows' | 'percent'>

/** GET /api/health: free-form state of the pipeline (no authentication). */
export type Health = JsonOf<paths['/api/health']['get']['responses'][200]>

type ExportQuery = QueryOf<operations['geo_export']>
export type ExportBy = NonNullable<ExportQuery['by']>
export type ExportFormat = NonNullable<ExportQuery['format']>

/** One message of the WebSocket /api/live (its models are in the schema's components). */
export type LiveMessage = Schemas['LiveMessage']
/** The one message of /api/live on a node with no live view (role = api): history only. */
export type LiveUnavailable = Schemas['LiveUnavailable']
export type LiveCountry = Schemas['LiveCountry']
export type LiveAsn = Schemas['LiveAsn']
export type LivePoint = Schemas['LivePoint']
