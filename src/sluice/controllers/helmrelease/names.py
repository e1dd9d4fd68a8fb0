"""Release names and namespaces, with helm-controller's rules.

Storage namespace, a deviation from Flux forced by Helm's SDK: helm-python-sdk
(helm-c) stores a release in the namespace it installs into, whatever
namespace its ``Config`` names, so a release cannot be installed in one
namespace and stored in another. Flux stores it in the HelmRelease's own
namespace unless ``spec.storageNamespace`` says otherwise; Sluice stores it
in the release namespace (``targetNamespace``, else the HelmRelease's), so a
HelmRelease with a ``targetNamespace`` works, and refuses (`storage_conflict`)
an explicit ``storageNamespace`` other than the release namespace instead of
writing the release where nothing would find it.

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

__all__ = ["MAX_RELEASE_NAME", "chart_template_ref", "release_name", "shorten_name",
           "storage_conflict", "storage_namespace"]

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


def storage_namespace(hr: HelmRelease) -> str:
    """Where Helm's release Secrets live (see the module docs)."""
    return hr.spec.storage_namespace or hr.release_namespace()


def storage_conflict(hr: HelmRelease) -> str | None:
    """Why ``spec.storageNamespace`` cannot be honoured, None when it can."""
    wanted = hr.spec.storage_namespace
    if not wanted or wanted == hr.release_namespace():
        return None
    return (f"spec.storageNamespace '{wanted}' differs from the release namespace "
            f"'{hr.release_namespace()}': Sluice's Helm SDK stores a release in the namespace "
            f"it is installed into; remove spec.storageNamespace or set it to "
            f"'{hr.release_namespace()}'")
