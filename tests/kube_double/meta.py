"""ObjectMeta as the API server checks it on every write, for every kind.

Names follow the rule of their kind, label keys and values, annotation keys and their total
size, owner references and finalizers are validated, and unknown or malformed metadata
fields are dropped (custom resources) or refused (built-in kinds). Messages are the real
ones, so a test that reads them reads what a user would see. Sources, kubernetes v1.34:
apimachinery `pkg/util/validation/validation.go` (IsDNS1123Subdomain, IsDNS1123Label,
IsDNS1035Label, IsQualifiedName, IsValidLabelValue), `pkg/api/validation/objectmeta.go`
(ValidateObjectMetaAccessor, ValidateObjectMetaAccessorUpdate, ValidateAnnotations,
ValidateOwnerReferences, ValidateFinalizers), `pkg/api/validation/generic.go`,
`pkg/api/validation/path/name.go`; the per-kind name rules of kubernetes
`pkg/apis/{core,apps,rbac,coordination}/validation`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from tests.kube_double.errors import FieldError, bad_request, forbidden, invalid, required, too_long

NameRule = Callable[[str, bool], list[str]]

_LABEL = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_SUBDOMAIN = _LABEL + "(\\." + _LABEL + ")*"
_DNS1035 = "[a-z]([-a-z0-9]*[a-z0-9])?"
_QNAME = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_QNAME_MSG = ("must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
              "alphanumeric character")
_LABEL_VALUE_MSG = ("a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or "
                    "'.', and must start and end with an alphanumeric character")


def _regex_error(msg: str, fmt: str, *examples: str) -> str:
    # validation.go RegexError
    shown = " or ".join(f"'{e}', " for e in examples)
    return f"{msg} (e.g. {shown}regex used for validation is '{fmt}')" if examples else \
        f"{msg} (regex used for validation is '{fmt}')"


def _max_len(n: int) -> str:
    return f"must be no more than {n} characters"


def is_dns1123_subdomain(value: str) -> list[str]:
    errs = [_max_len(253)] if len(value) > 253 else []
    if not re.fullmatch(_SUBDOMAIN, value):
        errs.append(_regex_error("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
                                 "characters, '-' or '.', and must start and end with an alphanumeric character",
                                 _SUBDOMAIN, "example.com"))
    return errs


def is_dns1123_label(value: str) -> list[str]:
    errs = [_max_len(63)] if len(value) > 63 else []
    if not re.fullmatch(_LABEL, value):
        errs.append("must not contain dots" if re.fullmatch(_SUBDOMAIN, value) else _regex_error(
            "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start "
            "and end with an alphanumeric character", _LABEL, "my-name", "123-abc"))
    return errs


def is_dns1035_label(value: str) -> list[str]:
    errs = [_max_len(63)] if len(value) > 63 else []
    if not re.fullmatch(_DNS1035, value):
        errs.append(_regex_error("a DNS-1035 label must consist of lower case alphanumeric characters or '-', start "
                                 "with an alphabetic character, and end with an alphanumeric character",
                                 _DNS1035, "my-name", "abc-123"))
    return errs


def is_qualified_name(value: str) -> list[str]:
    """validation.go IsQualifiedName: `[prefix/]name`, prefix a DNS subdomain, name ≤ 63."""
    parts = value.split("/")
    errs: list[str] = []
    if len(parts) == 1:
        name = parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            errs.append("prefix part must be non-empty")
        else:
            errs += ["prefix part " + m for m in is_dns1123_subdomain(prefix)]
    else:
        return [f"a qualified name {_regex_error(_QNAME_MSG, _QNAME, 'MyName', 'my.name', '123-abc')} with an "
                "optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"]
    if not name:
        errs.append("name part must be non-empty")
    elif len(name) > 63:
        errs.append("name part " + _max_len(63))
    if not re.fullmatch(_QNAME, name):
        errs.append("name part " + _regex_error(_QNAME_MSG, _QNAME, "MyName", "my.name", "123-abc"))
    return errs


def is_valid_label_value(value: str) -> list[str]:
    errs = [_max_len(63)] if len(value) > 63 else []
    if not re.fullmatch(f"({_QNAME})?", value):
        errs.append(_regex_error(_LABEL_VALUE_MSG, f"({_QNAME})?", "MyValue", "my_value", "12345"))
    return errs


def is_config_map_key(value: str) -> list[str]:
    """validation.go IsConfigMapKey: keys of ConfigMap and Secret data."""
    errs = [_max_len(253)] if len(value) > 253 else []
    if not re.fullmatch(r"[-._a-zA-Z0-9]+", value):
        errs.append(_regex_error("a valid config key must consist of alphanumeric characters, '-', '_' or '.'",
                                 "[-._a-zA-Z0-9]+", "key.name", "KEY_NAME", "key-name"))
    if value in (".", ".."):  # hasChDirPrefix
        errs.append(f"must not be '{value}'")
    elif value.startswith(".."):
        errs.append("must not start with '..'")
    return errs


def _mask_trailing_dash(name: str) -> str:
    # generic.go maskTrailingDash: a generateName prefix may end in '-'
    return name[:-2] + "a" if len(name) > 1 and name.endswith("-") else name


def dns_subdomain_name(name: str, prefix: bool) -> list[str]:
    return is_dns1123_subdomain(_mask_trailing_dash(name) if prefix else name)


def dns_label_name(name: str, prefix: bool) -> list[str]:
    return is_dns1123_label(_mask_trailing_dash(name) if prefix else name)


def dns1035_name(name: str, prefix: bool) -> list[str]:
    return is_dns1035_label(_mask_trailing_dash(name) if prefix else name)


def path_segment_name(name: str, prefix: bool) -> list[str]:
    # path/name.go ValidatePathSegmentName
    if not prefix and name in (".", ".."):
        return [f"may not be '{name}'"]
    return [f"may not contain '{c}'" for c in ("/", "%") if c in name]


# Name rules per (group, plural); every other kind (ConfigMap, Secret, ServiceAccount, Pod, Node,
# Event, Deployment, Lease, and every custom resource) uses NameIsDNSSubdomain.
NAME_RULES: dict[tuple[str, str], NameRule] = {
    ("", "namespaces"): dns_label_name,  # core/validation: ValidateNamespaceName = NameIsDNSLabel
    ("", "services"): dns1035_name,  # core/validation: ValidateServiceName = NameIsDNS1035Label
    ("rbac.authorization.k8s.io", "roles"): path_segment_name,  # rbac/validation: ValidateRBACName
    ("rbac.authorization.k8s.io", "rolebindings"): path_segment_name,
    ("rbac.authorization.k8s.io", "clusterroles"): path_segment_name,
    ("rbac.authorization.k8s.io", "clusterrolebindings"): path_segment_name,
}


def name_rule(group: str, plural: str) -> NameRule:
    return NAME_RULES.get((group, plural), dns_subdomain_name)


# meta/v1 ObjectMeta's JSON fields: anything else under metadata is dropped
# (apiextensions-apiserver schema/objectmeta GetObjectMetaWithOptions; the typed decoder for built-ins).
OBJECT_META_FIELDS = frozenset({
    "name", "generateName", "namespace", "selfLink", "uid", "resourceVersion", "generation", "creationTimestamp",
    "deletionTimestamp", "deletionGracePeriodSeconds", "labels", "annotations", "ownerReferences", "finalizers",
    "managedFields",
})
_STRING_MAPS = ("labels", "annotations")


def coerce_metadata(obj: dict[str, Any], *, custom: bool, unknown: list[str]) -> None:
    """Drop unknown metadata fields; a malformed known one is dropped (custom resources,
    objectmeta DropMalformedFields) or refused with 400 (built-ins: the typed JSON decoder)."""
    meta = obj.get("metadata")
    if meta is None:
        obj["metadata"] = {}
        return
    if not isinstance(meta, dict):
        raise bad_request(f"metadata: expected an object, got {type(meta).__name__}")
    for key in list(meta):
        if key not in OBJECT_META_FIELDS:
            unknown.append(f"metadata.{key}")
            del meta[key]
    for key in _STRING_MAPS:
        value = meta.get(key)
        if value is None:
            meta.pop(key, None)
        elif not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            if not custom:
                raise bad_request(f"json: cannot unmarshal metadata.{key} into Go struct field ObjectMeta.{key} "
                                  "of type map[string]string")
            del meta[key]
    finalizers = meta.get("finalizers")
    if finalizers is not None and (not isinstance(finalizers, list) or not all(isinstance(f, str)
                                                                               for f in finalizers)):
        if not custom:
            raise bad_request("json: cannot unmarshal metadata.finalizers into Go struct field of type []string")
        del meta["finalizers"]


def _group_version(api_version: str) -> tuple[str, str]:
    # schema.ParseGroupVersion via FromAPIVersionAndKind: "v1" is the core group
    if "/" not in api_version:
        return "", api_version
    group, _, version = api_version.partition("/")
    return group, version


def validate_owner_references(refs: Any, path: str) -> list[FieldError]:
    """objectmeta.go ValidateOwnerReferences (the field path is the list's, not the item's)."""
    if refs is None:
        return []
    if not isinstance(refs, list) or not all(isinstance(r, dict) for r in refs):
        return [invalid(path, refs, "must be a list of owner references")]
    errs: list[FieldError] = []
    first_controller = ""
    for ref in refs:
        group, version = _group_version(str(ref.get("apiVersion") or ""))
        if not version:
            errs.append(invalid(f"{path}.apiVersion", ref.get("apiVersion", ""), "version must not be empty"))
        if not ref.get("kind"):
            errs.append(invalid(f"{path}.kind", ref.get("kind", ""), "must not be empty"))
        if not ref.get("name"):
            errs.append(invalid(f"{path}.name", ref.get("name", ""), "must not be empty"))
        if not ref.get("uid"):
            errs.append(invalid(f"{path}.uid", ref.get("uid", ""), "must not be empty"))
        if (group, version, ref.get("kind")) == ("", "v1", "Event"):  # BannedOwners
            errs.append(invalid(path, ref, "/v1, Kind=Event is disallowed from being an owner"))
        if ref.get("controller") is True:
            current = f"{ref.get('kind')}/{ref.get('name')}"
            if first_controller:
                errs.append(invalid(path, refs, 'Only one reference can have Controller set to true. Found "true" in '
                                                f"references for {first_controller} and {current}"))
            else:
                first_controller = current
    return errs


ORPHAN, FOREGROUND = "orphan", "foregroundDeletion"
ANNOTATIONS_LIMIT = 256 * 1024  # objectmeta.go TotalAnnotationSizeLimitB


def validate_object_meta(meta: dict[str, Any], *, namespaced: bool, name_fn: NameRule) -> list[FieldError]:
    """objectmeta.go ValidateObjectMetaAccessor."""
    errs: list[FieldError] = []
    if meta.get("generateName"):
        errs += [invalid("metadata.generateName", meta["generateName"], m) for m in name_fn(meta["generateName"], True)]
    if not meta.get("name"):
        errs.append(required("metadata.name", "name or generateName is required"))
    else:
        errs += [invalid("metadata.name", meta["name"], m) for m in name_fn(meta["name"], False)]
    if namespaced:
        if not meta.get("namespace"):
            errs.append(required("metadata.namespace"))
        else:
            errs += [invalid("metadata.namespace", meta["namespace"], m) for m in is_dns1123_label(meta["namespace"])]
    elif meta.get("namespace"):
        errs.append(forbidden("metadata.namespace", "not allowed on this type"))
    if int(meta.get("generation") or 0) < 0:
        errs.append(invalid("metadata.generation", meta["generation"], "must be greater than or equal to 0"))
    for key, value in (meta.get("labels") or {}).items():  # meta/v1/validation ValidateLabels
        errs += [invalid("metadata.labels", key, m) for m in is_qualified_name(key)]
        errs += [invalid("metadata.labels", value, m) for m in is_valid_label_value(value)]
    annotations = meta.get("annotations") or {}
    for key in annotations:
        errs += [invalid("metadata.annotations", key, m) for m in is_qualified_name(key.lower())]
    if sum(len(k) + len(v) for k, v in annotations.items()) > ANNOTATIONS_LIMIT:  # ValidateAnnotationsSize
        errs.append(too_long("metadata.annotations", ANNOTATIONS_LIMIT))
    errs += validate_owner_references(meta.get("ownerReferences"), "metadata.ownerReferences")
    finalizers = meta.get("finalizers") or []
    for name in finalizers:
        errs += [invalid("metadata.finalizers", name, m) for m in is_qualified_name(name)]
    if ORPHAN in finalizers and FOREGROUND in finalizers:
        errs.append(invalid("metadata.finalizers", finalizers,
                            f"finalizer {ORPHAN} and {FOREGROUND} cannot be both set"))
    return errs


def validate_object_meta_update(new: dict[str, Any], old: dict[str, Any]) -> list[FieldError]:
    """objectmeta.go ValidateObjectMetaAccessorUpdate (after BeforeUpdate kept uid, creation and
    deletion timestamps that the request left out)."""
    errs: list[FieldError] = []
    if old.get("deletionTimestamp"):
        added = sorted(set(new.get("finalizers") or []) - set(old.get("finalizers") or []))
        if added:
            errs.append(forbidden("metadata.finalizers", "no new finalizers can be added if the object is being "
                                                          f"deleted, found new finalizers {added}"))
    if not new.get("resourceVersion"):
        errs.append(invalid("metadata.resourceVersion", "", "must be specified for an update"))
    if int(new.get("generation") or 0) < int(old.get("generation") or 0):
        errs.append(invalid("metadata.generation", new.get("generation"), "must not be decremented"))
    for key in ("name", "namespace", "uid", "creationTimestamp", "deletionTimestamp"):
        if new.get(key) != old.get(key):
            errs.append(invalid(f"metadata.{key}", new.get(key, ""), "field is immutable"))
    return errs


__all__ = ["ANNOTATIONS_LIMIT", "coerce_metadata", "is_config_map_key", "is_dns1123_label", "is_dns1123_subdomain",
           "is_qualified_name", "is_valid_label_value", "name_rule", "validate_object_meta",
           "validate_object_meta_update", "validate_owner_references"]
