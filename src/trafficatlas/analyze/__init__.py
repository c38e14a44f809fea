"""Offline analysis of captures and exported flows (`trafficatlas analyze`)."""
