"""Helpers shared by the tests: requiring real services, free ports, bounded waits."""
