"""``commonLabels``, ``labels`` and ``commonAnnotations``.

``commonLabels`` reach selectors and pod templates (which is why changing one
later breaks a Deployment's immutable selector); ``labels`` entries reach only
``metadata.labels`` unless they ask for ``includeSelectors`` (the same fields
as commonLabels) or ``includeTemplates`` (pod templates but no selectors), and
may add their own ``fields``. Values are always strings.
"""

from __future__ import annotations

from typing import Any

from .errors import InvalidKustomization
from .fieldspecs import COMMON_ANNOTATIONS, COMMON_LABELS, TEMPLATE_LABELS, FieldSpec, apply_specs
from .resources import ResMap


def _stringify(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _set_pairs(resources: ResMap, pairs: dict[str, Any], specs: list[FieldSpec]) -> None:
    if not pairs:
        return

    def leaf(parent: dict[str, Any], key: str) -> None:
        target = parent.get(key)
        if not isinstance(target, dict):
            target = parent[key] = {}
        for k, v in pairs.items():
            target[k] = _stringify(v)

    for res in resources:
        apply_specs(res, specs, leaf)


def _custom_specs(fields: Any, source: str) -> list[FieldSpec]:
    specs = []
    for f in fields or []:
        if not isinstance(f, dict) or "path" not in f:
            raise InvalidKustomization("labels[].fields entries need a path", path=source)
        specs.append(
            FieldSpec(
                str(f["path"]),
                kind=str(f.get("kind") or ""),
                group=str(f.get("group") or ""),
                version=str(f.get("version") or ""),
                create=bool(f.get("create", False)),
            )
        )
    return specs


def apply_labels(resources: ResMap, kustomization: dict[str, Any], source: str) -> None:
    for entry in kustomization.get("labels") or []:
        if not isinstance(entry, dict):
            raise InvalidKustomization("labels entries must be maps", path=source)
        specs = _custom_specs(entry.get("fields"), source)
        if entry.get("includeSelectors"):
            specs += COMMON_LABELS
        else:
            specs.append(FieldSpec("metadata/labels", create=True))
            if entry.get("includeTemplates"):
                specs += TEMPLATE_LABELS
        _set_pairs(resources, entry.get("pairs") or {}, _dedupe(specs))
    common = kustomization.get("commonLabels") or {}
    _set_pairs(resources, common, COMMON_LABELS)


def apply_annotations(resources: ResMap, annotations: dict[str, Any]) -> None:
    _set_pairs(resources, annotations, COMMON_ANNOTATIONS)


def _dedupe(specs: list[FieldSpec]) -> list[FieldSpec]:
    seen: dict[tuple[str, str, str, str], FieldSpec] = {}
    for spec in specs:
        key = (spec.path, spec.kind, spec.group, spec.version)
        if key not in seen or spec.create:
            seen[key] = spec
    return list(seen.values())
