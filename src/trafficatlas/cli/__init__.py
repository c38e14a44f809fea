"""The `trafficatlas` command line: a thin layer over the same functions the API uses."""
