"""Object metadata rules shared by every kind: names, timestamps, generation.

Kubernetes validates names (DNS-1123 subdomains for most kinds, labels for
Namespaces and Services), label keys and values, and annotation sizes the same
way for every resource; this module holds those rules and the small helpers
that stamp server-owned metadata.
"""

from __future__ import annotations

import copy
import re
import secrets
from datetime import UTC, datetime
from typing import Any

from sluice.apiserver.errors import ApiError, BadRequest, Cause

_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")

# Kinds whose names must be DNS-1123 labels rather than subdomains.
LABEL_NAMED = {("", "Namespace"), ("", "Service")}
# Kinds whose names are path segments only (RBAC allows ':' and more).
PATH_NAMED = {("rbac.authorization.k8s.io", k) for k in
              ("Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding")}

_SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


# ObjectMeta's fields as Go types them: a body whose metadata cannot decode into them is
# refused before anything reads it (an integer name used to reach len() and answer 500).
_META_STRINGS = ("name", "generateName", "namespace", "uid", "resourceVersion",
                 "creationTimestamp", "deletionTimestamp", "selfLink")
_META_STRING_MAPS = ("labels", "annotations")
_META_LISTS = {"finalizers": str, "ownerReferences": dict, "managedFields": dict}


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _type_error(field: str, value: Any, go_type: str) -> ApiError:
    return BadRequest(f"json: cannot unmarshal {_json_type(value)} into Go struct field "
                      f"ObjectMeta.metadata.{field} of type {go_type}")


def check_meta_types(meta: dict[str, Any]) -> None:
    """Refuse (400) metadata that cannot decode into ObjectMeta's Go types."""
    for key in _META_STRINGS:
        value = meta.get(key)
        if value is not None and not isinstance(value, str):
            raise _type_error(key, value, "string")
    for key in _META_STRING_MAPS:
        value = meta.get(key)
        if value is None:
            continue
        if not isinstance(value, dict):
            raise _type_error(key, value, "map[string]string")
        for k, v in value.items():
            if not isinstance(k, str) or (v is not None and not isinstance(v, str)):
                raise _type_error(key, v, "string")
    for key, item_type in _META_LISTS.items():
        value = meta.get(key)
        if value is None:
            continue
        if not isinstance(value, list):
            raise _type_error(key, value, "[]" + ("string" if item_type is str else key[:-1]))
        for item in value:
            if not isinstance(item, item_type):
                raise _type_error(key, item, "string" if item_type is str else key[:-1])
    generation = meta.get("generation")
    if generation is not None and (isinstance(generation, bool) or
                                   not isinstance(generation, int)):
        raise _type_error("generation", generation, "int64")


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def random_suffix(n: int = 5) -> str:
    """The 5-character suffix Kubernetes appends for ``generateName`` (no vowels)."""
    return "".join(secrets.choice(_SUFFIX_ALPHABET) for _ in range(n))


def validate_name(group: str, kind: str, name: str, field: str = "metadata.name") -> list[Cause]:
    if not name:
        return [Cause(field, "Required value: name or generateName is required",
                      "FieldValueRequired")]
    if (group, kind) in PATH_NAMED:
        if name in (".", "..") or "/" in name or "%" in name:
            return [Cause(field, f'Invalid value: "{name}": may not contain \'/\' or \'%\'')]
        return []
    if (group, kind) in LABEL_NAMED:
        if len(name) > 63 or not _DNS1123_LABEL.match(name):
            return [Cause(field, f'Invalid value: "{name}": a lowercase RFC 1123 label must '
                          "consist of lower case alphanumeric characters or '-', and must start "
                          "and end with an alphanumeric character (e.g. 'my-name',  or "
                          "'123-abc', regex used for validation is "
                          "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')")]
        return []
    if len(name) > 253 or not _DNS1123_SUBDOMAIN.match(name):
        return [Cause(field, f'Invalid value: "{name}": a lowercase RFC 1123 subdomain must '
                      "consist of lower case alphanumeric characters, '-' or '.', and must start "
                      "and end with an alphanumeric character (e.g. 'example.com', regex used for "
                      "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*"
                      "[a-z0-9])?)*')")]
    return []


def _validate_qualified_key(key: str, field: str) -> list[Cause]:
    prefix, _, name = key.rpartition("/")
    causes: list[Cause] = []
    if prefix and (len(prefix) > 253 or not _DNS1123_SUBDOMAIN.match(prefix)):
        causes.append(Cause(field, f'Invalid value: "{key}": prefix part must be a DNS-1123 '
                            "subdomain"))
    if not name or len(name) > 63 or not _QUALIFIED_NAME.match(name):
        causes.append(Cause(field, f'Invalid value: "{key}": name part must consist of '
                            "alphanumeric characters, '-', '_' or '.', and must start and end "
                            "with an alphanumeric character"))
    return causes


def validate_metadata(meta: dict[str, Any]) -> list[Cause]:
    causes: list[Cause] = []
    labels = meta.get("labels") or {}
    if not isinstance(labels, dict):
        return [Cause("metadata.labels", "Invalid value: must be a map of strings",
                      "FieldValueTypeInvalid")]
    for k, v in labels.items():
        causes += _validate_qualified_key(k, "metadata.labels")
        if not isinstance(v, str):
            causes.append(Cause(f"metadata.labels.{k}", "Invalid value: must be a string",
                                "FieldValueTypeInvalid"))
        elif len(v) > 63 or not _LABEL_VALUE.match(v):
            causes.append(Cause("metadata.labels", f'Invalid value: "{v}": a valid label must '
                                "be an empty string or consist of alphanumeric characters, '-', "
                                "'_' or '.', and must start and end with an alphanumeric character"))
    annotations = meta.get("annotations") or {}
    if not isinstance(annotations, dict):
        return [*causes, Cause("metadata.annotations", "Invalid value: must be a map of strings",
                               "FieldValueTypeInvalid")]
    total = 0
    for k, v in annotations.items():
        causes += _validate_qualified_key(k, "metadata.annotations")
        if not isinstance(v, str):
            causes.append(Cause(f"metadata.annotations.{k}", "Invalid value: must be a string",
                                "FieldValueTypeInvalid"))
        else:
            total += len(k) + len(v)
    if total > 256 * 1024:
        causes.append(Cause("metadata.annotations", "Too long: may not be more than 262144 bytes",
                            "FieldValueTooLong"))
    return causes


def strip_server_fields(meta: dict[str, Any]) -> None:
    """Drop what a client may not set on create."""
    for k in ("uid", "resourceVersion", "creationTimestamp", "deletionTimestamp",
              "deletionGracePeriodSeconds", "generation", "selfLink"):
        meta.pop(k, None)


def deep(obj: Any) -> Any:
    return copy.deepcopy(obj)
