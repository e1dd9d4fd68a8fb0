"""Release names and namespaces, with helm-controller's rules.

Storage namespace, as Flux: ``spec.storageNamespace``, else the
HelmRelease's own namespace, which may differ from the release namespace
(``targetNamespace``). helm-python-sdk (helm-c 0.2.2) cannot say so to one
action: its ``install`` builds a Helm configuration for the install
namespace, so storage, objects without a namespace and the release namespace
are one; its ``upgrade`` requires the config's namespace. Helm's own SDK
does take them apart (the storage driver's namespace is the Configuration's,
the release namespace is the action's, and an upgrade, rollback, test or
uninstall keeps the namespace recorded in the stored release). So when they
differ Sluice:

* installs from a config of the release namespace, then moves the revision
  Helm wrote there to the storage namespace (`ReleaseStorage.relocate`; the
  Secret is copied byte for byte, then deleted);
* runs every later action from a config of the storage namespace, where
  Helm keeps the release namespace of the stored revision;
* has the post-renderer write the release namespace into every namespaced
  object (and hook) that names none, since that config's objects would
  otherwise default to the storage namespace.

Sluice before this stored every release in its release namespace; such a
release (``status.storageNamespace`` = release namespace, no
``spec.storageNamespace``) is moved to the HelmRelease's namespace once,
not uninstalled and installed again as Flux would for a changed storage
namespace (the reconciler's ``_storage_in_place``).

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
           "storage_namespace"]

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
    """Where Helm's release Secrets live: ``spec.storageNamespace``, else the HR's namespace."""
    return hr.storage_namespace()
