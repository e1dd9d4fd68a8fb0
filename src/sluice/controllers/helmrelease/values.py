"""Composing a release's values: ``spec.valuesFrom`` then ``spec.values``, in Flux's order.

fluxcd/pkg's ``chartutil.ChartValuesFromReferences``, step by step:

* each ``valuesFrom`` entry (ConfigMap or Secret in the HelmRelease's own
  namespace; the same object is read once per reconcile) is taken in list
  order; its key (``valuesKey``, default ``values.yaml``) is either
  - parsed as YAML and deep-merged over what came before (maps merge
    recursively, lists and scalars replace), or
  - with ``targetPath``, set at that path with Helm's ``--set`` rules
    (``strvals``; a value in quotes stays a string; ``literal: true`` sets
    it verbatim, like ``--set-literal``), after the inline values were
    merged in, so a nested targetPath wins over them;
* inline ``spec.values`` are merged last;
* ``optional: true`` tolerates a missing object or key; any other problem is
  a `ValuesError` with Flux's text (``could not resolve ConfigMap chart
  values reference 'ns/name' with key 'values.yaml': ...``).

`config_digest` is the ``lastAttemptedConfigDigest``: the SHA-256 of the
values written as canonical YAML (sorted keys, go-yaml v2), the empty string
for no values; a change of it means a new release.
"""

from __future__ import annotations

import base64
import binascii
import copy
import hashlib
from collections.abc import Awaitable, Callable
from typing import Any

import yaml

from sluice.api.helm import HelmRelease, ValuesReference
from sluice.core import goyaml
from sluice.helmsdk import helm

from .errors import ValuesError

__all__ = ["Fetch", "compose_values", "config_digest", "merge_maps"]

Obj = dict[str, Any]
# (kind, namespace, name) -> the object, or None when it does not exist.
Fetch = Callable[[str, str, str], Awaitable[Obj | None]]


class _Loader(yaml.SafeLoader):
    """YAML as Go's sigs.k8s.io/yaml reads it: timestamps stay strings."""


_Loader.yaml_implicit_resolvers = {
    key: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def merge_maps(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """Helm's MergeMaps: maps merge recursively, anything else in ``b`` wins."""
    out = dict(a)
    for key, value in b.items():
        current = out.get(key)
        if isinstance(value, dict) and isinstance(current, dict):
            out[key] = merge_maps(current, value)
        else:
            out[key] = value
    return out


def _stringify_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _stringify_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_stringify_keys(v) for v in value]
    return value


def config_digest(values: dict[str, Any] | None) -> str:
    """``sha256:<hex>`` of the canonical YAML of ``values`` (of "" when there are none)."""
    text = goyaml.dump(values) if values else ""
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def _read_key(obj: Obj, kind: str, key: str) -> str | None:
    if kind == "Secret":
        raw = (obj.get("data") or {}).get(key)
        if raw is not None:
            try:
                return base64.b64decode(str(raw), validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                raise ValueError("the value is not valid base64-encoded UTF-8") from None
        text = (obj.get("stringData") or {}).get(key)
        return None if text is None else str(text)
    value = (obj.get("data") or {}).get(key)
    if value is None:
        binary = (obj.get("binaryData") or {}).get(key)
        if binary is not None:
            return base64.b64decode(str(binary)).decode("utf-8", "replace")
        return None
    return str(value)


def _set_at_path(target: dict[str, Any], ref: ValuesReference, value: str) -> dict[str, Any]:
    """``--set <targetPath>=<value>`` (or ``--set-literal``) over ``target``."""
    sdk = helm()
    path = ref.target_path or ""
    if ref.literal:
        parsed = sdk.parse_set_literal(f"{path}={value}")
    else:
        stripped = value.strip()
        if len(stripped) >= 2 and stripped[0] == stripped[-1] and stripped[0] in "\"'":
            # Quoted: the value is set as a string, quotes removed (Flux's rule).
            parsed = sdk.parse_set_string_values(f"{path}={stripped[1:-1]}")
        else:
            parsed = sdk.parse_set_string(f"{path}={value}")
    return merge_maps(target, parsed)


async def compose_values(hr: HelmRelease, fetch: Fetch) -> dict[str, Any]:
    """The values of the next release of ``hr``; see the module docs."""
    namespace = hr.namespace or ""
    inline = hr.spec.values if isinstance(hr.spec.values, dict) else {}
    result: dict[str, Any] = {}
    cache: dict[tuple[str, str], Obj | None] = {}
    for ref in hr.spec.values_from or []:
        key = ref.key()
        optional = "optional " if ref.optional else ""
        where = (f"could not resolve {optional}{ref.kind} chart values reference "
                 f"'{namespace}/{ref.name}' with key '{key}'")
        if (ref.kind, ref.name) not in cache:
            cache[(ref.kind, ref.name)] = await fetch(ref.kind, namespace, ref.name)
        obj = cache[(ref.kind, ref.name)]
        if obj is None:
            if ref.optional:
                continue
            plural = "secrets" if ref.kind == "Secret" else "configmaps"
            raise ValuesError(f"{where}: {plural} \"{ref.name}\" not found")
        try:
            text = _read_key(obj, ref.kind, key)
        except ValueError as exc:
            raise ValuesError(f"{where}: {exc}") from None
        if text is None:
            if ref.optional:
                continue
            raise ValuesError(f"{where}: key not found")
        if ref.target_path:
            result = merge_maps(result, copy.deepcopy(inline))
            try:
                result = _set_at_path(result, ref, text)
            except Exception as exc:  # Helm's strvals errors (HelmValuesError)
                detail = getattr(exc, "detail", None) or str(exc)
                raise ValuesError(f"{where}: unable to merge value at key '{key}' to "
                                  f"target path '{ref.target_path}': {detail}") from None
            continue
        try:
            doc = yaml.load(text, Loader=_Loader)
        except yaml.YAMLError as exc:
            first = str(exc).splitlines()[0] if str(exc) else "invalid YAML"
            raise ValuesError(f"{where}: failed to parse values: {first}") from None
        if doc is None:
            continue
        if not isinstance(doc, dict):
            raise ValuesError(f"{where}: values must be a YAML map, not "
                              f"{type(doc).__name__}")
        result = merge_maps(result, _stringify_keys(doc))
    return merge_maps(result, copy.deepcopy(inline))
