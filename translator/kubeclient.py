"""The Kubernetes side of the controller: one client, passed in, never global.

`Kube` wraps the official client with tenacity: transient failures (5xx, 429, connection
errors) are retried with exponential backoff and jitter, within a time budget (`retry_seconds`:
the command line gives up after a few seconds, the controller keeps trying longer); every call
has a connect and a read timeout, so a black-holed address fails instead of hanging. A 409
Conflict is *not* retried blindly here, because the caller must re-read and re-decide (see
`update_with_retry`).

`load_api_client` checks a kubeconfig before the client reads it, and `explain` turns any
failure into one line naming the server or the file ("cannot reach the API server at
https://10.0.0.1:6443: connection refused"), so no command ends in a urllib3 traceback.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import random
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any
from urllib.parse import quote, urlencode

import urllib3
import yaml
from kubernetes import client, config
from tenacity import retry, retry_if_exception, stop_after_attempt, stop_after_delay, wait_random_exponential

from translator.api import jsoncodec
from translator.api.bounded import InputRefused, decode_utf8, read_capped
from translator.api.resources_types import GROUP, VERSION

__all__ = ["ARGO_GROUP", "ARGO_VERSION", "GROUP", "VERSION", "Kube", "KubeconfigError", "explain", "is_transient",
           "load_api_client", "status_of", "update_with_retry"]

log = logging.getLogger("translator.kube")

ARGO_GROUP, ARGO_VERSION = "argoproj.io", "v1alpha1"
AUTH_TTL = 30.0  # credentials from the kubeconfig (a rotated token file, an exec plugin) re-read this often

KUBECONFIG_MAX_BYTES = 4 * 1024 * 1024


class KubeconfigError(Exception):
    """The kubeconfig cannot be used; the message names the file and what is wrong with it."""


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, client.ApiException):
        return exc.status in (429, 500, 502, 503, 504) or exc.status == 0
    return isinstance(exc, urllib3.exceptions.HTTPError | ConnectionError | TimeoutError)


def status_of(exc: BaseException) -> int:
    return exc.status if isinstance(exc, client.ApiException) else 0


def _check_kubeconfig(path: str) -> None:
    """What is wrong with the kubeconfig at `path`, as a KubeconfigError, before the client reads it."""
    try:
        with open(os.path.expanduser(path), "rb") as f:
            data = read_capped(f, limit=KUBECONFIG_MAX_BYTES, subject=path, what="a kubeconfig")
        text = decode_utf8(data, subject=path)
    except FileNotFoundError:
        raise KubeconfigError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise KubeconfigError(f"{path}: is a directory, not a kubeconfig file") from None
    except OSError as exc:
        raise KubeconfigError(f"{path}: cannot read: {exc.strerror}") from None
    except InputRefused as exc:
        raise KubeconfigError(f"{exc}: this is not a kubeconfig file") from None
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise KubeconfigError(f"{path}: not a kubeconfig file: not valid YAML{where}") from None
    except RecursionError:
        raise KubeconfigError(f"{path}: not a kubeconfig file: nested too deeply") from None
    if not isinstance(doc, dict):
        raise KubeconfigError(f"{path}: not a kubeconfig file: it holds {type(doc).__name__ if doc else 'nothing'}, "
                              "not a mapping with clusters, contexts and users")
    for key in ("clusters", "contexts"):
        if not isinstance(doc.get(key), list) or not doc[key]:
            raise KubeconfigError(f"{path}: not a usable kubeconfig: no {key}")


def load_api_client(kubeconfig: str | None = None, context: str | None = None) -> client.ApiClient:
    """The kubeconfig given (KUBECONFIG may list several, `:`-separated), else the in-cluster
    service account, else ~/.kube/config; KubeconfigError says what is wrong with which file."""
    try:
        if kubeconfig:
            for path in [p for p in kubeconfig.split(os.pathsep) if p]:
                _check_kubeconfig(path)
            return config.new_client_from_config(config_file=kubeconfig, context=context)
        try:
            config.load_incluster_config()
            return client.ApiClient()
        except config.ConfigException:
            default = os.path.expanduser("~/.kube/config")
            if not os.path.exists(default):
                raise KubeconfigError("no kubeconfig: give --kubeconfig (or KUBECONFIG), or run in a cluster") from None
            _check_kubeconfig(default)
            return config.new_client_from_config(context=context)
    except KubeconfigError:
        raise
    except config.ConfigException as exc:  # e.g. an unknown context, a user without credentials
        raise KubeconfigError(f"{kubeconfig or '~/.kube/config'}: {str(exc).splitlines()[0]}") from None
    except Exception as exc:  # the client's loader fails in many shapes on odd files
        raise KubeconfigError(f"{kubeconfig or '~/.kube/config'}: not a usable kubeconfig "
                              f"({type(exc).__name__}: {str(exc)[:200]})") from None


def _reason(exc: BaseException) -> str:
    """The innermost cause of a connection failure, in words."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, urllib3.exceptions.MaxRetryError) and seen.reason is not None:
            seen = seen.reason
            continue
        if isinstance(seen, urllib3.exceptions.NameResolutionError):
            return "the host name does not resolve"
        if isinstance(seen, urllib3.exceptions.NewConnectionError):  # a ConnectTimeoutError subclass, oddly
            text = str(seen)
            if "refused" in text.lower():
                return "connection refused"
            return text.split("]", 1)[-1].strip().lower() if "]" in text else "no connection"
        if isinstance(seen, urllib3.exceptions.ConnectTimeoutError):
            return "no answer to the connection (timed out)"
        if isinstance(seen, urllib3.exceptions.ReadTimeoutError | TimeoutError):
            return "connected, but no answer in time"
        if isinstance(seen, urllib3.exceptions.SSLError):  # "[SSL: X] certificate verify failed: ... (_ssl.c:1006)"
            said = re.sub(r"\s*\(_ssl\.c:\d+\)", "", str(seen).rsplit("]", 1)[-1]).strip(" ()'\"")
            return f"TLS failed: {said or 'handshake error'}"
        if isinstance(seen, ConnectionRefusedError):
            return "connection refused"
        if isinstance(seen, urllib3.exceptions.ProtocolError | ConnectionResetError):
            return "the connection was closed"
        if "Connection refused" in str(seen):
            return "connection refused"
        seen = seen.__cause__ or seen.__context__
    return f"{type(exc).__name__}"


