"""The application layer: config, daemon, scheduler, store, HTTP server, status page, report, CLI.

The top of the one-way layering: it may import everything below, nothing imports it.
"""
