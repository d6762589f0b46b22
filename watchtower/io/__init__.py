"""I/O helpers: Kubernetes API access, bounded HTTP(S) and socket probes, netlink, procfs.

May import ``watchtower.core`` only; the collectors build on these.
"""
