"""Aggregation: enriched flows into per-interval buckets, and the in-memory live view."""
