"""The Flux kinds as the CLI names them: ``source git``, ``ks``, ``image policy``, ``alert-provider``.

flux's verbs (``get``, ``reconcile``, ``suspend``, ``resume``, ``delete``,
``export``) all take the same nouns, in two levels for sources and images.
`FluxKind` carries what every verb needs to know about a kind: its API
coordinates, the "human kind" flux prints (``► suspending source git podinfo
in flux-system namespace``), what a successful reconcile reports (``fetched
revision main@sha1:...``, ``applied revision ...``), whether it can be
suspended or reconciled at all (Alerts and Providers have no status), and
where its source reference lives (``reconcile --with-source``, ``events
--for``).

`SOURCES`, `IMAGES` and `TOP_LEVEL` map the CLI nouns to kinds, in the order
flux lists them in ``get all``; `kind_by_name` resolves a Kind written by a
user (``Kustomization``, ``kustomization``, ``GitRepository``) for
``events --for`` and ``trace``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import click

from sluice.cli.parsing import SluiceGroup, group_global_options

__all__ = [
    "ALL",
    "IMAGES",
    "SOURCES",
    "TOP_LEVEL",
    "FluxKind",
    "condition",
    "kind_by_name",
    "rfc3339",
    "verb_group",
]

Obj = dict[str, Any]


def _get(obj: Mapping[str, Any], *path: str) -> Any:
    value: Any = obj
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def _text(obj: Mapping[str, Any], *path: str) -> str:
    value = _get(obj, *path)
    return "" if value is None else str(value)


def condition(obj: Mapping[str, Any], type_: str) -> dict[str, Any] | None:
    """The condition of ``type_`` in ``status.conditions``, if any."""
    for cond in _get(obj, "status", "conditions") or []:
        if isinstance(cond, Mapping) and cond.get("type") == type_:
            return dict(cond)
    return None


def rfc3339(value: object) -> str:
    """A timestamp from the API as Go's ``time.RFC3339`` prints it (seconds, ``Z``)."""
    if not isinstance(value, str) or not value:
        return ""
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    text = parsed.replace(microsecond=0).isoformat()
    return text.replace("+00:00", "Z")


def _artifact_revision(obj: Mapping[str, Any]) -> str:
    return _text(obj, "status", "artifact", "revision")


def _fetched(obj: Mapping[str, Any]) -> str:
    return f"fetched revision {_artifact_revision(obj)}"


def _applied(obj: Mapping[str, Any]) -> str:
    return f"applied revision {_text(obj, 'status', 'lastAppliedRevision')}"


def helmrelease_revision(obj: Mapping[str, Any]) -> str:
    """The chart version of the latest release, else the last attempted revision."""
    history = _get(obj, "status", "history")
    if isinstance(history, list) and history and isinstance(history[0], Mapping):
        version = history[0].get("chartVersion")
        if version:
            return str(version)
    return _text(obj, "status", "lastAttemptedRevision")


def _hr_applied(obj: Mapping[str, Any]) -> str:
    return f"applied revision {helmrelease_revision(obj)}"


def _scanned(obj: Mapping[str, Any]) -> str:
    count = _get(obj, "status", "lastScanResult", "tagCount")
    return f"scan fetched {count if count is not None else 0} tags"


def _selected(obj: Mapping[str, Any]) -> str:
    name = _text(obj, "status", "latestRef", "name")
    tag = _text(obj, "status", "latestRef", "tag")
    ref = f"{name}:{tag}" if tag else name
    digest = _text(obj, "status", "latestRef", "digest")
    if digest:
        ref = f"{ref}@{digest}"
    return f"selected ref {ref}"


def _automation(obj: Mapping[str, Any]) -> str:
    commit = _text(obj, "status", "lastPushCommit")
    if commit:
        return (f"committed and pushed {commit[:7]} at "
                f"{rfc3339(_get(obj, 'status', 'lastPushTime'))}")
    last_run = _get(obj, "status", "lastAutomationRunTime")
    if last_run:
        return f"last run {rfc3339(last_run)}"
    return "automation not yet run"


