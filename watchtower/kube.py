"""Finding and building a Kubernetes API client, lazily and once.

Collectors ask the factory for an ``ApiClient``; if none can be had (no kubeconfig, not in a
pod) they get ``KubeUnavailable`` with a reason people can act on, and ``enabled: auto``
collectors use that same reason to explain why they do not run.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # a type only: importing the config here would close an import cycle
    from watchtower.config import KubernetesConfig  # (config → collectors → a collector → kube → config)

SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")


class KubeUnavailable(RuntimeError):
    """No Kubernetes API client can be built here; the message says why."""


class KubeClientFactory:
    """Builds one ``kubernetes.client.ApiClient`` on first use and hands out the same one."""

    def __init__(
        self,
        settings: KubernetesConfig,
        environ: Mapping[str, str] | None = None,
        service_account_dir: Path = SERVICE_ACCOUNT_DIR,
    ) -> None:
        self.settings = settings
        self._environ = os.environ if environ is None else environ
        self._service_account_dir = service_account_dir
        self._client: Any = None
        self._lock = threading.Lock()

    def source(self) -> str:
        """Where the client configuration comes from; raises KubeUnavailable if nowhere."""
        if self.settings.kubeconfig:
            if not Path(self.settings.kubeconfig).is_file():
                raise KubeUnavailable(f"kubernetes.kubeconfig {self.settings.kubeconfig} does not exist")
            return f"kubeconfig {self.settings.kubeconfig}"
        if self._environ.get("KUBERNETES_SERVICE_HOST") and (self._service_account_dir / "token").is_file():
            return "in-cluster service account"
        candidates = [p for p in self._environ.get("KUBECONFIG", "").split(os.pathsep) if p]
        candidates.append(str(Path(self._environ.get("HOME", "~")).expanduser() / ".kube" / "config"))
        for candidate in candidates:
            if Path(candidate).is_file():
                return f"kubeconfig {candidate}"
        raise KubeUnavailable(
            "no kubeconfig found (not in a pod; looked at kubernetes.kubeconfig, $KUBECONFIG, "
            + ", ".join(candidates) + ")"
        )

    def api_client(self) -> Any:
        """The shared ``kubernetes.client.ApiClient``."""
        with self._lock:
            if self._client is None:
                self._client = self._build()
            return self._client

    def _build(self) -> Any:
        from kubernetes import client, config  # heavy import, only when a collector needs it

        source = self.source()
        configuration = client.Configuration()
        try:
            if source == "in-cluster service account":
                config.load_incluster_config(client_configuration=configuration)
            else:
                path = source.removeprefix("kubeconfig ")
                config.load_kube_config(
                    config_file=path, context=self.settings.context, client_configuration=configuration
                )
        except config.ConfigException as exc:
            raise KubeUnavailable(f"{source}: {exc}") from None
        return client.ApiClient(configuration)


def list_pages(list_call: Any, page_size: int, **kwargs: Any) -> Iterator[Any]:
    """Yield items of a paginated Kubernetes list call, one page in memory at a time.

    ``list_call`` is e.g. ``CoreV1Api(api).list_node``; ``continue`` tokens are followed until
    the server stops returning one.
    """
    token: str | None = None
    while True:
        page = list_call(limit=page_size, _continue=token, **kwargs)
        yield from page.items
        token = page.metadata._continue if page.metadata else None
        if not token:
            return
