"""What the API server does to an object between a write request and storage.

The order is the real one, because the order decides which error a client sees first:
decode (a custom resource needs `kind`), drop unknown metadata, prune / drop nulls / default
against the CRD's schema, then the NamespaceLifecycle admission plugin (in the store), then
the strategy: PrepareForCreate / PrepareForUpdate (the status subresource split) and the
validation that answers 422, then etcd's size limit. Sources, kubernetes v1.34:
apiserver `pkg/registry/rest/create.go` BeforeCreate, `update.go` BeforeUpdate,
`pkg/endpoints/handlers/update.go` checkName; apiextensions-apiserver
`pkg/registry/customresource/strategy.go`, `status_strategy.go`, `validator.go`;
kubernetes `pkg/apis/core/validation` ValidateConfigMap / ValidateSecret (1 MiB of data) and, of
ValidatePod, ValidateVolumeMounts (a container's mount names one of the pod's volumes).
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import TYPE_CHECKING, Any

from tests.kube_double import meta, schema
from tests.kube_double.errors import (
    ApiError,
    FieldError,
    bad_request,
    field_not_found,
    invalid,
    invalid_object,
    too_long,
)
from tests.kube_double.jsonvalue import clone, copied, fits

if TYPE_CHECKING:
    from tests.kube_double.store import Resource

# etcd's default --max-request-bytes (1.5 MiB): a bigger object never reaches storage, and the
# apiserver answers its error as a 500 with reason Unknown (handlers/rest.go isTooLargeError;
# responsewriters/status.go ErrorToAPIStatus for an error that is not a Status).
ETCD_MAX_REQUEST_BYTES = 1536 * 1024
# apiserver pkg/server/config.go: MaxRequestBodyBytes, a write request's body (413 above it).
MAX_REQUEST_BODY_BYTES = 3 * 1024 * 1024
MAX_SECRET_SIZE = 1024 * 1024  # core.MaxSecretSize: ConfigMap and Secret data together
# builtins that keep `status` on create (their strategies set it rather than drop it)
_STATUS_ON_CREATE = frozenset({"namespaces", "pods", "nodes"})


def decode(res: Resource, body: Any, *, unknown: list[str]) -> dict[str, Any]:
    """The request body as the server reads it: pruned and defaulted; unknown fields listed."""
    if not isinstance(body, dict):
        raise bad_request("the body of the request was in an unknown format: expected an object")
    obj, plain = copied(body)
    if res.custom and not obj.get("kind"):
        # apimachinery unstructured/helpers.go Decode: runtime.NewMissingKindErr
        raise bad_request(f"Object 'Kind' is missing in '{json.dumps(body, separators=(',', ':'))}'")
    meta.coerce_metadata(obj, custom=res.custom, unknown=unknown)
    if res.schema is not None:
        schema.apply(obj, res.schema, unknown=unknown, memo=res.memo if plain else None)
    return obj


def prepare_create(res: Resource, obj: dict[str, Any]) -> None:
    if res.status_subresource and res.plural not in _STATUS_ON_CREATE:
        obj.pop("status", None)  # strategy.go PrepareForCreate: create cannot set status
    obj.setdefault("apiVersion", res.api_version)
    obj.setdefault("kind", res.kind)
    obj["metadata"]["generation"] = 1


def _type_meta(res: Resource, obj: dict[str, Any]) -> list[FieldError]:
    """validator.go ValidateTypeMeta, for custom resources."""
    errs = []
    if obj.get("kind") != res.kind:
        errs.append(invalid("kind", obj.get("kind", ""), f"must be {res.kind}"))
    if obj.get("apiVersion") != res.api_version:
        errs.append(invalid("apiVersion", obj.get("apiVersion", ""), f"must be {res.api_version}"))
    return errs


def _data_errors(res: Resource, obj: dict[str, Any]) -> list[FieldError]:
    """core/validation ValidateConfigMap / ValidateSecret: config keys, 1 MiB of data."""
    if res.group or res.plural not in ("configmaps", "secrets"):
        return []
    errs: list[FieldError] = []
    total = 0
    bags = ("data", "binaryData") if res.plural == "configmaps" else ("data",)
    for bag in bags:
        for key, value in (obj.get(bag) or {}).items():
            errs += [invalid(f"{bag}[{key}]", key, m) for m in meta.is_config_map_key(key)]
            if res.plural == "configmaps" and bag == "data":
                total += len(str(value).encode())
            else:
                try:
                    total += len(base64.b64decode(str(value), validate=True))
                except (binascii.Error, ValueError):
                    raise bad_request(f"illegal base64 data in {bag}[{key}]") from None
    if total > MAX_SECRET_SIZE:
        errs.append(too_long("" if res.plural == "configmaps" else "data", MAX_SECRET_SIZE))
    return errs


def _pod_errors(res: Resource, obj: dict[str, Any]) -> list[FieldError]:
    if res.group or res.plural != "pods":
        return []
    return pod_volume_errors(obj.get("spec") or {})


def pod_volume_errors(spec: dict[str, Any]) -> list[FieldError]:
    """core/validation ValidateVolumeMounts (IsMatchedVolume): every container's (and init
    container's) mount names a volume of the pod: `spec.containers[i].volumeMounts[j].name: Not found`."""
    names = {v.get("name") for v in spec.get("volumes") or []}
    errs: list[FieldError] = []
    for kind in ("initContainers", "containers"):
        for i, container in enumerate(spec.get(kind) or []):
            for j, mount in enumerate(container.get("volumeMounts") or []):
                if mount.get("name") not in names:
                    errs.append(field_not_found(f"spec.{kind}[{i}].volumeMounts[{j}].name", mount.get("name", "")))
    return errs