def explain(exc: BaseException, server: str = "") -> str:
    """One line for a failure talking to the API server."""
    where = f"the API server at {server}" if server else "the API server"
    if isinstance(exc, client.ApiException):
        if exc.status == 0:
            return f"cannot reach {where}: {exc.reason or 'no answer'}"
        reason = exc.reason or ""
        try:
            reason = json.loads(exc.body or "{}").get("message", reason)
        except (TypeError, ValueError, AttributeError):
            pass
        if exc.status == 401:
            return f"{where} refused the credentials (401 Unauthorized): {reason}"
        return f"{where} said {exc.status}: {reason}"
    if isinstance(exc, urllib3.exceptions.HTTPError | OSError):
        return f"cannot reach {where}: {_reason(exc)}"
    return f"talking to {where} failed: {type(exc).__name__}: {exc}"


@dataclass
class Kube:
    """Typed helpers over the official client; every call retried on transient errors."""

    api_client: client.ApiClient
    on_error: Callable[[str], None] | None = None

    pool_size: int = 32
    request_timeout: tuple[float, float] = (10.0, 120.0)  # (connect, read) seconds of each request
    retry_seconds: float = 30.0  # how long transient failures are retried before the caller hears of them

    def __post_init__(self) -> None:
        cfg = self.api_client.configuration
        if getattr(cfg, "connection_pool_maxsize", 0) < self.pool_size or cfg.retries is None:
            cfg.connection_pool_maxsize = max(getattr(cfg, "connection_pool_maxsize", 0), self.pool_size)
            # urllib3's own retries (3 by default) log a warning each, unthrottled, and hide the
            # cause: `call` retries instead, with backoff, and the watch loops back off themselves
            cfg.retries = urllib3.Retry(total=0, redirect=0, raise_on_redirect=False, raise_on_status=False)
            self.api_client = client.ApiClient(cfg)
        self._host = str(cfg.host).rstrip("/")
        self._prefix = urllib3.util.parse_url(self._host).path or ""  # a server URL with a path (a proxy's)
        self._pool: Any = None
        self._auth_cache: tuple[float, dict[str, str]] | None = None

    # The generated API classes are made when first used: importing CoreV1Api alone takes over a
    # second (a pydantic wrapper for each of its ~1,200 methods), a tenth of a controller's start-up.
    # `warm()` makes them on a thread of their own while the informers list.

    @cached_property
    def custom(self) -> Any:
        return client.CustomObjectsApi(self.api_client)

    @cached_property
    def core(self) -> Any:
        return client.CoreV1Api(self.api_client)

    @cached_property
    def rbac(self) -> Any:
        return client.RbacAuthorizationV1Api(self.api_client)

    @cached_property
    def apps(self) -> Any:
        return client.AppsV1Api(self.api_client)

    @cached_property
    def coordination(self) -> Any:
        return client.CoordinationV1Api(self.api_client)

    def warm(self) -> threading.Thread:
        """Make the API classes on a daemon thread (started; joined by nobody)."""
        def make() -> None:
            for name in ("custom", "core", "coordination", "rbac", "apps"):
                getattr(self, name)

        thread = threading.Thread(target=make, name="kube-warm", daemon=True)
        thread.start()
        return thread

    @property
    def server(self) -> str:
        return str(getattr(self.api_client.configuration, "host", "") or "")

    def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("_request_timeout", self.request_timeout)
        try:  # the first attempt outside tenacity: building its retry loop cost a fifth of each request's CPU
            return fn(*args, **kwargs)
        except Exception as exc:
            if self.on_error:
                self.on_error(type(exc).__name__ if not isinstance(exc, client.ApiException) else str(exc.status))
            if not is_transient(exc):
                raise
        time.sleep(random.uniform(0, 0.1))  # the retry loop's first wait (full jitter), then its own

        @retry(
            retry=retry_if_exception(is_transient),
            wait=wait_random_exponential(multiplier=0.1, max=3),  # "full jitter": replicas never retry in step
            stop=stop_after_attempt(11) | stop_after_delay(self.retry_seconds),  # 12 with the first
            reraise=True,
        )
        def attempt() -> Any:
            try:
                return fn(*args, **kwargs)
            except Exception as exc:
                if self.on_error:
                    self.on_error(type(exc).__name__ if not isinstance(exc, client.ApiException)
                                  else str(exc.status))
                raise

        return attempt()

    def ensure(self, create: Callable[..., Any], read: Callable[..., Any], body: dict[str, Any],
               namespace: str) -> None:
        """Create `body` in `namespace` unless it exists (never overwrites). A 409 is "already exists"
        only if it does: a conflict that left nothing behind reads back as 404, raised, so the
        caller's reconcile is retried instead of waiting for good on an object never made."""
        try:
            self.call(read, body["metadata"]["name"], namespace)
        except client.ApiException as exc:
            if exc.status != 404:
                raise
            try:
                self.call(create, namespace, body)
            except client.ApiException as again:
                if again.status != 409:
                    raise
                self.call(read, body["metadata"]["name"], namespace)

    def _api(self, method: str, path: str, body: Any = None, *, query: dict[str, str] | None = None,
             content_type: str = "application/json", _request_timeout: tuple[float, float] | None = None) -> Any:
        """One request straight through the client's REST layer: JSON in, JSON out, ApiException
        on any other answer than 2xx. The generated methods validate every argument with pydantic,
        walk the body to "sanitize" it and reload the kubeconfig's credentials on every call — a
        third of the controller's CPU in the benchmark; this keeps the client's configuration,
        connection pool, TLS and credentials (re-read at most every AUTH_TTL seconds) and skips
        the rest. Used for the custom objects the controller reads and writes all the time."""
        headers = {"Accept": "application/json", "User-Agent": self.api_client.user_agent, **self._auth()}
        data = None
        if body is not None:
            headers["Content-Type"] = content_type
            data = jsoncodec.dumps(body)
        target = path + (f"?{urlencode(query)}" if query else "")
        connect, read = _request_timeout or self.request_timeout
        timeout = urllib3.Timeout(connect=connect, read=read)
        manager = self.api_client.rest_client.pool_manager
        if type(manager) is urllib3.PoolManager:  # no proxy: the host's pool at once (the manager's own routing
            # parses the URL and looks the pool up again on every request)
            if self._pool is None:
                self._pool = manager.connection_from_url(self._host)
            resp = self._pool.urlopen(method, self._prefix + target, body=data, headers=headers, timeout=timeout,
                                      preload_content=True, assert_same_host=False, redirect=False)
        else:
            resp = manager.request(method, self._host + target, body=data, headers=headers, timeout=timeout,
                                   preload_content=True)
        if not 200 <= resp.status <= 299:
            raise client.ApiException(status=resp.status, reason=resp.reason,
                                      body=resp.data.decode("utf-8", "replace"))
        return jsoncodec.loads(resp.data) if resp.data else None

    def _auth(self) -> dict[str, str]:
        now = time.monotonic()
        cached = self._auth_cache
        if cached is not None and now - cached[0] < AUTH_TTL:
            return cached[1]
        setting = self.api_client.configuration.auth_settings().get("BearerToken")
        headers = {"Authorization": setting["value"]} if setting and setting.get("value") else {}
        self._auth_cache = (now, headers)
        return headers

    def _path(self, group: str, version: str, namespace: str, plural: str, name: str = "", sub: str = "") -> str:
        base = f"/apis/{group}/{version}" if group else f"/api/{version}"
        segments = [*(["namespaces", namespace] if namespace else []), plural, name, sub]
        return base + "".join(f"/{quote(seg, safe='')}" for seg in segments if seg)

    def secret_data(self, namespace: str, name: str) -> dict[str, str]:
        """A Secret's data, decoded (ApiException when it cannot be read, 404 when absent)."""
        secret = self.call(self.core.read_namespaced_secret, name, namespace)
        return {k: base64.b64decode(v).decode() for k, v in (secret.data or {}).items()}

    # custom objects (of our group unless another is given)
    def get(self, plural: str, namespace: str, name: str, *, group: str = GROUP,
            version: str = VERSION) -> dict[str, Any]:
        return self.call(self._api, "GET", self._path(group, version, namespace, plural, name))

    def create(self, plural: str, namespace: str, body: dict[str, Any], *, group: str = GROUP,
               version: str = VERSION) -> dict[str, Any]:
        return self.call(self._api, "POST", self._path(group, version, namespace, plural), body)

    def replace(self, plural: str, namespace: str, name: str, body: dict[str, Any], *, group: str = GROUP,
                version: str = VERSION) -> dict[str, Any]:
        return self.call(self._api, "PUT", self._path(group, version, namespace, plural, name), body)

    def replace_status(self, plural: str, namespace: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
        return self.call(self._api, "PUT", self._path(GROUP, VERSION, namespace, plural, name, "status"), body)

    def patch(self, plural: str, namespace: str, name: str, patch: dict[str, Any], *, group: str = GROUP,
              version: str = VERSION) -> dict[str, Any]:
        return self.call(self._api, "PATCH", self._path(group, version, namespace, plural, name), patch,
                         content_type="application/merge-patch+json")

    def delete(self, plural: str, namespace: str, name: str, *, group: str = GROUP, version: str = VERSION,
               propagation: str = "Background", uid: str = "") -> dict[str, Any]:
        """Delete, its dependents by garbage collection; `uid`: only that very object (a precondition)."""
        body: dict[str, Any] = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": propagation}
        if uid:
            body["preconditions"] = {"uid": uid}
        return self.call(self._api, "DELETE", self._path(group, version, namespace, plural, name), body)

    def list(self, plural: str, namespace: str = "", *, group: str = GROUP, version: str = VERSION,
             label_selector: str = "", limit: int = 0, continue_token: str = "") -> dict[str, Any]:
        """One list (one page of `limit` from `continue_token` when given: `metadata.continue` says what is left)."""
        query = {k: v for k, v in (("labelSelector", label_selector), ("limit", str(limit) if limit else ""),
                                   ("continue", continue_token)) if v}
        return self.call(self._api, "GET", self._path(group, version, namespace, plural), query=query)


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
