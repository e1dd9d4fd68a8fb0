"""Cross-namespace references: ``accessFrom`` on the referenced object (fluxcd/pkg ``acl``).

A policy in namespace A may use an ImageRepository in namespace B only if
the repository's ``spec.accessFrom.namespaceSelectors`` has a selector whose
``matchLabels`` all hold on namespace A's labels (an empty selector admits
every namespace). Same-namespace references are always allowed.
"""

from __future__ import annotations

from sluice.api.meta import AccessFrom
from sluice.controllers.image_reflector.errors import AccessDenied
from sluice.kube.errors import KubeError
from sluice.kube.objects import Objects

__all__ = ["check_access"]


async def check_access(objects: Objects, from_namespace: str, ref_namespace: str, ref_name: str,
                       acl: AccessFrom | None) -> None:
    """Raise `AccessDenied` unless ``from_namespace`` may use ``ref_namespace/ref_name``."""
    if not ref_namespace or ref_namespace == from_namespace:
        return
    ref = f"{ref_namespace}/{ref_name}"
    if acl is None:
        raise AccessDenied(f"access denied: '{ref}' can't be accessed due to missing ACL labels "
                           "on 'accessFrom'")
    try:
        m = await objects.mapping("v1", "Namespace")
        ns = await objects.get(m, from_namespace)
    except KubeError as exc:
        raise AccessDenied(f"access denied: {exc.message}") from None
    labels = (ns.get("metadata") or {}).get("labels") or {}
    for selector in acl.namespace_selectors:
        wanted = selector.match_labels or {}
        if all(labels.get(k) == v for k, v in wanted.items()):
            return
    raise AccessDenied(f"access denied: '{ref}' can't be accessed due to ACL labels mismatch on "
                       f"namespace '{from_namespace}'")
