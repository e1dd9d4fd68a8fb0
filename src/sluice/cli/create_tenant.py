"""``sluice create tenant``: namespaces, service accounts and role bindings for a tenant.

Mirrors ``flux create tenant``: for every ``--with-namespace`` a Namespace
(unless ``--skip-namespace``), a ServiceAccount (named after the tenant
unless ``--with-service-account``) and a RoleBinding ``<tenant>-reconciler``
granting ``--cluster-role`` (cluster-admin by default) to the reconciler user
``gotk:<namespace>:reconciler`` and to that service account, all labelled
``toolkit.fluxcd.io/tenant: <tenant>``.
"""

from __future__ import annotations

from typing import Any

import click

from sluice.cli.applying import apply_and_wait
from sluice.cli.create_flags import (
    CreateArgs,
    bool_flag,
    create_options,
    echo_export,
    go_string_list,
    is_qualified_name,
    object_meta,
    parse_labels,
    require_name,
    string_slice,
)
from sluice.cli.exporting import export_tenant_object
from sluice.cli.failing import CommandError
from sluice.cli.options import Globals, global_options
from sluice.cli.parsing import FluxCommand

__all__ = ["TENANT_LABEL", "tenant", "tenant_objects"]

TENANT_LABEL = "toolkit.fluxcd.io/tenant"
RBAC_GROUP = "rbac.authorization.k8s.io"


def tenant_objects(tenant_name: str, namespace: str, cluster_role: str, service_account: str,
                   labels: dict[str, str], skip_namespace: bool) -> list[dict[str, Any]]:
    """The objects flux creates for one tenant namespace, in creation order."""
    objects: list[dict[str, Any]] = []
    if not skip_namespace:
        objects.append({"apiVersion": "v1", "kind": "Namespace",
                        "metadata": object_meta(namespace, None, labels),
                        "spec": {}, "status": {}})
    objects.append({"apiVersion": "v1", "kind": "ServiceAccount",
                    "metadata": object_meta(service_account, namespace, labels)})
    objects.append({
        "apiVersion": f"{RBAC_GROUP}/v1", "kind": "RoleBinding",
        "metadata": object_meta(f"{tenant_name}-reconciler", namespace, labels),
        "roleRef": {"apiGroup": RBAC_GROUP, "kind": "ClusterRole", "name": cluster_role},
        "subjects": [
            {"apiGroup": RBAC_GROUP, "kind": "User", "name": f"gotk:{namespace}:reconciler"},
            {"kind": "ServiceAccount", "name": service_account, "namespace": namespace},
        ],
    })
    return objects


@click.command("tenant", cls=FluxCommand, short_help="Create or update a tenant")
@click.argument("args", nargs=-1, metavar="NAME")
@click.option("--with-namespace", multiple=True, help="namespace belonging to this tenant")
@click.option("--cluster-role", default="cluster-admin", help="cluster role of the tenant role binding")
@click.option("--with-service-account", default="", help="service account belonging to this tenant")
@bool_flag("--skip-namespace", help="skip namespace creation")
@create_options
@global_options
def tenant(args: tuple[str, ...], with_namespace: tuple[str, ...], cluster_role: str,
           with_service_account: str, skip_namespace: bool, create_args: CreateArgs,
           globals_: Globals) -> None:
    """Create or update a tenant (namespaces and role bindings limiting reconcilers)."""
    tenant_name = require_name(args)
    if errs := is_qualified_name(tenant_name):
        raise CommandError(f"invalid tenant name '{tenant_name}': {go_string_list(errs)}")
    if not cluster_role:
        raise CommandError("cluster-role is required")
    namespaces = string_slice(with_namespace)
    if not with_namespace:
        raise CommandError("with-namespace is required")
    service_account = with_service_account or tenant_name
    objects: list[dict[str, Any]] = []
    for namespace in namespaces:
        if errs := is_qualified_name(namespace):
            raise CommandError(f"invalid namespace '{namespace}': {go_string_list(errs)}")
        labels = parse_labels(create_args.labels)
        labels[TENANT_LABEL] = tenant_name
        objects.extend(tenant_objects(tenant_name, namespace, cluster_role, service_account,
                                      labels, skip_namespace))
    if create_args.export:
        echo_export("".join(export_tenant_object(obj) for obj in objects))
        return
    apply_and_wait(objects, globals_)
