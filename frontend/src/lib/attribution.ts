/** The bundled databases' attribution, shown until the server sends its own (GET /api/geoip). */
export const BUNDLED_ATTRIBUTION =
  'IP geolocation by DB-IP (db-ip.com), ASN data by RouteViews, NRO and DB-IP — CC BY 4.0'
