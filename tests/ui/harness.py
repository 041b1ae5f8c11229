"""A running UI for tests: the API double with authentication and RBAC on, the real controller,
the Argo simulator, and `translator ui`'s app served by uvicorn on loopback.

Users (bearer tokens) and what Kubernetes lets them do in namespace `team`:
- `alice-token` (alice): the namespace `edit` ClusterRole, which the chart's aggregated
  ClusterRoles (charts/translator/templates/user-roles.yaml, rendered by helm) extend to our
  resources, and Argo's own (its install's argo-aggregate-to-view) to Workflows;
- `viewer-token` (vera): `view`;
- `nobody-token` (nobody): nothing but what every authenticated user has.
The controller's and the simulator's token is the double's administrator.
"""

from __future__ import annotations

import socket
import subprocess
import threading
from functools import lru_cache
from pathlib import Path
from typing import Any

import uvicorn
import yaml
from kubernetes import client

from tests.controller.harness import System, wait_for
from tests.kube_double.auth import Auth
from tests.kube_double.server import KubeDouble
from tests.tools.get_helm import fetch
from translator.ui.app import UiConfig, build

ROOT = Path(__file__).resolve().parents[2]
RBAC = "rbac.authorization.k8s.io"
USERS = {"alice-token": ("alice", "edit"), "viewer-token": ("vera", "view"), "nobody-token": ("nobody", "")}
SECRET = b"0123456789abcdef0123456789abcdef"


@lru_cache(maxsize=1)
def chart_user_roles() -> tuple[dict[str, Any], ...]:
    """The aggregated ClusterRoles the chart installs for users, as helm renders them."""
    out = subprocess.run([str(fetch()), "template", "t", str(ROOT / "charts" / "translator"),
                          "--show-only", "templates/user-roles.yaml"], check=True, capture_output=True,
                         text=True).stdout
    return tuple(d for d in yaml.safe_load_all(out) if d)


# argo-workflows v3.7.18 manifests/cluster-install-no-crds/workflow-controller-rbac/workflow-aggregate-roles.yaml
ARGO_VIEW = {"metadata": {"name": "argo-aggregate-to-view",
                          "labels": {"rbac.authorization.k8s.io/aggregate-to-view": "true"}},
             "rules": [{"apiGroups": ["argoproj.io"], "resources": ["workflows", "workflowtaskresults"],
                        "verbs": ["get", "list", "watch"]}]}


class UiServer:
    """uvicorn serving `app` on already-bound loopback sockets, in a thread."""

    def __init__(self, app: Any, hosts: tuple[str, ...] = ("127.0.0.1",)) -> None:
        self.sockets = []
        port = 0
        for host in hosts:  # one port on every address (a browser opens at most six streams per host)
            # proto IPPROTO_TCP, as getaddrinfo gives `translator ui`'s own socket: asyncio sets TCP_NODELAY
            # only on such sockets' connections (base_events._set_nodelay); without it every keep-alive
            # response waits ~40 ms for the client's delayed ACK (Nagle)
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
            port = sock.getsockname()[1]
            self.sockets.append(sock)
        self.port, self.hosts = port, hosts
        self.server = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=False, lifespan="on",
                                                    timeout_graceful_shutdown=1, ws="none"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": self.sockets}, daemon=True)

    def url(self, host_index: int = 0) -> str:
        return f"http://{self.hosts[host_index]}:{self.port}"

    def start(self) -> UiServer:
        self.thread.start()
        wait_for(lambda: self.server.started, 10, "the UI server to start")
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        for sock in self.sockets:
            sock.close()


class UiWorld:
    """The double (auth on), controller, simulator and UI, with the three users."""

    def __init__(self, double: KubeDouble, *, hosts: tuple[str, ...] = ("127.0.0.1",),
                 argo_url: str = "https://argo.example.com",
                 jenkins_url: str = "https://jenkins-{namespace}.example.com", **sim: Any) -> None:
        self.double = double
        self.auth: Auth = double.enable_auth()
        self.system = System(double, **sim)
        double.create_namespace("other")
        rbac = client.RbacAuthorizationV1Api(self.system.kube.api_client)
        for role in (*chart_user_roles(), ARGO_VIEW):
            self.system.kube.call(rbac.create_cluster_role, role)
        for token, (user, role) in USERS.items():
            self.auth.add_token(token, user)
            if role:
                self.system.kube.call(rbac.create_namespaced_role_binding, "team", {
                    "metadata": {"name": f"{user}-{role}"},
                    "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": role},
                    "subjects": [{"apiGroup": RBAC, "kind": "User", "name": user}]})
        self.config = UiConfig(secret=SECRET, namespaces=("team", "other"), argo_url=argo_url,
                               jenkins_url=jenkins_url, idle_seconds=600)
        self.app = build(self.config, client.Configuration(host=double.url))
        self.server = UiServer(self.app, hosts)

    def start(self) -> UiWorld:
        self.system.start_controller()
        self.server.start()
        return self

    def close(self) -> None:
        self.server.stop()
        self.system.close()

    @property
    def url(self) -> str:
        return self.server.url()

    def ui_requests(self) -> list[tuple[str, str, str, str, str, str, bool]]:
        """What the UI asked the API server, as the double's authorizer saw it (not the admin's calls)."""
        return [d for d in self.auth.decisions if d[0] != "system:admin"]
