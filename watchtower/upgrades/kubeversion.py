"""Kubernetes version strings (``v1.30.2``, ``v1.31.0-rc.1+k3s1``) and the skew rules between them.

Pure functions, shared by the nodes collector (kubelet vs apiserver skew) and the upgrade
collector (minors behind the latest release, upgrades needed one minor at a time).
"""

from __future__ import annotations

import dataclasses
import re

_VERSION_RE = re.compile(r"^\s*v?(\d+)\.(\d+)(?:\.(\d+))?(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?\s*$")

KUBELET_MAX_MINORS_OLDER = 3
"""The version skew policy since Kubernetes 1.28: a kubelet may be up to three minors older
than the apiserver, never newer."""

"""HA apiservers may differ by at most one minor (during a rolling upgrade)."""


@dataclasses.dataclass(frozen=True, order=True)
class KubeVersion:
    """A parsed release version; ordering follows semver (a pre-release sorts before its release)."""

    major: int
    minor: int
    patch: int
    # "~" sorts after any pre-release text, so a release (no pre-release) is greater
    prerelease_key: str = dataclasses.field(default="~", repr=False)
    text: str = dataclasses.field(default="", compare=False)

    @property
    def minor_text(self) -> str:
        """``1.30``: the release cycle, as endoflife.date and ``stable-1.30.txt`` name it."""
        return f"{self.major}.{self.minor}"

    @property
    def is_prerelease(self) -> bool:
        return self.prerelease_key != "~"

    def __str__(self) -> str:
        return self.text or f"v{self.major}.{self.minor}.{self.patch}"


def parse_version(text: str) -> KubeVersion:
    """``v1.30.2`` (the ``v`` optional, build metadata ignored) → KubeVersion; ValueError otherwise."""
    if not isinstance(text, str):
        raise ValueError(f"not a version string: {text!r}")
    match = _VERSION_RE.match(text)
    if not match:
        raise ValueError(f"not a Kubernetes version like v1.30.2: {text[:60]!r}")
    major, minor, patch, pre = match.groups()
    canonical = text.strip()
    if not canonical.startswith("v"):
        canonical = "v" + canonical
    return KubeVersion(int(major), int(minor), int(patch or 0), pre or "~", canonical)


def try_parse_version(text: object) -> KubeVersion | None:
    """Like ``parse_version`` but None for anything unparsable (missing fields, garbage)."""
    if not isinstance(text, str):
        return None
    try:
        return parse_version(text)
    except ValueError:
        return None


def minor_distance(newer: KubeVersion, older: KubeVersion) -> int:
    """How many minors ``older`` is behind ``newer`` (negative if it is ahead).

    A major bump counts as 100 minors, which is "very far" and keeps the arithmetic total.
    """
    return (newer.major - older.major) * 100 + (newer.minor - older.minor)


def kubelet_skew_allowed(skew: int) -> bool:
    """Whether ``apiserver minor − kubelet minor`` is within the policy (0..3)."""
    return 0 <= skew <= KUBELET_MAX_MINORS_OLDER


def upgrades_needed(current: KubeVersion, latest: KubeVersion) -> int:
    """kubeadm upgrades one minor at a time: 1.27.x → 1.31.y takes four upgrades; a patch one."""
    behind = minor_distance(latest, current)
    if behind > 0:
        return behind
    return 1 if current < latest else 0
