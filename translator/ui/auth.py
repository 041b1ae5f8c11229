"""Sessions: the user's bearer token, the client made with it, and CSRF.

The token the user pastes at login lives in one cookie (`translator_session`: HttpOnly,
SameSite=Strict, Secure when served over TLS), never in a URL, a page or a log line. The UI's
own kubeconfig or service account gives only the API server's address and CA: its credentials
are never copied into a user's client, so no request carries the UI's rights.

CSRF: every state-changing request carries `X-CSRF-Token` (htmx) or a `csrf` form field equal
to HMAC-SHA256(server secret, sha256(session token)) — bound to the session, stateless across
replicas that share the secret — and, when the browser sends one, an `Origin` of this host.
The login form uses a double-submit cookie instead, since there is no session yet.

A session (one per token) keeps a Kubernetes client, the user's name from a SelfSubjectReview,
the answers of SelfSubjectAccessReviews for a short while, and its watches (`live.Watches`);
sessions idle for `idle_seconds` are closed.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kubernetes import client

from translator.kubeclient import Kube

log = logging.getLogger("translator.ui")

SESSION_COOKIE = "translator_session"
NAMESPACES_COOKIE = "translator_namespaces"
LOGIN_CSRF_COOKIE = "translator_login_csrf"
ACCESS_TTL_SECONDS = 30.0


class LoginRefused(Exception):
    """The API server did not accept the token; the message says why, without the token."""


def cluster_base(api_client: client.ApiClient) -> client.Configuration:
    """The API server's address and TLS settings from `api_client`, without any of its credentials."""
    source = api_client.configuration
    base = client.Configuration(host=source.host)
    base.verify_ssl = source.verify_ssl
    base.ssl_ca_cert = source.ssl_ca_cert
    base.assert_hostname = source.assert_hostname
    base.tls_server_name = getattr(source, "tls_server_name", None)
    base.proxy = source.proxy
    base.api_key = {}
    base.cert_file = base.key_file = None
    base.username = base.password = ""
    return base


def user_client(base: client.Configuration, token: str) -> Kube:
    cfg = client.Configuration(host=base.host)
    for attr in ("verify_ssl", "ssl_ca_cert", "assert_hostname", "tls_server_name", "proxy"):
        setattr(cfg, attr, getattr(base, attr, None))
    cfg.api_key = {"authorization": f"Bearer {token}"}
    cfg.connection_pool_maxsize = 16
    return Kube(client.ApiClient(cfg), pool_size=16)


