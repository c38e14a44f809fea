"""Prometheus metrics computed at scrape time: traffic from the store, component health.

``TrafficAtlasCollector`` (in ``collector``) is registered on a per-app registry and served at
``/metrics`` by the API.
"""
