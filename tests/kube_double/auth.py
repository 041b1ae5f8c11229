"""Authentication and RBAC for the API server double: off unless a test calls `KubeDouble.enable_auth`.

What it models, each after kube-apiserver's own code (k8s.io/apiserver v0.36, kubernetes
plugin/pkg/auth/authorizer/rbac and pkg/registry/rbac/validation):

- bearer tokens mapped to users (the static token file authenticator); a wrong token is 401,
  no credentials is `system:anonymous`; every authenticated user gets `system:authenticated`;
- the request's attributes (verb, API group, resource, subresource, namespace, name) derived
  from the path and method as RequestInfoFactory does;
- the privileged group `system:masters` allowed everything, then RBAC: ClusterRoleBindings,
  then the namespace's RoleBindings, rules matched as RuleAllows does; ClusterRoles with an
  aggregationRule get the rules of the ClusterRoles their selectors pick;
- 401 and 403 answered with the Status objects the real server writes;
- SelfSubjectAccessReview and SelfSubjectReview, allowed to every authenticated user by the
  bootstrap `system:basic-user` ClusterRole.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlparse

from tests.kube_double.errors import ApiError
from tests.kube_double.selectors import label_matcher
from tests.kube_double.store import Resource, Store

RBAC = "rbac.authorization.k8s.io"
ANONYMOUS = "system:anonymous"
AUTHENTICATED = "system:authenticated"
UNAUTHENTICATED = "system:unauthenticated"
MASTERS = "system:masters"


@dataclass(frozen=True)
class UserInfo:
    name: str
    groups: tuple[str, ...] = ()
    uid: str = ""


@dataclass(frozen=True)
class Attributes:
    """authorizer.Attributes of one request."""

    user: UserInfo
    verb: str
    resource_request: bool
    group: str = ""
    resource: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""
    path: str = ""


class Forbidden(ApiError):
    """The Status of a denied request: responsewriters.ForbiddenStatusError + apierrors.NewForbidden."""

    def __init__(self, attrs: Attributes, reason: str = "") -> None:
        message = _forbidden_message(attrs) + (f": {reason}" if reason else "")
        qualified = f"{attrs.resource}.{attrs.group}" if attrs.group else attrs.resource
        if not attrs.resource_request:
            text = f"forbidden: {message}"
        elif attrs.name:
            text = f'{qualified} "{attrs.name}" is forbidden: {message}'
        else:
            text = f"{qualified} is forbidden: {message}"
        # apierrors.NewForbidden: StatusDetails{Group, Kind: the resource, Name}, empty ones left out
        details = {k: v for k, v in (("name", attrs.name), ("group", attrs.group), ("kind", attrs.resource)) if v}
        super().__init__(403, "Forbidden", text, details)


def _forbidden_message(attrs: Attributes) -> str:
    # k8s.io/apiserver pkg/endpoints/handlers/responsewriters/errors.go: forbiddenMessage
    if not attrs.resource_request:
        return f'User "{attrs.user.name}" cannot {attrs.verb} path "{attrs.path}"'
    resource = f"{attrs.resource}/{attrs.subresource}" if attrs.subresource else attrs.resource
    if attrs.namespace:
        return (f'User "{attrs.user.name}" cannot {attrs.verb} resource "{resource}" in API group '
                f'"{attrs.group}" in the namespace "{attrs.namespace}"')
    return (f'User "{attrs.user.name}" cannot {attrs.verb} resource "{resource}" in API group '
            f'"{attrs.group}" at the cluster scope')


def request_attributes(user: UserInfo, method: str, raw_path: str) -> Attributes:
    """k8s.io/apiserver pkg/endpoints/request/requestinfo.go: NewRequestInfo (no legacy verb-via-path)."""
    url = urlparse(raw_path)
    query = parse_qs(url.query)
    parts = [p for p in url.path.split("/") if p]
    verb = {"POST": "create", "GET": "get", "HEAD": "get", "PUT": "update", "PATCH": "patch",
            "DELETE": "delete"}.get(method, "")
    if parts[:1] == ["api"] and len(parts) >= 2:
        group, rest = "", parts[2:]
    elif parts[:1] == ["apis"] and len(parts) >= 3:
        group, rest = parts[1], parts[3:]
    else:  # not a resource request: the verb is the lower-cased method
        return Attributes(user, method.lower(), False, path=url.path)
    if not rest:  # discovery of a group version is a non-resource request too
        return Attributes(user, method.lower(), False, path=url.path)
    namespace = ""
    if rest[0] == "namespaces" and len(rest) > 1:
        namespace = rest[1]
        if len(rest) > 2 and rest[2] not in ("status", "finalize"):  # namespaceSubresources
            rest = rest[2:]
    resource = rest[0]
    name = rest[1] if len(rest) > 1 else ""
    subresource = rest[2] if len(rest) > 2 else ""
    if not name and verb == "get":
        watching = (query.get("watch") or [""])[0]
        verb = "watch" if watching and watching not in ("false", "0") else "list"
        # a list or watch with fieldSelector metadata.name=X is authorized as for the name X
        for term in ((query.get("fieldSelector") or [""])[0]).split(","):
            key, sep, value = term.partition("=")
            if sep and key.strip() == "metadata.name" and not value.startswith("="):
                name = value.strip()
    if not name and verb == "delete":
        verb = "deletecollection"
    return Attributes(user, verb, True, group, resource, subresource, namespace, name, url.path)


def _rule_allows(attrs: Attributes, rule: Mapping[str, Any]) -> bool:
    """kubernetes plugin/pkg/auth/authorizer/rbac/rbac.go: RuleAllows (pkg/apis/rbac/v1/evaluation_helpers.go)."""
    verbs = rule.get("verbs") or []
    if "*" not in verbs and attrs.verb not in verbs:
        return False
    if not attrs.resource_request:
        urls = rule.get("nonResourceURLs") or []
        return any(u == "*" or u == attrs.path or (u.endswith("*") and attrs.path.startswith(u.rstrip("*")))
                   for u in urls)
    groups = rule.get("apiGroups") or []
    if "*" not in groups and attrs.group not in groups:
        return False
    combined = f"{attrs.resource}/{attrs.subresource}" if attrs.subresource else attrs.resource
    resources = rule.get("resources") or []
    if not any(r == "*" or r == combined or (attrs.subresource and r == f"*/{attrs.subresource}")
               for r in resources):
        return False
    names = rule.get("resourceNames") or []
    return not names or attrs.name in names


def _applies_to(user: UserInfo, subject: Mapping[str, Any], namespace: str) -> bool:
    """pkg/registry/rbac/validation/rule.go: appliesToUser."""
    kind, name = subject.get("kind"), subject.get("name", "")
    if kind == "User":
        return bool(user.name == name)
    if kind == "Group":
        return name in user.groups
    if kind == "ServiceAccount":
        sa_namespace = subject.get("namespace") or namespace
        return bool(sa_namespace) and user.name == f"system:serviceaccount:{sa_namespace}:{name}"
    return False


@dataclass
class Auth:
    """Tokens -> users, and the RBAC authorizer over the store's Roles and bindings."""

    store: Store
    tokens: dict[str, UserInfo] = field(default_factory=dict)
    # (user, verb, group, resource, subresource, namespace, allowed): what was asked, for tests
    decisions: list[tuple[str, str, str, str, str, str, bool]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        for plural, kind in (("clusterroles", "ClusterRole"), ("clusterrolebindings", "ClusterRoleBinding")):
            self.store.register(Resource(RBAC, "v1", plural, kind, namespaced=False))

    def add_token(self, token: str, name: str, groups: tuple[str, ...] = ()) -> None:
        self.tokens[token] = UserInfo(name, tuple(groups))

    # ------------------------------------------------------------------ authentication

    def authenticate(self, headers: Mapping[str, str]) -> UserInfo:
        """bearertoken.go: no `Bearer` header is no credential (anonymous); an unknown token is 401."""
        header = (headers.get("Authorization") or "").strip()
        parts = header.split(" ", 2)
        if len(parts) < 2 or parts[0].lower() != "bearer" or not parts[1]:
            # pkg/authentication/request/anonymous: system:anonymous in system:unauthenticated
            return UserInfo(ANONYMOUS, (UNAUTHENTICATED,))
        user = self.tokens.get(parts[1])
        if user is None:
            # pkg/endpoints/filters/authentication.go: Unauthorized -> apierrors.NewUnauthorized("Unauthorized")
            raise ApiError(401, "Unauthorized", "Unauthorized")
        # pkg/authentication/group/authenticated_group_adder.go
        if AUTHENTICATED not in user.groups and UNAUTHENTICATED not in user.groups:
            user = UserInfo(user.name, (*user.groups, AUTHENTICATED), user.uid)
        return user

    # ------------------------------------------------------------------ authorization

    def _cluster_role_rules(self, name: str, seen: frozenset[str] = frozenset()) -> list[dict[str, Any]] | None:
        role = self.store.objects.get((RBAC, "clusterroles", "", name))
        if role is None:
            return None
        selectors = (role.get("aggregationRule") or {}).get("clusterRoleSelectors")
        if not selectors:
            return list(role.get("rules") or [])
        # pkg/controller/clusterroleaggregation: the rules of every ClusterRole a selector matches
        rules: list[dict[str, Any]] = []
        for (g, p, _, other), obj in sorted(self.store.objects.items()):
            if g != RBAC or p != "clusterroles" or other == name or other in seen:
                continue
            labels = obj["metadata"].get("labels") or {}
            if any(_selector_matches(sel, labels) for sel in selectors):
                for rule in self._cluster_role_rules(other, seen | {name}) or []:
                    if rule not in rules:
                        rules.append(rule)
        return rules

    def _rules_of(self, ref: Mapping[str, Any], namespace: str) -> list[dict[str, Any]] | None:
        """validation/rule.go: GetRoleReferenceRules."""
        if ref.get("kind") == "Role":
            role = self.store.objects.get((RBAC, "roles", namespace, ref.get("name", "")))
            return None if role is None else list(role.get("rules") or [])
        if ref.get("kind") == "ClusterRole":
            return self._cluster_role_rules(ref.get("name", ""))
        return None

    def allowed(self, attrs: Attributes) -> bool:
        with self.store.lock:
            # kube-apiserver's authorizer chain starts with authorizerfactory.NewPrivilegedGroups(system:masters)
            if MASTERS in attrs.user.groups:
                return True
            # validation/rule.go: VisitRulesFor — ClusterRoleBindings, then the namespace's RoleBindings
            bindings = [(o, "") for (g, p, _, _), o in self.store.objects.items()
                        if g == RBAC and p == "clusterrolebindings"]
            if attrs.namespace:
                bindings += [(o, attrs.namespace) for (g, p, ns, _), o in self.store.objects.items()
                             if g == RBAC and p == "rolebindings" and ns == attrs.namespace]
            for binding, ns in bindings:
                if not any(_applies_to(attrs.user, s, ns) for s in binding.get("subjects") or []):
                    continue
                if any(_rule_allows(attrs, r) for r in self._rules_of(binding.get("roleRef") or {}, ns) or []):
                    return True
            return False

    def check(self, method: str, path: str, headers: Mapping[str, str]) -> UserInfo:
        """The request's user, when it may do what it asks; else ApiError 401 or 403."""
        user = self.authenticate(headers)
        attrs = request_attributes(user, method, path)
        ok = self.allowed(attrs)
        with self.lock:
            self.decisions.append((user.name, attrs.verb, attrs.group, attrs.resource, attrs.subresource,
                                   attrs.namespace, ok))
        if not ok:
            raise Forbidden(attrs)
        return user

    # ------------------------------------------------------------------ reviews

    def review(self, method: str, path: str, body: Any, user: UserInfo) -> dict[str, Any] | None:
        """The answer to a SelfSubjectAccessReview or SelfSubjectReview; None for other requests."""
        route = urlparse(path).path.rstrip("/")
        if method != "POST":
            return None
        if route == "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews":
            return self._access_review(body or {}, user)
        if route == "/apis/authentication.k8s.io/v1/selfsubjectreviews":
            # kubernetes pkg/registry/authentication/selfsubjectreview/rest.go: the user from the request
            return {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview",
                    "metadata": {"creationTimestamp": None},
                    "status": {"userInfo": {"username": user.name, "uid": user.uid, "groups": list(user.groups)}}}
        return None

    def _access_review(self, body: dict[str, Any], user: UserInfo) -> dict[str, Any]:
        """kubernetes pkg/registry/authorization/selfsubjectaccessreview/rest.go: Create."""
        spec = body.get("spec") or {}
        ra, nra = spec.get("resourceAttributes"), spec.get("nonResourceAttributes")
        if (ra is None) == (nra is None):
            # pkg/apis/authorization/validation: exactly one of resourceAttributes, nonResourceAttributes
            raise ApiError(422, "Invalid", 'SelfSubjectAccessReview.authorization.k8s.io "" is invalid: '
                           "spec.resourceAttributes: Invalid value: exactly one of nonResourceAttributes or "
                           "resourceAttributes must be specified")
        if ra is not None:
            attrs = Attributes(user, ra.get("verb", ""), True, ra.get("group", ""), ra.get("resource", ""),
                               ra.get("subresource", ""), ra.get("namespace", ""), ra.get("name", ""))
        else:
            attrs = Attributes(user, nra.get("verb", ""), False, path=nra.get("path", ""))
        return {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
                "metadata": {"creationTimestamp": None}, "spec": spec,
                "status": {"allowed": self.allowed(attrs), "denied": False}}

    def bootstrap(self) -> None:
        """The bootstrap policy objects the UI relies on (kubernetes plugin/pkg/auth/authorizer/rbac/
        bootstrappolicy/policy.go), reduced to the rules that matter here."""
        crs = self.store.resource(RBAC, "clusterroles")
        crbs = self.store.resource(RBAC, "clusterrolebindings")
        agg = "rbac.authorization.k8s.io/aggregate-to-"
        roles: list[dict[str, Any]] = [
            {"metadata": {"name": "system:basic-user"}, "rules": [
                {"apiGroups": ["authorization.k8s.io"], "resources": ["selfsubjectaccessreviews",
                                                                      "selfsubjectrulesreviews"],
                 "verbs": ["create"]},
                {"apiGroups": ["authentication.k8s.io"], "resources": ["selfsubjectreviews"], "verbs": ["create"]}]},
            # `view` is aggregated into `edit`, and `edit` into `admin`, by these labels on the roles themselves
            {"metadata": {"name": "view", "labels": {f"{agg}edit": "true"}}, "aggregationRule": {
                "clusterRoleSelectors": [{"matchLabels": {f"{agg}view": "true"}}]}, "rules": []},
            {"metadata": {"name": "edit", "labels": {f"{agg}admin": "true"}}, "aggregationRule": {
                "clusterRoleSelectors": [{"matchLabels": {f"{agg}edit": "true"}}]}, "rules": []},
            {"metadata": {"name": "system:aggregate-to-view", "labels": {f"{agg}view": "true"}}, "rules": [
                {"apiGroups": [""], "resources": ["pods", "pods/log", "pods/status", "configmaps", "services"],
                 "verbs": ["get", "list", "watch"]}]},
            {"metadata": {"name": "system:aggregate-to-edit", "labels": {f"{agg}edit": "true"}}, "rules": [
                {"apiGroups": [""], "resources": ["secrets"], "verbs": ["create", "delete", "deletecollection",
                                                                         "get", "list", "patch", "update", "watch"]},
                {"apiGroups": [""], "resources": ["pods", "configmaps", "services"],
                 "verbs": ["create", "delete", "deletecollection", "patch", "update"]}]},
        ]
        for role in roles:
            self._put(crs, {"apiVersion": f"{RBAC}/v1", "kind": "ClusterRole", **role})
        self._put(crbs, {
            "apiVersion": f"{RBAC}/v1", "kind": "ClusterRoleBinding", "metadata": {"name": "system:basic-user"},
            "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": "system:basic-user"},
            "subjects": [{"apiGroup": RBAC, "kind": "Group", "name": AUTHENTICATED}]})


    def _put(self, res: Resource, obj: dict[str, Any]) -> None:
        """Store an object the API server makes itself: RBAC names (`system:basic-user`) are path segment
        names (pkg/apis/rbac/validation: ValidateRBACName), which the store's create refuses."""
        import uuid

        from tests.kube_double.store import now

        with self.store.lock:
            obj["metadata"].update(uid=str(uuid.uuid4()), creationTimestamp=now(), generation=1,
                                   resourceVersion=str(self.store._next_rv()))
            self.store.objects[(res.group, res.plural, "", obj["metadata"]["name"])] = obj
            self.store._record("ADDED", res, obj)


def _selector_matches(selector: Mapping[str, Any], labels: dict[str, str]) -> bool:
    """metav1.LabelSelector: matchLabels and matchExpressions, all of them."""
    terms = [f"{k}={v}" for k, v in (selector.get("matchLabels") or {}).items()]
    for expr in selector.get("matchExpressions") or []:
        op, key, values = expr.get("operator"), expr.get("key", ""), expr.get("values") or []
        if op == "Exists":
            terms.append(key)
        elif op == "DoesNotExist":
            terms.append(f"!{key}")
        else:
            terms.append(f"{key} {'in' if op == 'In' else 'notin'} ({','.join(values)})")
    if not terms:
        return True  # metav1.LabelSelectorAsSelector: an empty selector is labels.Everything()
    matcher: Any = label_matcher(",".join(terms))
    return bool(matcher(labels))
