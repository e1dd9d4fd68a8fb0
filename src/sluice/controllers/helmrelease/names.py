"""Release names and namespaces, with helm-controller's rules.

Helm refuses release names over 53 characters (they become label values and
Secret names with a ``sh.helm.release.v1.`` prefix and ``.vN`` suffix). A
name given in ``spec.releaseName`` is limited to 53 by the CRD; the name
helm-controller composes (``[<targetNamespace>-]<name>``) may be longer, and
is then shortened to its first 40 characters, ``-`` and the first 12 hex
digits of the SHA-256 of the full name, so it stays unique and stable.
"""

from __future__ import annotations

import hashlib

from sluice.api.helm import HelmRelease

__all__ = ["MAX_RELEASE_NAME", "chart_template_ref", "release_name", "shorten_name"]

MAX_RELEASE_NAME = 53


def shorten_name(name: str) -> str:
    """``name`` if Helm accepts its length, else Flux's shortened form."""
    if len(name) <= MAX_RELEASE_NAME:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()
    return f"{name[:40]}-{digest[:12]}"


def release_name(hr: HelmRelease) -> str:
    """The Helm release name of ``hr`` (what storage and snapshots hold)."""
    return shorten_name(hr.release_name())


def chart_template_ref(hr: HelmRelease) -> str:
    """``<namespace>/<name>`` of the HelmChart generated from ``spec.chart``."""
    return f"{hr.helm_chart_namespace()}/{hr.helm_chart_name()}"
