"""A Node's ``osImage`` and ``containerRuntimeVersion`` → distribution, release and runtime.

The kubelet fills ``status.nodeInfo.osImage`` from ``PRETTY_NAME`` in ``/etc/os-release`` and
``containerRuntimeVersion`` as ``<runtime>://<version>`` from the CRI ``Version`` call. Only
strings whose shape is known are parsed; anything else is ``unknown`` (a lifecycle date looked
up for a guessed release would be a wrong deadline, worse than none). In particular an OS that
merely mentions Red Hat (Red Hat Enterprise Linux CoreOS, OpenShift's image) is not RHEL: its
lifecycle follows the OpenShift release, not RHEL's.

``product`` and ``cycle`` name the release line as endoflife.date does (``/api/<product>.json``,
field ``cycle``), so a lookup needs no further mapping.
"""

from __future__ import annotations

import dataclasses
import re

UNKNOWN = "unknown"


@dataclasses.dataclass(frozen=True)
class OSRelease:
    """What one ``osImage`` says: ``distribution`` is the endoflife.date product name."""

    distribution: str  # ubuntu, debian, rhel, rocky-linux, almalinux, centos, flatcar, talos, unknown
    release: str  # the release line (endoflife.date "cycle"): 22.04, 12, 9, 3033; "unknown"
    version: str  # as precise as the string says: 22.04.3, 12, 9.6, 3033.2.0; "unknown"

    @property
    def known(self) -> bool:
        return self.distribution != UNKNOWN and self.release != UNKNOWN


@dataclasses.dataclass(frozen=True)
class RuntimeVersion:
    """What one ``containerRuntimeVersion`` says: ``runtime`` is containerd, cri-o, docker or unknown."""

    runtime: str
    version: str  # 1.7.2, 2.1.4, 20.10.7; "unknown"
    cycles: tuple[str, ...]  # release lines to look up, most specific first: ("1.7",) or ("20.10", "20")

    @property
    def known(self) -> bool:
        return self.runtime != UNKNOWN and self.version != UNKNOWN


UNKNOWN_OS = OSRelease(UNKNOWN, UNKNOWN, UNKNOWN)
UNKNOWN_RUNTIME = RuntimeVersion(UNKNOWN, UNKNOWN, ())

# (regex on the whole PRETTY_NAME, product, how the release line follows from the version)
_OS_PATTERNS: tuple[tuple[re.Pattern[str], str, str], ...] = (
    # "Ubuntu 22.04.3 LTS", "Ubuntu 18.04 LTS", "Ubuntu 24.10"
    (re.compile(r"^Ubuntu (\d{2}\.\d{2})(\.\d+)?(?: LTS)?$"), "ubuntu", "first"),
    # "Debian GNU/Linux 12 (bookworm)", "Debian GNU/Linux 9 (stretch)"
    (re.compile(r"^Debian GNU/Linux (\d+)(\.\d+)? \([a-z]+\)$"), "debian", "first"),
    # "Red Hat Enterprise Linux 9.4 (Plow)", "Red Hat Enterprise Linux Server 7.7 (Maipo)"; NOT "... CoreOS ..."
    (re.compile(r"^Red Hat Enterprise Linux(?: Server)? (\d+)(\.\d+)? \([A-Za-z ]+\)$"), "rhel", "first"),
    # "Rocky Linux 9.6 (Blue Onyx)", "Rocky Linux 8.10 (Green Obsidian)"
    (re.compile(r"^Rocky Linux (\d+)(\.\d+)? \([A-Za-z ]+\)$"), "rocky-linux", "first"),
    # "AlmaLinux 9.4 (Seafoam Ocelot)"
    (re.compile(r"^AlmaLinux (\d+)(\.\d+)? \([A-Za-z ]+\)$"), "almalinux", "first"),
    # "CentOS Linux 7 (Core)", "CentOS Linux 8"
    (re.compile(r"^CentOS Linux (\d+)(\.[\d.]+)?(?: \([A-Za-z ]+\))?$"), "centos", "first"),
    # "Flatcar Container Linux by Kinvolk 3033.2.0 (Oklo)": the major build number is the line
    (re.compile(r"^Flatcar Container Linux by (?:Kinvolk|Microsoft) (\d+)(\.\d+\.\d+) \([A-Za-z ]+\)$"), "flatcar", "first"),
    # "Talos (v1.7.6)": the minor is the line
    (re.compile(r"^Talos \(v(\d+\.\d+)(\.\d+)\)$"), "talos", "first"),
)
_TALOS_UNVERSIONED = re.compile(r"^Talos \([0-9a-f]{7,}(?:-dirty)?\)(?: by Autonomy)?$")

_RUNTIME_RE = re.compile(r"^(containerd|cri-o|docker)://v?(\d+)\.(\d+)(?:\.(\d+))?([-+~][0-9A-Za-z.+~-]*)?$")


def parse_os_image(os_image: str) -> OSRelease:
    """``Ubuntu 18.04.5 LTS`` → ubuntu 18.04 (18.04.5); a string of unknown shape → unknown/unknown."""
    text = (os_image or "").strip()
    for pattern, product, _ in _OS_PATTERNS:
        match = pattern.match(text)
        if match:
            line, rest = match.group(1), match.group(2) or ""
            return OSRelease(product, line, line + rest)
    if _TALOS_UNVERSIONED.match(text):  # a development build: Talos, release unknown
        return OSRelease("talos", UNKNOWN, UNKNOWN)
    return UNKNOWN_OS


def parse_runtime(value: str) -> RuntimeVersion:
    """``containerd://1.7.2`` → containerd 1.7.2, lines ("1.7",); docker also tries the major line
    (endoflife.date lists docker-engine 20.10 and 23.0 but 27, 28 by major); unknown otherwise."""
    match = _RUNTIME_RE.match((value or "").strip())
    if not match:
        return UNKNOWN_RUNTIME
    runtime, major, minor, patch, suffix = match.groups()
    version = f"{int(major)}.{int(minor)}" + (f".{int(patch)}" if patch is not None else "") + (suffix or "")
    cycles = [f"{int(major)}.{int(minor)}"]
    if runtime == "docker":  # the kubelet reports 17.03.2 as 17.3.2; endoflife.date's lines are 17.03, 20.10, 24.0, 27
        cycles = [f"{int(major)}.{int(minor):02d}", *cycles, str(int(major))]
    return RuntimeVersion(runtime, version, tuple(dict.fromkeys(cycles)))


RUNTIME_PRODUCTS = {"containerd": "containerd", "docker": "docker-engine"}
"""endoflife.date product per runtime. CRI-O has none (its lines follow Kubernetes minors); a
``static`` entry in the config gives it dates."""

OS_PRODUCTS = frozenset({"ubuntu", "debian", "rhel", "rocky-linux", "almalinux", "centos", "flatcar"})
"""Distributions endoflife.date tracks; Talos is parsed but has no product there."""
