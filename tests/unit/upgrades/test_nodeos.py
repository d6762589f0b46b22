"""osImage / containerRuntimeVersion parsing against strings seen on real clusters.

``IN_THE_WILD`` is also what the integration test serves as Node objects from the test
Kubernetes API (tests/integration/test_node_lifecycle.py); each row quotes where it was seen.
"""

from __future__ import annotations

import pytest

from watchtower.upgrades.nodeos import UNKNOWN, parse_os_image, parse_runtime

# (osImage, containerRuntimeVersion, where it was seen,
#  expected (distribution, release, version), expected (runtime, version, first lookup line))
IN_THE_WILD = [
    ("Ubuntu 18.04.1 LTS", "containerd://1.1.1",
     "github.com/xetys/hetzner-kube/pull/154 (kubectl describe node, kubeadm v1.12.1)",
     ("ubuntu", "18.04", "18.04.1"), ("containerd", "1.1.1", "1.1")),
    ("Debian GNU/Linux 9 (stretch)", "docker://Unknown",
     "github.com/kubernetes/kubernetes/issues/57010 (kubectl get no -o wide, v1.8.4)",
     ("debian", "9", "9"), (UNKNOWN, UNKNOWN, None)),
    ("Ubuntu 18.04 LTS", "cri-o://1.10.4",
     "github.com/kontena/pharos-cluster/pull/456 (kubectl get nodes -o wide, v1.10.4)",
     ("ubuntu", "18.04", "18.04"), ("cri-o", "1.10.4", "1.10")),
    ("Rocky Linux 9.6 (Blue Onyx)", "containerd://2.1.4",
     "github.com/vexxhost/capo-image-elements/pull/48 (kubectl get nodes -o wide, v1.31.5)",
     ("rocky-linux", "9", "9.6"), ("containerd", "2.1.4", "2.1")),
    ("Ubuntu 14.04.5 LTS", "docker://1.11.2",
     "github.com/kubernetes/kubernetes/pull/46646 (sample output of the CONTAINER-RUNTIME column, v1.6.4)",
     ("ubuntu", "14.04", "14.04.5"), ("docker", "1.11.2", "1.11")),
    ("Talos (57b1c82) by Autonomy", "containerd://1.2.4",
     "github.com/siderolabs/talos/pull/395 (kubectl get nodes -owide, v1.13.3)",
     ("talos", UNKNOWN, UNKNOWN), ("containerd", "1.2.4", "1.2")),
    ("Red Hat Enterprise Linux CoreOS 47.84.202102161611-0 (Ootpa)", "cri-o://1.20.0-0.rhaos4.7.gitfdbdf43.el8.52",
     "github.com/red-hat-storage/ocs-ci/pull/3872 (oc get nodes -o wide, OpenShift 4.7)",
     (UNKNOWN, UNKNOWN, UNKNOWN), ("cri-o", "1.20.0-0.rhaos4.7.gitfdbdf43.el8.52", "1.20")),
    ("Red Hat Enterprise Linux Server 7.7 (Maipo)", "cri-o://1.16.4-1.dev.rhaos4.3.git9238eee.el7",
     "github.com/red-hat-storage/ocs-ci/pull/1661 (oc get nodes -o wide, RHEL 7 workers)",
     ("rhel", "7", "7.7"), ("cri-o", "1.16.4-1.dev.rhaos4.3.git9238eee.el7", "1.16")),
    ("RancherOS v1.4.0", "docker://17.3.2",
     "github.com/rancher/rancher/issues/14389 (kubectl get nodes -o wide, RKE v1.11.1)",
     (UNKNOWN, UNKNOWN, UNKNOWN), ("docker", "17.3.2", "17.03")),
    ("Debian GNU/Linux 9 (stretch)", "cri-o://1.11.6",
     "github.com/kontena/pharos-cluster/pull/627 (kubectl get nodes -o wide, v1.11.3)",
     ("debian", "9", "9"), ("cri-o", "1.11.6", "1.11")),
    ("Red Hat CoreOS 4.0.5470", "cri-o://1.11.2",
     "github.com/openshift/installer/pull/251 (oc get node -owide, v1.11.0+d4cacc0)",
     (UNKNOWN, UNKNOWN, UNKNOWN), ("cri-o", "1.11.2", "1.11")),
    ("Flatcar Container Linux by Kinvolk 3033.2.0 (Oklo)", "containerd://1.5.8",
     ("github.com/flatcar/flatcar-website/pull/198 (/etc/os-release PRETTY_NAME, which the kubelet reports as "
     "osImage, and `containerd --version` 1.5.8 on the same machine)"),
     ("flatcar", "3033", "3033.2.0"), ("containerd", "1.5.8", "1.5")),
]


