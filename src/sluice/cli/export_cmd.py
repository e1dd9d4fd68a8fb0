"""``sluice export <kind> [NAME] [--all]``: Flux objects from the cluster as flux prints them.

The YAML is the one ``create ... --export`` prints (`sluice.cli.exporting`):
each object starts with ``---`` and holds only ``apiVersion``, ``kind``,
``metadata`` (name, namespace, labels, annotations) and ``spec``, so the
output can be committed to Git and applied elsewhere. ``--all`` exports every
object of the kind in the namespace, sorted by name. Sources accept
``--with-credentials``: the Secret named by ``spec.secretRef`` is printed
first (its data and type only).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

import click

from sluice.cli.clientctx import Client, connect_client, run
from sluice.cli.create_flags import bool_flag
from sluice.cli.exporting import export_object
from sluice.cli.failing import CommandError
from sluice.cli.kinds import SOURCES, FluxKind, verb_group
from sluice.cli.options import Globals, global_options
from sluice.cli.parsing import SluiceCommand

__all__ = ["export", "exported"]

Obj = dict[str, Any]


def exported(obj: Mapping[str, Any]) -> Obj:
    """The parts of a live object that ``export`` keeps."""
    meta = obj.get("metadata") or {}
    out_meta: Obj = {"name": meta.get("name")}
    if meta.get("namespace"):
        out_meta["namespace"] = meta["namespace"]
    if meta.get("labels"):
        out_meta["labels"] = meta["labels"]
    if meta.get("annotations"):
        out_meta["annotations"] = meta["annotations"]
    out: Obj = {"apiVersion": obj.get("apiVersion"), "kind": obj.get("kind"),
                "metadata": out_meta}
    if "spec" in obj:
        out["spec"] = obj["spec"]
    return out


async def _credentials(client: Client, obj: Mapping[str, Any]) -> str:
    ref = (obj.get("spec") or {}).get("secretRef") or {}
    if not ref.get("name"):
        return ""
    namespace = str((obj.get("metadata") or {}).get("namespace") or client.namespace)
    mapping = await client.objects.mapping("v1", "Secret")
    secret = await client.objects.get_or_none(mapping, str(ref["name"]), namespace)
    if secret is None:
        return ""
    out: Obj = {"apiVersion": "v1", "kind": "Secret",
                "metadata": {"name": ref["name"], "namespace": namespace}}
    for key in ("data", "type"):
        if secret.get(key):
            out[key] = secret[key]
    return export_object(out)


def _leaf(fk: FluxKind, noun: str) -> click.Command:
    is_source = fk in SOURCES.values()

    def command(args: tuple[str, ...], all_: bool, with_credentials: bool,
                globals_: Globals) -> None:
        if not args and not all_:
            raise CommandError(f"{fk.human} name is required")

        async def main() -> str:
            client = connect_client(globals_)
            try:
                if all_:
                    items = await client.list(fk, client.namespace)
                    if not items:
                        raise CommandError(f"no {fk.kind} objects found in "
                                           f'"{client.namespace}" namespace')
                else:
                    items = [await client.get(fk, args[0])]
                parts: list[str] = []
                for item in items:
                    if with_credentials and is_source:
                        parts.append(await _credentials(client, item))
                    parts.append(export_object(exported(item)))
                return "".join(parts)
            finally:
                await client.aclose()

        sys.stdout.write(run(main))
        sys.stdout.flush()

    command.__doc__ = f"Export {fk.kind} objects in YAML format."
    decorated: Any = global_options(command)
    decorated = click.option("--with-credentials", is_flag=True, default=False,
                             hidden=not is_source,
                             help="include the credential secrets")(decorated)
    decorated = bool_flag("--all", "all_", help=f"select all {fk.kind} objects in the "
                                                "namespace")(decorated)
    decorated = click.argument("args", nargs=-1, metavar="[NAME]")(decorated)
    return click.command(noun, cls=SluiceCommand,
                         short_help=f"Export {fk.kind} objects in YAML format")(decorated)


export = verb_group("export", "Export resources in YAML format", _leaf)
