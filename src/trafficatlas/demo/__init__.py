"""The demo: a synthetic exporter feeding a real collector over loopback."""