@pytest.mark.parametrize("os_image, runtime, seen_at, want_os, want_runtime", IN_THE_WILD,
                         ids=[row[0] + " " + row[1] for row in IN_THE_WILD])
def test_strings_seen_in_the_wild(os_image: str, runtime: str, seen_at: str,
                                  want_os: tuple[str, str, str], want_runtime: tuple[str, str, str | None]) -> None:
    parsed = parse_os_image(os_image)
    assert (parsed.distribution, parsed.release, parsed.version) == want_os, seen_at
    rt = parse_runtime(runtime)
    assert (rt.runtime, rt.version, rt.cycles[0] if rt.cycles else None) == want_runtime, seen_at


@pytest.mark.parametrize("os_image, want", [
    ("Ubuntu 22.04.3 LTS", ("ubuntu", "22.04", "22.04.3")),
    ("Ubuntu 24.10", ("ubuntu", "24.10", "24.10")),
    ("Debian GNU/Linux 12 (bookworm)", ("debian", "12", "12")),
    ("Red Hat Enterprise Linux 9.4 (Plow)", ("rhel", "9", "9.4")),
    ("AlmaLinux 9.4 (Seafoam Ocelot)", ("almalinux", "9", "9.4")),
    ("CentOS Linux 7 (Core)", ("centos", "7", "7")),
    ("Talos (v1.7.6)", ("talos", "1.7", "1.7.6")),
    ("Flatcar Container Linux by Microsoft 4081.2.0 (Oklo)", ("flatcar", "4081", "4081.2.0")),
])
def test_documented_shapes(os_image: str, want: tuple[str, str, str]) -> None:
    p = parse_os_image(os_image)
    assert (p.distribution, p.release, p.version) == want


@pytest.mark.parametrize("os_image", [
    "", "Ubuntu", "Ubuntu 22.04.3 LTS with extras", "ubuntu 22.04", "Debian GNU/Linux bookworm/sid",
    "Red Hat Enterprise Linux CoreOS 414.92.202402130420-0 (Plow)", "Bottlerocket OS 1.19.2 (aws-k8s-1.28)",
    "Amazon Linux 2", "Container-Optimized OS from Google", "Windows Server 2019 Datacenter", "Talos",
])
def test_unknown_shapes_are_unknown_not_guessed(os_image: str) -> None:
    p = parse_os_image(os_image)
    assert not p.known
    assert p.release == UNKNOWN


@pytest.mark.parametrize("value", ["", "containerd", "containerd://", "containerd://dev", "rkt://1.30.0",
                                   "docker://Unknown", "remote://1.0.0", "containerd://1"])
def test_unknown_runtimes(value: str) -> None:
    rt = parse_runtime(value)
    assert (rt.runtime, rt.version, rt.cycles) == (UNKNOWN, UNKNOWN, ())


def test_docker_lines_include_the_padded_minor_and_the_major() -> None:
    assert parse_runtime("docker://20.10.7").cycles == ("20.10", "20")
    assert parse_runtime("docker://19.3.5").cycles == ("19.03", "19.3", "19")
    assert parse_runtime("docker://27.3.1").cycles == ("27.03", "27.3", "27")
    assert parse_runtime("containerd://v1.7.2").version == "1.7.2"
