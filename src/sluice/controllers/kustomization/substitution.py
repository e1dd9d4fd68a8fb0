"""Post-build variable substitution (``spec.postBuild``), the way kustomize-controller does it.

Variables come from ``substituteFrom`` (ConfigMaps, and Secrets decoded from
base64, in the listed order, later ones winning; ``optional: true``
tolerates a missing object) and then the inline ``substitute`` map on top;
newlines are removed from values so a value cannot break the YAML around
it. Substitution runs only when at least one variable is defined (or with
``substituteStrategy: Always``), with Flux's ``${var}`` rules
(`sluice.core.envsubst`, strict by default: an unset variable without a
default fails the build, naming it), and skips objects labelled or
annotated ``kustomize.toolkit.fluxcd.io/substitute: disabled``.

**Types.** Flux substitutes in each object's YAML text and parses the result
again, keeping the quoting the author wrote: ``replicas: ${REPLICAS}``
becomes the number 3, ``version: "${VERSION}"`` stays the string ``"1.0"``.
The build engine returns plain values, so this module recovers the author's
quoting from the artifact: it scans the YAML files (and inline patches) for
scalars holding ``$`` and remembers which were written quoted or as block
scalars (`quoted_scalars`). Each string holding ``$`` is then substituted on
its own; a string written quoted stays a string, any other is read back as
a YAML value (``3``, ``true``, ``[a, b]``), as Flux's re-parse reads it. Keys
stay strings.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from sluice.api.kustomize import PostBuild
from sluice.api.meta import DISABLED_VALUE, KUSTOMIZE_SUBSTITUTE_ANNOTATION
from sluice.controllers.kustomization.building import BuildFailure
from sluice.core.envsubst import VAR_NAME_PATTERN, SubstitutionError, expand, is_valid_name
from sluice.kube.errors import KubeError, is_not_found
from sluice.kube.objects import Objects
from sluice.kustomize.decode import load_one

__all__ = [
    "Quoting",
    "load_variables",
    "quoted_scalars",
    "scan_quoting",
    "substitute_objects",
    "substitutes",
]

Obj = dict[str, Any]

_Parser: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_YAML_SUFFIXES = (".yaml", ".yml")


def _clean(value: str) -> str:
    return value.replace("\n", "")


async def load_variables(client: Objects, namespace: str, post_build: PostBuild | None
                         ) -> dict[str, str]:
    """The substitution variables: ``substituteFrom`` in order, then ``substitute``."""
    variables: dict[str, str] = {}
    if post_build is None:
        return variables
    for ref in post_build.substitute_from or []:
        try:
            mapping = await client.mapping("v1", ref.kind)
            found = await client.get(mapping, ref.name, namespace)
        except KubeError as exc:
            if ref.optional and is_not_found(exc):
                continue
            raise BuildFailure(f"substitute from '{ref.kind}/{ref.name}' error: "
                               f"{exc.message}") from None
        for key, value in (found.get("data") or {}).items():
            if ref.kind == "Secret":
                try:
                    text = base64.b64decode(str(value), validate=True).decode("utf-8")
                except (binascii.Error, ValueError):
                    raise BuildFailure(f"substitute from 'Secret/{ref.name}' error: key "
                                       f"'{key}' is not valid base64 UTF-8") from None
            else:
                text = str(value)
            variables[str(key)] = _clean(text)
    for key, value in (post_build.substitute or {}).items():
        variables[key] = _clean(str(value))
    return variables


def substitutes(post_build: PostBuild | None, variables: Mapping[str, str]) -> bool:
    """Does substitution run at all? (only with variables, unless ``Always``)"""
    if post_build is None:
        return False
    return bool(variables) or post_build.substitute_strategy == "Always"


# ------------------------------------------------------------- author's quoting


def _scan(text: str, quoted: set[str], plain: set[str], depth: int = 0) -> None:
    try:
        events = list(yaml.parse(text, Loader=_Parser))
    except yaml.YAMLError:
        return  # the build reports broken files; nothing to learn here
    for event in events:
        if not isinstance(event, yaml.ScalarEvent) or "$" not in event.value:
            continue
        if event.style in (None, ""):
            plain.add(event.value)
            continue
        quoted.add(event.value)
        # Inline patches are YAML inside a block scalar: learn from them too.
        if depth == 0 and event.style in ("|", ">") and ":" in event.value:
            _scan(event.value, quoted, plain, depth + 1)


@dataclass(frozen=True)
class Quoting:
    """How an artifact's YAML writes the scalars holding ``$``."""

    quoted: frozenset[str]
    plain: frozenset[str]

    def with_texts(self, texts: Iterable[str]) -> frozenset[str]:
        """The strings written quoted (and never plain), ``texts`` (inline patches) included."""
        quoted, plain = set(self.quoted), set(self.plain)
        for text in texts:
            if "$" in text:
                _scan(text, quoted, plain)
        return frozenset(quoted - plain)


