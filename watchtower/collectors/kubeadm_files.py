"""Is there a kubeadm PKI or kubeconfig on this host: the certs collector's ``enabled: auto`` check.

Apart from ``certsources`` so that the check, which runs in every daemon, does not load the
certificate sources, the parsing and cryptography behind them (``certsources.kubeadm`` re-exports it).
"""

from __future__ import annotations

import os


def kubeadm_present(root: str, kubelet_dir: str) -> bool:
    """Is there anything to discover (for ``enabled: auto``)?"""
    return any(os.path.exists(p) for p in (os.path.join(root, "pki", "ca.crt"), os.path.join(root, "kubelet.conf"),
                                           os.path.join(root, "admin.conf"), os.path.join(kubelet_dir, "kubelet.crt")))