def session_key(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def csrf_token(secret: bytes, token: str) -> str:
    return hmac.new(secret, session_key(token).encode(), hashlib.sha256).hexdigest()


def csrf_ok(secret: bytes, token: str, presented: str) -> bool:
    return bool(presented) and hmac.compare_digest(csrf_token(secret, token), presented)


def new_login_nonce() -> str:
    return secrets.token_urlsafe(24)


@dataclass
class Session:
    """One user's token, client and what Kubernetes said they may do."""

    key: str
    user: str
    groups: tuple[str, ...]
    kube: Kube
    namespaces: tuple[str, ...] = ()  # typed at login: where to look when namespaces cannot be listed
    last_used: float = field(default_factory=time.monotonic)
    watches: Any = None  # live.Watches, made on first use
    namespaces_seen: tuple[float, list[str]] | None = None  # (when, readable namespaces), briefly remembered
    _access: dict[tuple[str, str, str, str], tuple[float, bool]] = field(default_factory=dict)
    _asking: set[tuple[str, str, str, str]] = field(default_factory=set)  # answers being asked again
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def touch(self) -> None:
        self.last_used = time.monotonic()

    def may(self, verb: str, resource: str, namespace: str, *, group: str = "devops.cubepaas.io",
            subresource: str = "") -> bool:
        """Kubernetes' answer (a SelfSubjectAccessReview), remembered for ACCESS_TTL_SECONDS."""
        key = (verb, f"{group}/{resource}/{subresource}", namespace, "")
        now = time.monotonic()
        with self._lock:
            cached = self._access.get(key)
            if cached and now - cached[0] < ACCESS_TTL_SECONDS:
                return cached[1]
        return self._review(key, verb, resource, namespace, group, subresource)

    def remembered(self, verb: str, resource: str, namespace: str, *, group: str = "devops.cubepaas.io",
                   subresource: str = "") -> bool | None:
        """Kubernetes' last answer without waiting for a request (None: never asked). An answer older
        than ACCESS_TTL_SECONDS is asked again in the background, once; when it changed, the session's
        live pages are woken to show it. For live fragments: their buttons follow the answer within a
        review's round trip, and the API server decides again when one is pressed."""
        key = (verb, f"{group}/{resource}/{subresource}", namespace, "")
        with self._lock:
            cached = self._access.get(key)
            stale = cached is not None and time.monotonic() - cached[0] >= ACCESS_TTL_SECONDS
            if stale and key not in self._asking:
                self._asking.add(key)
            else:
                stale = False
        if stale:
            threading.Thread(target=self._refresh, args=(key, verb, resource, namespace, group, subresource),
                             daemon=True, name="access-review").start()
        return cached[1] if cached is not None else None

    def _refresh(self, key: tuple[str, str, str, str], verb: str, resource: str, namespace: str, group: str,
                 subresource: str) -> None:
        with self._lock:
            before = self._access.get(key)
        try:
            after = self._review(key, verb, resource, namespace, group, subresource)
        finally:
            with self._lock:
                self._asking.discard(key)
        if before is not None and before[1] != after and self.watches is not None:
            self.watches.poke()

    def _review(self, key: tuple[str, str, str, str], verb: str, resource: str, namespace: str, group: str,
                subresource: str) -> bool:
        now = time.monotonic()
        attrs = {"group": group, "resource": resource, "verb": verb, "namespace": namespace}
        if subresource:
            attrs["subresource"] = subresource
        try:
            review = self.kube.call(client.AuthorizationV1Api(self.kube.api_client).create_self_subject_access_review,
                                    {"spec": {"resourceAttributes": attrs}})
            allowed = bool(review.status.allowed)
        except client.ApiException as exc:
            log.info("access review failed (%s): treated as not allowed", exc.status, extra={"user": self.user})
            allowed = False
        with self._lock:
            self._access[key] = (now, allowed)
        return allowed

    def close(self) -> None:
        if self.watches is not None:
            self.watches.stop()


class Sessions:
    """The open sessions, by sha256 of their token (the token itself is not kept as a key)."""

    def __init__(self, base: client.Configuration, *, idle_seconds: float = 900.0,
                 make_client: Callable[[client.Configuration, str], Kube] = user_client) -> None:
        self.base, self.idle_seconds, self.make_client = base, idle_seconds, make_client
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    def login(self, token: str, namespaces: tuple[str, ...] = ()) -> Session:
        """Ask the API server who the token is (SelfSubjectReview); LoginRefused when it says no."""
        token = token.strip()
        if not token or any(c.isspace() for c in token) or len(token) > 16384:
            raise LoginRefused("paste a bearer token: one word, no spaces")
        kube = self.make_client(self.base, token)
        try:
            review = kube.call(client.AuthenticationV1Api(kube.api_client).create_self_subject_review,
                               {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"})
        except client.ApiException as exc:
            if exc.status == 401:
                raise LoginRefused("the API server did not accept this token (401 Unauthorized)") from None
            raise LoginRefused(f"the API server answered {exc.status} to a SelfSubjectReview") from None
        except Exception as exc:  # unreachable API server
            raise LoginRefused(f"the API server cannot be reached ({type(exc).__name__})") from None
        info = review.status.user_info
        session = Session(key=session_key(token), user=info.username or "", groups=tuple(info.groups or ()),
                          kube=kube, namespaces=namespaces)
        with self._lock:
            old = self._sessions.pop(session.key, None)
            self._sessions[session.key] = session
        if old is not None:
            old.close()
        log.info("login", extra={"user": session.user})
        return session

    def get(self, token: str) -> Session | None:
        with self._lock:
            session = self._sessions.get(session_key(token))
        if session is not None:
            session.touch()
        return session

    def logout(self, token: str) -> None:
        with self._lock:
            session = self._sessions.pop(session_key(token), None)
        if session is not None:
            session.close()

    def sweep(self, *, busy: Callable[[Session], bool] = lambda _s: False) -> int:
        """Close sessions idle for longer than idle_seconds (not those with an open live view)."""
        cutoff = time.monotonic() - self.idle_seconds
        with self._lock:
            idle = [s for s in self._sessions.values() if s.last_used < cutoff and not busy(s)]
            for s in idle:
                del self._sessions[s.key]
        for s in idle:
            s.close()
        return len(idle)

    def close_all(self) -> None:
        with self._lock:
            sessions, self._sessions = list(self._sessions.values()), {}
        for s in sessions:
            s.close()

    def __len__(self) -> int:
        return len(self._sessions)
