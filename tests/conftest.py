"""Shared pytest configuration.

pytest puts this folder (tests/) on sys.path, so tests import helpers as ``support.<module>``.
"""
