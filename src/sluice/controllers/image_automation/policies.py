"""Which ImagePolicies an automation uses, and what they currently select.

Flux lists the ImagePolicies in the automation's *own* namespace matching
``spec.policySelector`` (all of them when unset) and skips those without
``status.latestRef`` (not resolved yet). Their refs become
``status.observedPolicies`` (name -> ``{name, tag, digest}``); a difference
from the previous run means the repository must be looked at again even if
its revision did not move.

Policies written by an older reflector carry only the v1beta2
``status.latestImage`` (``<image>:<tag>``); it is split into a ref so such
policies still drive setters. The selector is matched here, against the
shared ImagePolicy informer's cache; an operator Kubernetes does not know
stalls the automation (``InvalidPolicySelector``), as in Flux.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sluice.api.image import INVALID_POLICY_SELECTOR, ImageRef
from sluice.api.meta import LabelSelector
from sluice.controllers.image_automation.errors import AutomationError
from sluice.runtime.informer import Informer

__all__ = ["InvalidPolicySelector", "latest_ref", "matches", "select_policies"]


class InvalidPolicySelector(AutomationError):
    reason = INVALID_POLICY_SELECTOR
    stalled = True


def latest_ref(policy: Mapping[str, Any]) -> ImageRef | None:
    """The policy's selected image (v1 ``latestRef``, or v1beta2 ``latestImage``)."""
    status = policy.get("status") or {}
    ref = status.get("latestRef")
    if isinstance(ref, dict) and ref.get("name") and ref.get("tag"):
        return ImageRef(name=str(ref["name"]), tag=str(ref["tag"]),
                        digest=str(ref["digest"]) if ref.get("digest") else None)
    image = status.get("latestImage")
    if isinstance(image, str) and image:
        digest = None
        if "@" in image:
            image, digest = image.split("@", 1)
        name, sep, tag = image.rpartition(":")
        if sep and "/" not in tag and name:
            return ImageRef(name=name, tag=tag, digest=digest)
    return None


def matches(selector: LabelSelector | None, labels: Mapping[str, str]) -> bool:
    """Kubernetes label-selector semantics (nil and empty selectors match everything)."""
    if selector is None:
        return True
    for key, value in (selector.match_labels or {}).items():
        if labels.get(key) != value:
            return False
    for req in selector.match_expressions or []:
        values = set(req.values or [])
        present = req.key in labels
        if req.operator == "In":
            ok = present and labels[req.key] in values
        elif req.operator == "NotIn":
            ok = not present or labels[req.key] not in values
        elif req.operator == "Exists":
            ok = present
        elif req.operator == "DoesNotExist":
            ok = not present
        else:
            raise InvalidPolicySelector(
                f"failed to parse policy selector: \"{req.operator}\" is not a valid label "
                "selector operator")
        if not ok:
            return False
    return True


def select_policies(policies: Informer, namespace: str,
                    selector: LabelSelector | None) -> dict[tuple[str, str], ImageRef]:
    """(namespace, name) -> latest ref of the policies in scope, sorted by name."""
    out: dict[tuple[str, str], ImageRef] = {}
    for policy in sorted(policies.list(namespace),
                         key=lambda p: str((p.get("metadata") or {}).get("name") or "")):
        meta = policy.get("metadata") or {}
        if not matches(selector, meta.get("labels") or {}):
            continue
        ref = latest_ref(policy)
        if ref is not None:
            out[(namespace, str(meta.get("name") or ""))] = ref
    return out
