"""Enrichment: GeoIP, ASN and special-range labels for whole batches of addresses."""
