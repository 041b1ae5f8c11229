"""The Kubernetes side of the controller: one client, passed in, never global.

`Kube` wraps the official client with tenacity: transient failures (5xx, 429, connection
errors) are retried with exponential backoff; a 409 Conflict is *not* retried blindly here,
because the caller must re-read and re-decide (see `update_with_retry`).
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import urllib3
from kubernetes import client, config
from tenacity import retry, retry_if_exception, stop_after_attempt, wait_exponential

from translator.api.resources_types import GROUP, VERSION

__all__ = ["ARGO_GROUP", "ARGO_VERSION", "GROUP", "VERSION", "Kube", "is_transient", "load_api_client",
           "status_of", "update_with_retry"]

log = logging.getLogger("translator.kube")

ARGO_GROUP, ARGO_VERSION = "argoproj.io", "v1alpha1"


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, client.ApiException):
        return exc.status in (429, 500, 502, 503, 504) or exc.status == 0
    return isinstance(exc, urllib3.exceptions.HTTPError | ConnectionError | TimeoutError)


def status_of(exc: BaseException) -> int:
    return exc.status if isinstance(exc, client.ApiException) else 0


_transient = retry(
    retry=retry_if_exception(is_transient),
    wait=wait_exponential(multiplier=0.05, max=2),
    stop=stop_after_attempt(12),
    reraise=True,
)


def load_api_client(kubeconfig: str | None = None, context: str | None = None) -> client.ApiClient:
    """The kubeconfig given, else in-cluster service account, else the default kubeconfig."""
    if kubeconfig:
        return config.new_client_from_config(config_file=kubeconfig, context=context)
    try:
        config.load_incluster_config()
        return client.ApiClient()
    except config.ConfigException:
        return config.new_client_from_config(context=context)


@dataclass
class Kube:
    """Typed helpers over the official client; every call retried on transient errors."""

    api_client: client.ApiClient
    on_error: Callable[[str], None] | None = None

    pool_size: int = 32

    def __post_init__(self) -> None:
        cfg = self.api_client.configuration
        if getattr(cfg, "connection_pool_maxsize", 0) < self.pool_size:
            cfg.connection_pool_maxsize = self.pool_size  # one connection per worker and watch
            self.api_client = client.ApiClient(cfg)
        self.custom = client.CustomObjectsApi(self.api_client)
        self.core = client.CoreV1Api(self.api_client)
        self.rbac = client.RbacAuthorizationV1Api(self.api_client)
        self.apps = client.AppsV1Api(self.api_client)
        self.coordination = client.CoordinationV1Api(self.api_client)

    def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        @_transient
        def attempt() -> Any:
            try:
                return fn(*args, **kwargs)
            except Exception as exc:
                if self.on_error:
                    self.on_error(type(exc).__name__ if not isinstance(exc, client.ApiException)
                                  else str(exc.status))
                raise

        return attempt()

    def secret_data(self, namespace: str, name: str) -> dict[str, str]:
        """A Secret's data, decoded (ApiException when it cannot be read, 404 when absent)."""
        secret = self.call(self.core.read_namespaced_secret, name, namespace)
        return {k: base64.b64decode(v).decode() for k, v in (secret.data or {}).items()}

    # custom objects of our group
    def get(self, plural: str, namespace: str, name: str, *, group: str = GROUP,
            version: str = VERSION) -> dict[str, Any]:
        return self.call(self.custom.get_namespaced_custom_object, group, version, namespace, plural, name)

    def create(self, plural: str, namespace: str, body: dict[str, Any], *, group: str = GROUP,
               version: str = VERSION) -> dict[str, Any]:
        return self.call(self.custom.create_namespaced_custom_object, group, version, namespace, plural, body)

    def replace(self, plural: str, namespace: str, name: str, body: dict[str, Any], *, group: str = GROUP,
                version: str = VERSION) -> dict[str, Any]:
        return self.call(self.custom.replace_namespaced_custom_object, group, version, namespace, plural,
                         name, body)

    def replace_status(self, plural: str, namespace: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
        return self.call(self.custom.replace_namespaced_custom_object_status, GROUP, VERSION, namespace,
                         plural, name, body)

    def patch(self, plural: str, namespace: str, name: str, patch: dict[str, Any], *, group: str = GROUP,
              version: str = VERSION) -> dict[str, Any]:
        return self.call(self.custom.patch_namespaced_custom_object, group, version, namespace, plural, name,
                         patch)

    def list(self, plural: str, namespace: str = "", *, group: str = GROUP, version: str = VERSION,
             label_selector: str = "") -> dict[str, Any]:
        if namespace:
            return self.call(self.custom.list_namespaced_custom_object, group, version, namespace, plural,
                             label_selector=label_selector)
        return self.call(self.custom.list_cluster_custom_object, group, version, plural,
                         label_selector=label_selector)


def update_with_retry(
    read: Callable[[], dict[str, Any]],
    change: Callable[[dict[str, Any]], dict[str, Any] | None],
    write: Callable[[dict[str, Any]], dict[str, Any]],
    *, attempts: int = 20,
) -> dict[str, Any] | None:
    """Read, decide, write guarded by resourceVersion; on 409 read again and decide again.

    `change` returns the object to write, or None when nothing needs writing.
    """
    for _ in range(attempts):
        current = read()
        wanted = change(current)
        if wanted is None:
            return current
        try:
            return write(wanted)
        except client.ApiException as exc:
            if exc.status != 409:
                raise
    raise RuntimeError("gave up after repeated conflicts")