def _receiver(obj: Mapping[str, Any]) -> str:
    ready = condition(obj, "Ready") or {}
    return str(ready.get("message") or "Receiver reconciled")


@dataclass(frozen=True)
class FluxKind:
    """One Flux kind as the CLI sees it."""

    kind: str
    group: str
    version: str
    plural: str
    # flux's "human kind": ``► suspending source git podinfo ...``
    human: str
    # what ``reconcile`` prints once the object is ready; None: no status to wait on
    success: Callable[[Mapping[str, Any]], str] | None
    suspendable: bool = True
    # where the kind references its source (``spec.sourceRef``), for --with-source
    source_path: tuple[str, ...] = ()

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}"

    @property
    def has_status(self) -> bool:
        return self.success is not None

    def source_ref(self, obj: Mapping[str, Any]) -> tuple[str, str, str] | None:
        """(kind, namespace, name) of the object's source, when it has one."""
        if not self.source_path:
            return None
        ref = _get(obj, *self.source_path)
        if not isinstance(ref, Mapping) or not ref.get("name"):
            return None
        namespace = ref.get("namespace") or _text(obj, "metadata", "namespace")
        return str(ref.get("kind") or ""), str(namespace), str(ref["name"])


# Each kind's storage version and plural, written out rather than read from
# `sluice.api.kinds`: importing the pydantic models costs ~60 ms that every
# `get` would pay before it prints anything. tests/cli/test_kinds_table.py keeps
# this table equal to the models.
COORDINATES: dict[tuple[str, str], tuple[str, str]] = {
    ("source.toolkit.fluxcd.io", "GitRepository"): ("v1", "gitrepositories"),
    ("source.toolkit.fluxcd.io", "OCIRepository"): ("v1", "ocirepositories"),
    ("source.toolkit.fluxcd.io", "Bucket"): ("v1", "buckets"),
    ("source.toolkit.fluxcd.io", "HelmRepository"): ("v1", "helmrepositories"),
    ("source.toolkit.fluxcd.io", "HelmChart"): ("v1", "helmcharts"),
    ("kustomize.toolkit.fluxcd.io", "Kustomization"): ("v1", "kustomizations"),
    ("helm.toolkit.fluxcd.io", "HelmRelease"): ("v2", "helmreleases"),
    ("image.toolkit.fluxcd.io", "ImageRepository"): ("v1", "imagerepositories"),
    ("image.toolkit.fluxcd.io", "ImagePolicy"): ("v1", "imagepolicies"),
    ("image.toolkit.fluxcd.io", "ImageUpdateAutomation"): ("v1", "imageupdateautomations"),
    ("notification.toolkit.fluxcd.io", "Alert"): ("v1beta3", "alerts"),
    ("notification.toolkit.fluxcd.io", "Provider"): ("v1beta3", "providers"),
    ("notification.toolkit.fluxcd.io", "Receiver"): ("v1", "receivers"),
}


def _make(kind: str, group: str, human: str,
          success: Callable[[Mapping[str, Any]], str] | None, *,
          suspendable: bool = True, source_path: tuple[str, ...] = ()) -> FluxKind:
    version, plural = COORDINATES[(group, kind)]
    return FluxKind(kind, group, version, plural, human, success, suspendable,
                    source_path)


_SOURCE = "source.toolkit.fluxcd.io"
_NOTIFICATION = "notification.toolkit.fluxcd.io"
_IMAGE = "image.toolkit.fluxcd.io"

GIT_REPOSITORY = _make("GitRepository", _SOURCE, "source git", _fetched)
OCI_REPOSITORY = _make("OCIRepository", _SOURCE, "source oci", _fetched)
BUCKET = _make("Bucket", _SOURCE, "source bucket", _fetched)
HELM_REPOSITORY = _make("HelmRepository", _SOURCE, "source helm", _fetched)
HELM_CHART = _make("HelmChart", _SOURCE, "source chart", _fetched,
                   source_path=("spec", "sourceRef"))
