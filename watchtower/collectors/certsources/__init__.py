"""Where certificates come from: files, kubeadm, kubeconfigs, TLS endpoints, Kubernetes Secrets.

Each source implements ``CertSource`` (``kind`` + ``read()`` yielding records); the certs
collector turns records into metrics, findings and the ``check`` table.
"""

from watchtower.collectors.certsources.base import CertRecord, CertSource, CheckRecord, InputStart, Note, Record
from watchtower.collectors.certsources.cache import ScanCache
from watchtower.collectors.certsources.endpoints import Endpoint, EndpointSource
from watchtower.collectors.certsources.files import FileSource
from watchtower.collectors.certsources.kubeadm import KubeadmSource, kubeadm_present
from watchtower.collectors.certsources.kubeconfigs import KubeconfigSource
from watchtower.collectors.certsources.secrets import SecretSource

__all__ = [
    "CertRecord", "CertSource", "CheckRecord", "Endpoint", "EndpointSource", "FileSource", "InputStart",
    "KubeadmSource", "KubeconfigSource", "Note", "Record", "ScanCache", "SecretSource", "kubeadm_present",
]
