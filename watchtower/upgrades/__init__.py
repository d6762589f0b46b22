"""The four-month upgrade policy: pure logic (policy, evidence, releases, state) kept apart from I/O.

``watchtower.collectors.upgrade`` wires these to the Kubernetes API, the file system and the
release source; everything here takes plain values and a ``now`` so tests drive it directly.
"""