KUSTOMIZATION = _make("Kustomization", "kustomize.toolkit.fluxcd.io", "kustomization",
                      _applied, source_path=("spec", "sourceRef"))
HELM_RELEASE = _make("HelmRelease", "helm.toolkit.fluxcd.io", "helmrelease", _hr_applied,
                     source_path=("spec", "chart", "spec", "sourceRef"))
IMAGE_REPOSITORY = _make("ImageRepository", _IMAGE, "image repository", _scanned)
IMAGE_POLICY = _make("ImagePolicy", _IMAGE, "image policy", _selected,
                     source_path=("spec", "imageRepositoryRef"))
IMAGE_UPDATE = _make("ImageUpdateAutomation", _IMAGE, "image update automation", _automation,
                     source_path=("spec", "sourceRef"))
ALERT = _make("Alert", _NOTIFICATION, "alert", None)
PROVIDER = _make("Provider", _NOTIFICATION, "alert-provider", None)
RECEIVER = _make("Receiver", _NOTIFICATION, "receiver", _receiver)

# CLI noun -> kind, in the order ``flux get ... all`` prints them.
SOURCES: dict[str, FluxKind] = {
    "oci": OCI_REPOSITORY,
    "bucket": BUCKET,
    "git": GIT_REPOSITORY,
    "helm": HELM_REPOSITORY,
    "chart": HELM_CHART,
}
IMAGES: dict[str, FluxKind] = {
    "repository": IMAGE_REPOSITORY,
    "policy": IMAGE_POLICY,
    "update": IMAGE_UPDATE,
}
TOP_LEVEL: dict[str, FluxKind] = {
    "helmrelease": HELM_RELEASE,
    "kustomization": KUSTOMIZATION,
    "receiver": RECEIVER,
    "alert-provider": PROVIDER,
    "alert": ALERT,
}
# Aliases cobra accepts for the top-level nouns.
ALIASES: dict[str, str] = {
    "ks": "kustomization",
    "kustomizations": "kustomization",
    "hr": "helmrelease",
    "helmreleases": "helmrelease",
    "alerts": "alert",
    "alert-providers": "alert-provider",
    "receivers": "receiver",
}

ALL: tuple[FluxKind, ...] = (*SOURCES.values(), *IMAGES.values(), *TOP_LEVEL.values())


def kind_by_name(name: str) -> FluxKind | None:
    """The kind a user named by its Kind (any case) or its CLI noun."""
    wanted = name.casefold()
    for fk in ALL:
        if fk.kind.casefold() == wanted:
            return fk
    noun = ALIASES.get(name, name)
    return TOP_LEVEL.get(noun)


# ------------------------------------------------------------------ verb trees


def verb_group(name: str, short: str,
               leaf: Callable[[FluxKind, str], click.Command],
               group_options: Callable[[Any], Any] | None = None) -> click.Group:
    """``<verb> source git|helm|...``, ``<verb> image ...``, ``<verb> kustomization|ks ...``.

    ``leaf(kind, noun)`` builds the command for one kind; ``group_options``
    decorates the verb's own group (persistent flags such as ``--silent``).
    """
    def verb() -> None:
        pass

    verb.__doc__ = short
    decorated: Any = group_global_options(verb)
    if group_options is not None:
        decorated = group_options(decorated)
    group = click.group(name, cls=SluiceGroup, aliases=dict(ALIASES),
                        short_help=short)(decorated)

    def sub(noun: str, doc: str, members: Mapping[str, FluxKind]) -> click.Group:
        def body() -> None:
            pass

        body.__doc__ = doc
        child = click.group(noun, cls=SluiceGroup)(group_global_options(body))
        for member_noun, fk in members.items():
            child.add_command(leaf(fk, member_noun))
        return child

    group.add_command(sub("source", f"{short}: sources", SOURCES))
    group.add_command(sub("image", f"{short}: image automation objects", IMAGES))
    for noun, fk in TOP_LEVEL.items():
        group.add_command(leaf(fk, noun))
    return group
