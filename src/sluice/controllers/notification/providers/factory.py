"""``spec.type`` -> the function that sends an event through that provider."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sluice.controllers.notification.errors import ProviderError
from sluice.controllers.notification.ingest import Event
from sluice.controllers.notification.providers import (
    azuredevops,
    bitbucket,
    chat,
    commitstatus,
    github_dispatch,
    incidents,
    webhooks,
)
from sluice.controllers.notification.providers.base import ProviderConfig, Sender

__all__ = ["COMMIT_STATUS_TYPES", "GENERIC_TYPES", "Notifier", "notifier_for"]

Notifier = Callable[[ProviderConfig, Event, Sender], Awaitable[None]]

NOTIFIERS: dict[str, Notifier] = {
    "slack": chat.slack,
    "discord": chat.discord,
    "rocket": chat.rocket,
    "msteams": chat.msteams,
    "googlechat": chat.googlechat,
    "telegram": chat.telegram,
    "matrix": chat.matrix,
    "webex": chat.webex,
    "zoom": chat.zoom,
    "lark": chat.lark,
    "zulip": chat.zulip,
    "generic": webhooks.generic,
    "generic-hmac": webhooks.generic_hmac,
    "alertmanager": webhooks.alertmanager,
    "grafana": webhooks.grafana,
    "github": commitstatus.github,
    "gitlab": commitstatus.gitlab,
    "gitea": commitstatus.gitea,
    "githubdispatch": github_dispatch.githubdispatch,
    "bitbucket": bitbucket.bitbucket,
    "bitbucketserver": bitbucket.bitbucketserver,
    "azuredevops": azuredevops.azuredevops,
    "opsgenie": incidents.opsgenie,
    "pagerduty": incidents.pagerduty,
    "datadog": incidents.datadog,
    "incident.io": incidents.incidentio,
}

COMMIT_STATUS_TYPES = frozenset({"github", "gitlab", "gitea", "bitbucket", "bitbucketserver",
                                 "azuredevops"})
GENERIC_TYPES = frozenset({"generic", "generic-hmac"})
# Types that need no address (they build it from the token / channel).
_NO_ADDRESS = frozenset({"telegram"})


def notifier_for(cfg: ProviderConfig) -> Notifier:
    notifier = NOTIFIERS.get(cfg.type)
    if notifier is None:
        raise ProviderError(f"provider {cfg.type} not supported")
    if not cfg.address and cfg.type not in _NO_ADDRESS:
        raise ProviderError("no address found in the Provider's spec.address or secretRef")
    return notifier
