"""``sluice tree kustomization|helmrelease NAME``: what a Kustomization or HelmRelease manages.

Read from ``status.inventory`` (every object the last apply recorded), in
inventory order; a Kustomization found there is expanded with its own
inventory, a HelmRelease with the objects of its latest Helm release (read
from Helm's storage, as flux does: a HelmRelease has no inventory; hooks are
not release objects), so a cluster synced by one root Kustomization shows
whole::

    Kustomization/flux-system/flux-system
    ├── Namespace/agnhost
    ├── Kustomization/flux-system/apps
    │   └── Deployment/agnhost/agnhost
    └── GitRepository/flux-system/flux-system

A Kustomization or HelmRelease already shown (the root listing itself, two
Kustomizations listing each other) is not repeated. ``--compact`` keeps only Flux objects; ``-o json|yaml``
prints the same tree as data (each node: ``resource`` {name, namespace,
group, kind} and its ``resources``).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from typing import Any

import click
import yaml

from sluice.cli import kinds as k
from sluice.cli.clientctx import Client, connect_client, run
from sluice.cli.failing import CommandError
from sluice.cli.options import Globals, global_options
from sluice.cli.parsing import SluiceCommand, SluiceGroup, group_global_options
from sluice.kube.inventory import Inventory
from sluice.kube.ordering import ObjectRef

__all__ = ["Node", "build_tree", "render_tree", "tree"]

_EXPANDED = {(k.KUSTOMIZATION.group, k.KUSTOMIZATION.kind): k.KUSTOMIZATION,
             (k.HELM_RELEASE.group, k.HELM_RELEASE.kind): k.HELM_RELEASE}


@dataclass
class Node:
    ref: ObjectRef
    children: list[Node] = field(default_factory=list)

    def to_data(self) -> dict[str, Any]:
        data: dict[str, Any] = {"resource": {"name": self.ref.name,
                                             "namespace": self.ref.namespace,
                                             "group": self.ref.group, "kind": self.ref.kind}}
        if self.children:
            data["resources"] = [c.to_data() for c in self.children]
        return data


def _is_flux(ref: ObjectRef) -> bool:
    return ref.group.endswith(".toolkit.fluxcd.io")


async def build_tree(client: Client, root: dict[str, Any], *, compact: bool = False) -> Node:
    """The tree under a Kustomization object (already fetched)."""
    node = Node(ObjectRef.of(root))
    seen = {node.ref.key}

    async def expand(parent: Node, obj: dict[str, Any]) -> None:
        for ref in await _managed(client, obj):
            if compact and not _is_flux(ref):
                continue
            fk = _EXPANDED.get((ref.group, ref.kind))
            if fk is not None and ref.key in seen:
                # Itself, or a Kustomization already shown: listed once, like flux.
                continue
            child = Node(ref)
            parent.children.append(child)
            if fk is None:
                continue
            seen.add(ref.key)
            nested = await client.get_or_none(fk, ref.name, ref.namespace)
            if nested is not None:
                await expand(child, nested)

    await expand(node, root)
    return node


async def _managed(client: Client, obj: dict[str, Any]) -> list[ObjectRef]:
    """A Kustomization's inventory; a HelmRelease's objects come from its Helm release."""
    if obj.get("kind") == k.HELM_RELEASE.kind:
        from sluice.cli.helm_release import release_refs

        return await release_refs(client, obj)
    return list(Inventory.from_status((obj.get("status") or {}).get("inventory")))


def render_tree(node: Node) -> str:
    """Box-drawing text, one object per line."""
    lines = [node.ref.subject]

    def walk(parent: Node, prefix: str) -> None:
        for i, child in enumerate(parent.children):
            last = i == len(parent.children) - 1
            lines.append(f"{prefix}{'└── ' if last else '├── '}{child.ref.subject}")
            walk(child, prefix + ("    " if last else "│   "))

    walk(node, "")
    return "\n".join(lines) + "\n"


@click.group("tree", cls=SluiceGroup, aliases={"ks": "kustomization", "hr": "helmrelease"})
@group_global_options
def tree() -> None:
    """Print the resources reconciled by Flux."""


@tree.command("kustomization", cls=SluiceCommand,
              short_help="Print the resources reconciled by a Kustomization")
@click.argument("args", nargs=-1, metavar="NAME")
@click.option("--compact", is_flag=True, default=False, help="list Flux resources only")
@click.option("-o", "--output", default="", help="the format in which the tree should be "
                                                  "printed, can be 'json' or 'yaml'")
@global_options
def tree_kustomization(args: tuple[str, ...], compact: bool, output: str,
                       globals_: Globals) -> None:
    """Print the resources reconciled by a Kustomization."""
    _print_tree(k.KUSTOMIZATION, args, compact, output, globals_)


@tree.command("helmrelease", cls=SluiceCommand,
              short_help="Print the resources released by a HelmRelease")
@click.argument("args", nargs=-1, metavar="NAME")
@click.option("--compact", is_flag=True, default=False, help="list Flux resources only")
@click.option("-o", "--output", default="", help="the format in which the tree should be "
                                                  "printed, can be 'json' or 'yaml'")
@global_options
def tree_helmrelease(args: tuple[str, ...], compact: bool, output: str,
                     globals_: Globals) -> None:
    """Print the objects of a HelmRelease's latest Helm release (hooks are not part of it)."""
    _print_tree(k.HELM_RELEASE, args, compact, output, globals_)


def _print_tree(fk: k.FluxKind, args: tuple[str, ...], compact: bool, output: str,
                globals_: Globals) -> None:
    if not args:
        raise CommandError(f"{fk.kind.lower()} name is required")
    if output not in ("", "json", "yaml"):
        raise CommandError(f"unsupported output format '{output}', can be 'json' or 'yaml'")

    async def main() -> Node:
        client = connect_client(globals_)
        try:
            root = await client.get(fk, args[0])
            return await build_tree(client, root, compact=compact)
        finally:
            await client.aclose()

    node = run(main)
    if output == "json":
        text = json.dumps(node.to_data(), indent=2) + "\n"
    elif output == "yaml":
        text = yaml.safe_dump(node.to_data(), sort_keys=False)
    else:
        text = render_tree(node) + "\n"
    sys.stdout.write(text)
    sys.stdout.flush()
