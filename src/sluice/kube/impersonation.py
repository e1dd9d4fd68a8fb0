"""Acting as a ServiceAccount (``spec.serviceAccountName``) for Kustomizations and HelmReleases.

Multi-tenant clusters give each tenant's Kustomizations and HelmReleases a
ServiceAccount whose RBAC bounds what they may create; kustomize-controller
and helm-controller then send every request that acts on the tenant's objects
with ``Impersonate-User: system:serviceaccount:<namespace>:<name>`` so the
API server authorises it as that account (``--default-service-account``
picks one for objects that name none). Reading sources, values and
substitution variables stays with the controller's own identity, as in Flux.

`ImpersonatingClients` hands out one `Objects` client per impersonated user:
it shares the controller's connection pool, credentials, TLS settings and
discovery cache, and differs only by that header. (Sluice's embedded cluster
does not enforce RBAC and ignores the header; a real cluster does.)
"""

from __future__ import annotations

import httpx2

from sluice.kube.config import Connection
from sluice.kube.objects import Objects

__all__ = ["IMPERSONATE_USER_HEADER", "ImpersonatingClients", "impersonated_user"]

IMPERSONATE_USER_HEADER = "Impersonate-User"


def impersonated_user(namespace: str, service_account: str) -> str:
    """The user a Kustomization or HelmRelease acts as when it names a ServiceAccount."""
    return f"system:serviceaccount:{namespace}:{service_account}"


class ImpersonatingClients:
    """`Objects` clients that act as a ServiceAccount, cached per user."""

    def __init__(self, objects: Objects, default_service_account: str | None = None) -> None:
        self.objects = objects
        self.default_service_account = default_service_account
        self._clients: dict[str, Objects] = {}

    def client_for(self, namespace: str, service_account: str | None) -> Objects:
        """The controller's client, or one impersonating ``service_account`` of ``namespace``."""
        account = service_account or self.default_service_account
        if not account:
            return self.objects
        user = impersonated_user(namespace, account)
        client = self._clients.get(user)
        if client is None:
            base = self.objects.connection
            http = httpx2.AsyncClient(
                auth=base.http.auth, base_url=base.http.base_url, timeout=base.http.timeout,
                headers={**dict(base.http.headers), IMPERSONATE_USER_HEADER: user},
                transport=getattr(base.http, "_transport", None), trust_env=False)
            connection = Connection(config=base.config, client=base.client, http=http,
                                    source=f"{base.source} as {user}")
            client = Objects(connection, self.objects.mapper)
            self._clients[user] = client
        return client

    def clear(self) -> None:
        """Forget the clients (never close them: they share the controller's transport)."""
        self._clients.clear()