def validate_create(res: Resource, obj: dict[str, Any]) -> None:
    """BeforeCreate: the strategy's Validate; 422 with every error."""
    errs = meta.validate_object_meta(obj["metadata"], namespaced=res.namespaced,
                                     name_fn=meta.name_rule(res.group, res.plural))
    errs += _body_errors(res, obj, subresource="")
    errs += _pod_errors(res, obj)
    if errs:
        raise invalid_object(res.group, res.kind, obj["metadata"].get("name", ""), errs)


def _body_errors(res: Resource, obj: dict[str, Any], *, subresource: str) -> list[FieldError]:
    errs: list[FieldError] = []
    if res.custom:
        errs += _type_meta(res, obj)
    if res.schema is not None:
        if subresource == "status":  # validator.go ValidateStatusUpdate: the status schema only
            status_schema = (res.schema.get("properties") or {}).get("status")
            if "status" in obj and status_schema is not None:
                errs += schema.validate(obj["status"], status_schema, "status", memo=res.memo)
                errs += schema.list_errors(obj["status"], status_schema, "status", memo=res.memo)
        else:
            errs += schema.validate(obj, res.schema, memo=res.memo)
            errs += schema.list_errors(obj, res.schema, memo=res.memo)
    errs += _data_errors(res, obj)
    return errs


def check_name(obj: dict[str, Any], name: str, namespace: str) -> None:
    """handlers/update.go checkName: a PUT body names the object of its URL."""
    body_name = obj["metadata"].get("name", "")
    if body_name != name:
        raise bad_request(f"the name of the object ({body_name}) does not match the name on the URL ({name})")
    body_ns = obj["metadata"].get("namespace", "")
    if namespace and body_ns and body_ns != namespace:
        raise bad_request(f"the namespace of the object ({body_ns}) does not match the namespace on the URL "
                          f"({namespace})")


def prepare_update(res: Resource, new: dict[str, Any], old: dict[str, Any], *, subresource: str) -> dict[str, Any]:
    """BeforeUpdate with the strategy's PrepareForUpdate: what of `new` is kept."""
    if res.status_subresource and subresource == "status":
        # status_strategy.go: copy the old object, take only the new status
        status = new.get("status")
        new = clone(old)
        if status is None:
            new.pop("status", None)
        else:
            new["status"] = status
    elif res.status_subresource:
        # strategy.go PrepareForUpdate: the main resource does not set status
        if "status" in old:
            new["status"] = clone(old["status"])
        else:
            new.pop("status", None)
    new_meta, old_meta = new["metadata"], old["metadata"]
    new_meta["generation"] = old_meta.get("generation", 1)  # requests cannot set generation
    if not new_meta.get("uid"):
        new_meta["uid"] = old_meta.get("uid")
    for kept in ("creationTimestamp", "deletionTimestamp"):
        if old_meta.get(kept):
            new_meta[kept] = old_meta[kept]
    new_meta.setdefault("namespace", old_meta.get("namespace", ""))
    if not res.namespaced:
        new_meta.pop("namespace", None)
    new.setdefault("apiVersion", res.api_version)
    new.setdefault("kind", res.kind)
    if subresource != "status":
        if res.custom:  # strategy.go: any change outside metadata increments the generation
            if {k: v for k, v in new.items() if k != "metadata"} != {k: v for k, v in old.items() if k != "metadata"}:
                new_meta["generation"] = old_meta.get("generation", 1) + 1
        elif new.get("spec") != old.get("spec"):
            new_meta["generation"] = old_meta.get("generation", 1) + 1
    return new


def validate_update(res: Resource, new: dict[str, Any], old: dict[str, Any], *, subresource: str) -> None:
    """BeforeUpdate's validateCommonFields and the strategy's ValidateUpdate; 422 with every error."""
    errs = meta.validate_object_meta(new["metadata"], namespaced=res.namespaced, name_fn=meta.path_segment_name)
    errs += meta.validate_object_meta_update(new["metadata"], old["metadata"])
    errs += _body_errors(res, new, subresource=subresource)
    if errs:
        raise invalid_object(res.group, res.kind, new["metadata"].get("name", ""), errs)


def check_size(obj: dict[str, Any]) -> None:
    if not fits(obj, ETCD_MAX_REQUEST_BYTES):  # len(json.dumps(obj, separators=(",", ":")).encode()), as before
        raise ApiError(500, "", "etcdserver: request is too large")


__all__ = ["ETCD_MAX_REQUEST_BYTES", "MAX_REQUEST_BODY_BYTES", "check_name", "check_size", "decode",
           "prepare_create", "prepare_update", "validate_create", "validate_update"]
