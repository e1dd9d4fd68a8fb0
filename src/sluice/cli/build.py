"""``sluice build kustomization NAME --path DIR``: what the controller would apply, locally.

The Kustomization (from the cluster, or from ``--kustomization-file``) is
built from the local folder ``--path`` instead of its source artifact, with
the controller's own steps (`sluice.controllers.kustomization`): Flux's
generated ``kustomization.yaml`` when the folder has none, the spec merged in
(``targetNamespace``, ``namePrefix``, ``patches``, ``images``,
``components``), post-build substitution (variables from the cluster's
``substituteFrom`` objects, skipped with ``--dry-run``; unset variables
become empty unless ``--strict-substitute``, as in flux), ``commonMetadata``,
and the owner labels ``kustomize.toolkit.fluxcd.io/name|namespace``. The
result goes to stdout as YAML documents separated by ``---``.

`build_kustomization` is shared with ``sluice diff kustomization``.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click
import yaml

from sluice.api.kustomize import Kustomization
from sluice.cli import kinds as k
from sluice.cli.clientctx import Client, connect_client, run
from sluice.cli.create_flags import bool_flag
from sluice.cli.failing import CommandError
from sluice.cli.options import Globals, global_options
from sluice.cli.parsing import SluiceCommand, SluiceGroup, group_global_options
from sluice.controllers.kustomization.building import BuildFailure
from sluice.controllers.kustomization.rendering import render_manifests, set_owner_labels
from sluice.controllers.kustomization.substitution import load_variables
from sluice.kustomize.emit import dump_documents

__all__ = ["build", "build_kustomization", "load_kustomization", "resolve_folder"]

Obj = dict[str, Any]


def _from_file(path: str, name: str, namespace: str) -> Obj:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise CommandError(f"failed to read kustomization file {path}: "
                           f"{exc.strerror or exc}") from None
    try:
        docs = [d for d in yaml.safe_load_all(text) if isinstance(d, dict)]
    except yaml.YAMLError as exc:
        raise CommandError(f"failed to decode kustomization file {path}: {exc}") from None
    for doc in docs:
        meta = doc.get("metadata") or {}
        if doc.get("kind") == k.KUSTOMIZATION.kind and meta.get("name") == name:
            meta.setdefault("namespace", namespace)
            doc["metadata"] = meta
            return doc
    raise CommandError(f"failed to find kustomization '{name}' in file {path}")


async def load_kustomization(client: Client | None, name: str, namespace: str,
                             kustomization_file: str) -> Obj:
    """The Flux Kustomization to build: from the file when given, else from the cluster."""
    if kustomization_file:
        return _from_file(kustomization_file, name, namespace)
    if client is None:
        raise CommandError("dry-run mode requires a kustomization file")
    return await client.get(k.KUSTOMIZATION, name, namespace)


def resolve_folder(path: str) -> Path:
    """The ``--path`` folder, checked before anything else happens."""
    if not path:
        raise CommandError("invalid resource path ''")
    folder = Path(path)
    if not folder.is_dir():
        raise CommandError(f"invalid resource path '{path}'")
    return folder.resolve()


def build_root(folder: Path) -> Path:
    """The tree `folder` may reach into: the Git work tree holding it, else the working dir.

    The controller's root is the whole artifact (the repository), so an overlay's
    ``resources: [../../base]`` resolves there; a local build must allow the same, not
    stop at ``--path``. Outside any repository, the current directory (if it holds
    ``folder``) plays that part, and otherwise ``folder`` itself.
    """
    for candidate in (folder, *folder.parents):
        if (candidate / ".git").exists():
            return candidate
    cwd = Path.cwd().resolve()
    return cwd if cwd == folder or cwd in folder.parents else folder


async def build_kustomization(client: Client | None, ks_obj: Mapping[str, Any], root: Path,
                              *, strict: bool = False) -> list[Obj]:
    """Build the folder ``root`` (resolved, see `resolve_folder`) as the controller would."""
    try:
        ks = Kustomization.from_dict(ks_obj)
    except (KeyError, TypeError, ValueError) as exc:
        raise CommandError(f"invalid Kustomization: {exc}") from None
    namespace = str(ks.metadata.namespace or "")
    name = str(ks.metadata.name or "")
    post_build = ks.spec.post_build
    variables: dict[str, str] = {}
    try:
        if post_build is not None:
            if client is not None:
                variables = await load_variables(client.objects, namespace, post_build)
            else:
                # Without a cluster only the inline variables are known.
                variables = {key: str(v).replace("\n", "")
                             for key, v in (post_build.substitute or {}).items()}
        objects = await asyncio.to_thread(render_manifests, build_root(root), root, ks.spec,
                                          variables, strict=strict)
    except BuildFailure as exc:
        raise CommandError(exc.message) from None
    set_owner_labels(objects, name, namespace)
    return objects


@click.group("build", cls=SluiceGroup, aliases={"ks": "kustomization"})
@group_global_options
def build() -> None:
    """Build a flux object locally."""


@build.command("kustomization", cls=SluiceCommand,
               short_help="Build a Kustomization from a local folder")
@click.argument("args", nargs=-1, metavar="NAME")
@click.option("--path", default="", help="path to the manifests location")
@click.option("--kustomization-file", default="",
              help="path to the Flux Kustomization YAML file")
@bool_flag("--dry-run", help="dry run mode: do not connect to the cluster "
                             "(needs --kustomization-file)")
@bool_flag("--strict-substitute", help="fail when a variable without a default value is "
                                       "not set")
@global_options
def build_ks(args: tuple[str, ...], path: str, kustomization_file: str, dry_run: bool,
             strict_substitute: bool, globals_: Globals) -> None:
    """Build a Kustomization from a local folder, as the controller would."""
    if not args:
        raise CommandError("name is required")
    root = resolve_folder(path)
    if dry_run and not kustomization_file:
        raise CommandError("dry-run mode requires a kustomization file")

    async def main() -> str:
        client = None if dry_run else connect_client(globals_)
        try:
            ks_obj = await load_kustomization(client, args[0], globals_.namespace,
                                              kustomization_file)
            objects = await build_kustomization(client, ks_obj, root,
                                                strict=strict_substitute)
            return dump_documents(objects)
        finally:
            if client is not None:
                await client.aclose()

    sys.stdout.write(run(main))
    sys.stdout.flush()
