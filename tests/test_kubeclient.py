"""Every failure talking to the API server is one line naming the server (kubeclient.explain)."""

from __future__ import annotations

import pytest
import urllib3
from kubernetes import client

from translator.kubeclient import explain

SERVER = "https://10.0.0.1:6443"


def _pool_error(reason: Exception) -> urllib3.exceptions.MaxRetryError:
    pool = urllib3.HTTPSConnectionPool("10.0.0.1", 6443)
    return urllib3.exceptions.MaxRetryError(pool, "/api", reason)


@pytest.mark.parametrize("exc, said", [
    (_pool_error(urllib3.exceptions.NewConnectionError(None, "Failed to establish a new connection: [Errno 111] "
                                                            "Connection refused")), "connection refused"),
    (_pool_error(urllib3.exceptions.NameResolutionError("nowhere", None, OSError("no"))),  # type: ignore[arg-type]
     "the host name does not resolve"),
    (_pool_error(urllib3.exceptions.ConnectTimeoutError("timed out")), "no answer to the connection (timed out)"),
    (_pool_error(urllib3.exceptions.SSLError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed")),
     "TLS failed: certificate verify failed"),
    (urllib3.exceptions.ProtocolError("Connection aborted."), "the connection was closed"),
    (ConnectionRefusedError(111, "Connection refused"), "connection refused"),
])
def test_unreachable_servers_are_named_with_the_cause(exc: Exception, said: str) -> None:
    assert explain(exc, SERVER) == f"cannot reach the API server at {SERVER}: {said}"


def test_api_answers_give_the_status_and_the_server_s_message() -> None:
    forbidden = client.ApiException(status=403, reason="Forbidden")
    forbidden.body = '{"message": "pipelines is forbidden: User \\"x\\" cannot list"}'
    assert explain(forbidden, SERVER) == (f"the API server at {SERVER} said 403: pipelines is forbidden: "
                                          'User "x" cannot list')
    assert explain(client.ApiException(status=401, reason="Unauthorized"), SERVER) == (
        f"the API server at {SERVER} refused the credentials (401 Unauthorized): Unauthorized")
    assert explain(client.ApiException(status=0, reason="no route"), SERVER) == (
        f"cannot reach the API server at {SERVER}: no route")


def test_the_generated_api_classes_are_made_when_first_used_or_warmed() -> None:
    from translator.kubeclient import Kube

    kube = Kube(client.ApiClient(client.Configuration()))
    assert "core" not in vars(kube) and "custom" not in vars(kube)
    assert isinstance(kube.custom, client.CustomObjectsApi) and "core" not in vars(kube)
    kube.warm().join(timeout=60)
    assert isinstance(vars(kube)["core"], client.CoreV1Api)
    assert {"coordination", "rbac", "apps"} <= set(vars(kube))
    assert kube.core.api_client is kube.api_client
