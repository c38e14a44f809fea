"""Shared pytest configuration.

pytest puts this folder (tests/) on sys.path, so tests import helpers as ``support.<module>``.
"""

# Session fixtures of the ClickHouse engines (server process, chDB folder): registered here so
# they start once per session whichever folders use them.
pytest_plugins = ["support.clickhouse"]
