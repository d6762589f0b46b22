"""The bottom layer: result types, settings building blocks and formatting helpers.

Nothing here imports any other part of watchtower (an import-linter contract in the tests
keeps it so), which is what lets every other layer depend on it without cycles.
"""