def scan_quoting(root: Path) -> Quoting:
    """Scan every YAML file of an artifact for the quoting of scalars holding ``$``."""
    quoted: set[str] = set()
    plain: set[str] = set()
    for directory, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d != ".git"]
        for name in files:
            if not (name.endswith(_YAML_SUFFIXES) or name == "Kustomization"):
                continue
            try:
                text = (Path(directory) / name).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                continue
            if "$" in text:
                _scan(text, quoted, plain)
    return Quoting(frozenset(quoted), frozenset(plain))


def quoted_scalars(root: Path, extra: Iterable[str] = ()) -> frozenset[str]:
    """Strings holding ``$`` that the artifact's YAML (and ``extra`` texts) writes quoted.

    A string written both quoted and plain somewhere counts as plain.
    """
    return scan_quoting(root).with_texts(extra)


# ---------------------------------------------------------------- substitution


def _disabled(obj: Mapping[str, Any]) -> bool:
    meta = obj.get("metadata") or {}
    return any((meta.get(section) or {}).get(KUSTOMIZE_SUBSTITUTE_ANNOTATION) == DISABLED_VALUE
               for section in ("labels", "annotations"))


class _Substituter:
    def __init__(self, variables: Mapping[str, str], strict: bool,
                 quoted: frozenset[str]) -> None:
        self.lookup = variables.get
        self.strict = strict
        self.quoted = quoted

    def text(self, value: str) -> str:
        return expand(value, self.lookup, strict=self.strict)

    def value(self, value: str) -> Any:
        result = self.text(value)
        if value in self.quoted:
            return result
        # Written plain: Flux's re-parse types the substituted text.
        try:
            typed = load_one(result)
        except (yaml.YAMLError, ValueError):
            return result
        if isinstance(typed, (dict, list)) and not result.lstrip().startswith(("{", "[")):
            return result  # "a: b" in a plain scalar is text, not a nested map
        return typed

    def walk(self, node: Any) -> Any:
        if isinstance(node, dict):
            return {(self.text(k) if isinstance(k, str) and "$" in k else k): self.walk(v)
                    for k, v in node.items()}
        if isinstance(node, list):
            return [self.walk(v) for v in node]
        if isinstance(node, str) and "$" in node:
            return self.value(node)
        return node


def substitute_objects(objects: Sequence[Obj], variables: Mapping[str, str], *,
                       strict: bool = True, quoted: frozenset[str] = frozenset()) -> list[Obj]:
    """Substitute ``${...}`` in every object not opted out; returns the new objects.

    ``quoted`` lists the strings the author wrote quoted (`quoted_scalars`);
    they stay strings, others are typed as YAML would type them.
    """
    for name in variables:
        if not is_valid_name(name):
            raise BuildFailure(f"post build failed: '{name}' var name is invalid, must match "
                               f"'{VAR_NAME_PATTERN}'")
    sub = _Substituter(variables, strict, quoted)
    out: list[Obj] = []
    for obj in objects:
        if _disabled(obj):
            out.append(obj)
            continue
        name = (obj.get("metadata") or {}).get("name", "")
        try:
            result = sub.walk(obj)
        except SubstitutionError as exc:
            raise BuildFailure(f"post build failed for '{name}': variable substitution "
                               f"failed: {exc}") from None
        out.append(result)
    return out
