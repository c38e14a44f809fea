"""Helpers shared by tests (fixture builders); not tests themselves."""
