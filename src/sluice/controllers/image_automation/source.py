"""The automation's Git source: which repository, with which credentials, on which branches.

Flux's ``NewSourceManager`` checks, in this order: the ``sourceRef`` kind
must be GitRepository (``source kind '<k>' not supported``), ``spec.git``
must be set (``source kind 'GitRepository' necessitates field .spec.git``),
a cross-namespace reference may be refused (``can't access
'GitRepository/<ns>/<name>', cross-namespace references have been
blocked``); then it reads the GitRepository and its Secret (decoded as the
source controller decodes it) and works out the branches:

* checkout ref = ``spec.git.checkout.ref``, else the GitRepository's ``spec.ref``;
* push branch = ``spec.git.push.branch``, else the checkout ref's branch,
  else ``push spec not provided, and cannot be inferred from
  .spec.git.checkout.ref or GitRepository .spec.ref``;
* it is a *switch branch* when the push branch differs from the checkout
  branch (``master`` when the checkout ref names none): the update is made
  on the push branch's tip when the remote has it (else from the checkout
  commit), committed on top and force-pushed, as Flux does with its default
  ``GitAllBranchReferences`` and ``GitForcePushBranch`` gates.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from sluice.api.image import ImageUpdateAutomation
from sluice.api.source import GitRepository, GitRepositoryRef
from sluice.controllers.image_automation.errors import (
    AccessDenied,
    InvalidSourceConfiguration,
    SourceNotReady,
)
from sluice.core.durations import SECOND, DurationError, parse_duration
from sluice.git import DEFAULT_BRANCH, GitAuth, GitRef
from sluice.kube.errors import KubeError, is_not_found
from sluice.kube.mapping import ResourceMapping
from sluice.kube.objects import Objects
from sluice.runtime.informer import Informer

__all__ = ["GitSource", "resolve_source", "secret_data"]

GIT_REPOSITORY = "GitRepository"
DEFAULT_TIMEOUT = 60.0


@dataclass(frozen=True)
class GitSource:
    """Everything a run needs to check out, commit and push."""

    namespace: str
    name: str
    url: str
    auth: GitAuth
    checkout: GitRef
    push_branch: str
    switch_branch: bool
    timeout: float

    @property
    def key(self) -> str:
        return f"{GIT_REPOSITORY}/{self.namespace}/{self.name}"


def _git_ref(ref: GitRepositoryRef | None) -> GitRef:
    if ref is None:
        return GitRef()
    return GitRef(branch=ref.branch or "", tag=ref.tag or "", semver=ref.semver or "",
                  name=ref.name or "", commit=ref.commit or "")


async def secret_data(objects: Objects, secrets: ResourceMapping, namespace: str,
                      name: str) -> dict[str, bytes]:
    """A Secret's values, decoded (``data`` base64, ``stringData`` as is).

    Raises:
        KubeError: the Secret cannot be read.
        ValueError: a ``data`` value is not valid base64 (the message names the key).
    """
    secret = await objects.get(secrets, name, namespace)
    data: dict[str, bytes] = {}
    for key, value in (secret.get("data") or {}).items():
        try:
            data[key] = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError, TypeError):
            raise ValueError(f"secret '{namespace}/{name}': key '{key}' is not valid base64"
                             ) from None
    for key, value in (secret.get("stringData") or {}).items():
        data[key] = str(value).encode()
    return data


async def resolve_source(auto: ImageUpdateAutomation, repositories: Informer, objects: Objects,
                         secrets: ResourceMapping, *,
                         no_cross_namespace_refs: bool = False) -> GitSource:
    """Validate the automation's source settings and read the GitRepository and its Secret."""
    ref = auto.spec.source_ref
    kind = ref.kind or GIT_REPOSITORY
    if kind != GIT_REPOSITORY:
        raise InvalidSourceConfiguration(
            f"source kind '{kind}' not supported: invalid source configuration")
    git = auto.spec.git
    if git is None:
        raise InvalidSourceConfiguration(
            f"source kind '{GIT_REPOSITORY}' necessitates field .spec.git: "
            "invalid source configuration")
    namespace = ref.namespace or auto.namespace
    if no_cross_namespace_refs and namespace != auto.namespace:
        raise AccessDenied(f"can't access '{GIT_REPOSITORY}/{namespace}/{ref.name}', "
                           "cross-namespace references have been blocked")
    raw = repositories.get(namespace, ref.name)
    if raw is None:
        raise SourceNotReady(f"failed configuring source manager: unable to get source "
                             f"'{namespace}/{ref.name}': gitrepositories.source.toolkit.fluxcd.io "
                             f"\"{ref.name}\" not found")
    repo = GitRepository.from_dict(raw)

    checkout_ref = git.checkout.ref if git.checkout is not None else repo.spec.ref
    checkout = _git_ref(checkout_ref)
    push_branch = (git.push.branch if git.push is not None else None) or ""
    checkout_branch = checkout.branch
    if push_branch:
        switch = push_branch != (DEFAULT_BRANCH if checkout_ref is None else checkout_branch)
    elif checkout_branch:
        push_branch, switch = checkout_branch, False
    elif checkout_ref is None:
        # Neither ref names anything: Flux's default branch, as the source controller.
        checkout = GitRef(branch=DEFAULT_BRANCH)
        push_branch, switch = DEFAULT_BRANCH, False
    else:
        raise InvalidSourceConfiguration(
            "push spec not provided, and cannot be inferred from .spec.git.checkout.ref or "
            "GitRepository .spec.ref")

    auth = GitAuth()
    if repo.spec.secret_ref is not None:
        secret = repo.spec.secret_ref.name
        try:
            data = await secret_data(objects, secrets, namespace, secret)
        except KubeError as exc:
            detail = f'secrets "{secret}" not found' if is_not_found(exc) else exc.message
            raise SourceNotReady(f"failed configuring source manager: failed to get auth "
                                 f"secret '{namespace}/{secret}': {detail}") from None
        except ValueError as exc:
            raise SourceNotReady(f"failed configuring source manager: {exc}") from None
        auth = GitAuth.from_secret(data)

    timeout = DEFAULT_TIMEOUT
    if repo.spec.timeout:
        try:
            timeout = parse_duration(repo.spec.timeout) / SECOND
        except DurationError:
            timeout = DEFAULT_TIMEOUT
    return GitSource(namespace, ref.name, repo.spec.url, auth, checkout, push_branch, switch,
                     max(timeout, 1.0))
