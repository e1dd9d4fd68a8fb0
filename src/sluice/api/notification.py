"""The ``notification.toolkit.fluxcd.io`` kinds: alerts out, webhooks in.

Provider (where to send: Slack, Discord, generic webhooks, Git commit
statuses ...) and Alert (which events to send) are served as ``v1beta3``, the
version Flux stores; they are static objects without status. Receiver
(``v1``) exposes a webhook path that, when called by a Git host or registry,
requests reconciliation of the listed resources.
"""

from __future__ import annotations

from dataclasses import field
from typing import Annotated

from sluice.api.meta import (
    STATUS_WITH_GENERATION,
    Duration,
    LocalObjectReference,
    ObjectStatus,
    Timeout,
)
from sluice.api.resource import AGE_COLUMN, READY_COLUMN, STATUS_COLUMN, KindInfo, Resource
from sluice.api.schema import Model, Rule, S

GROUP = "notification.toolkit.fluxcd.io"
ALERTS_VERSION = "v1beta3"
RECEIVER_VERSION = "v1"
COMPONENT = "notification-controller"
CATEGORIES = ("all", "fluxcd", "fluxcd-notifications")

PROVIDER_TYPES = (
    "slack",
    "discord",
    "msteams",
    "rocket",
    "generic",
    "generic-hmac",
    "github",
    "gitlab",
    "gitea",
    "giteapullrequestcomment",
    "bitbucketserver",
    "bitbucket",
    "azuredevops",
    "googlechat",
    "googlepubsub",
    "webex",
    "sentry",
    "azureeventhub",
    "telegram",
    "lark",
    "matrix",
    "opsgenie",
    "alertmanager",
    "grafana",
    "githubdispatch",
    "githubpullrequestcomment",
    "gitlabmergerequestcomment",
    "pagerduty",
    "datadog",
    "nats",
    "zulip",
    "otel",
    "zoom",
    "incident.io",
)
# Providers that post Git commit statuses (the only ones taking commitStatusExpr).
COMMIT_STATUS_PROVIDERS = (
    "github",
    "gitlab",
    "gitea",
    "bitbucketserver",
    "bitbucket",
    "azuredevops",
)

RECEIVER_TYPES = (
    "generic",
    "generic-hmac",
    "generic-oidc",
    "github",
    "gitlab",
    "bitbucket",
    "harbor",
    "dockerhub",
    "quay",
    "gcr",
    "nexus",
    "acr",
    "cdevents",
)

EVENT_SOURCE_KINDS = (
    "Bucket",
    "GitRepository",
    "Kustomization",
    "HelmRelease",
    "HelmChart",
    "HelmRepository",
    "ImageRepository",
    "ImagePolicy",
    "ImageUpdateAutomation",
    "OCIRepository",
    "ArtifactGenerator",
    "ExternalArtifact",
)

SEVERITY_INFO = "info"
SEVERITY_ERROR = "error"

# Receiver reasons.
TOKEN_NOT_FOUND = "TokenNotFound"
VALIDATION_FAILED = "ValidationFailed"

WEBHOOK_PATH_PREFIX = "/hook/"


# --------------------------------------------------------------------------
# Provider


class ProviderSpec(Model):
    """Desired state of a Provider."""

    schema_rules = (
        Rule(
            "!has(self.commitStatusExpr) || self.type in "
            "['github', 'gitlab', 'gitea', 'bitbucketserver', 'bitbucket', 'azuredevops']",
            "spec.commitStatusExpr is only supported for Git commit status providers",
        ),
    )

    type: Annotated[str, S("Type of the provider.", enum=PROVIDER_TYPES)]
    interval: Annotated[Duration | None, S("Deprecated and unused.")] = None
    channel: Annotated[str | None, S("Channel to post to.", max_length=2048)] = None
    username: Annotated[str | None, S("Bot user name.", max_length=2048)] = None
    address: Annotated[
        str | None,
        S("Webhook or API address (the secret's 'address' overrides it).", max_length=2048),
    ] = None
    timeout: Annotated[Timeout | None, S("Timeout of a notification request (15s).")] = None
    proxy: Annotated[
        str | None,
        S("Deprecated: use proxySecretRef.", max_length=2048, pattern=r"^(http|https)://.*$"),
    ] = None
    proxy_secret_ref: Annotated[
        LocalObjectReference | None, S("Secret with the proxy configuration.")
    ] = None
    secret_ref: Annotated[
        LocalObjectReference | None,
        S("Secret with 'address', 'token', 'username'/'password' or 'headers'."),
    ] = None
    cert_secret_ref: Annotated[
        LocalObjectReference | None, S("Secret with 'ca.crt' and/or 'tls.crt'+'tls.key'.")
    ] = None
    service_account_name: Annotated[str | None, S("ServiceAccount used for workload identity.")] = (
        None
    )
    commit_status_expr: Annotated[
        str | None, S("CEL expression computing the commit status id.")
    ] = None
    suspend: Annotated[bool | None, S("Stop sending notifications through this provider.")] = None


class Provider(Resource):
    """Provider is the Schema for the providers API."""

    info = KindInfo(
        group=GROUP,
        kind="Provider",
        plural="providers",
        versions=(ALERTS_VERSION,),
        component=COMPONENT,
        categories=CATEGORIES,
        printer_columns=(AGE_COLUMN,),
        has_status=False,
    )

    spec: ProviderSpec


# --------------------------------------------------------------------------
# Alert


class CrossNamespaceObjectReference(Model):
    """An event source or receiver target: kind, name (or '*') and namespace."""

    api_version: Annotated[str | None, S("API version of the referent.", name="apiVersion")] = None
    kind: Annotated[str, S("Kind of the referent.", enum=EVENT_SOURCE_KINDS)]
    name: Annotated[str, S("Name of the referent, '*' for all.", min_length=1, max_length=253)]
    namespace: Annotated[
        str | None,
        S("Namespace of the referent (the referring object's).", min_length=1, max_length=253),
    ] = None
    match_labels: Annotated[
        dict[str, str] | None, S("Labels the objects must carry (with name '*').")
    ] = None


class AlertSpec(Model):
    """Desired state of an Alert."""

    provider_ref: Annotated[LocalObjectReference, S("The Provider to send events to.")]
    event_severity: Annotated[
        str | None,
        S(
            "Minimum severity: info sends all events, error only errors.",
            default=SEVERITY_INFO,
            enum=(SEVERITY_INFO, SEVERITY_ERROR),
        ),
    ] = None
    event_sources: Annotated[
        list[CrossNamespaceObjectReference], S("Objects whose events are sent.")
    ]
    inclusion_list: Annotated[
        list[str] | None, S("Regular expressions an event message must match.")
    ] = None
    exclusion_list: Annotated[
        list[str] | None, S("Regular expressions excluding event messages.")
    ] = None
    event_metadata: Annotated[dict[str, str] | None, S("Metadata added to every event.")] = None
    summary: Annotated[str | None, S("Deprecated: use eventMetadata.summary.", max_length=255)] = (
        None
    )
    suspend: Annotated[bool | None, S("Stop sending events for this alert.")] = None


class Alert(Resource):
    """Alert is the Schema for the alerts API."""

    info = KindInfo(
        group=GROUP,
        kind="Alert",
        plural="alerts",
        versions=(ALERTS_VERSION,),
        component=COMPONENT,
        categories=CATEGORIES,
        printer_columns=(AGE_COLUMN,),
        has_status=False,
    )

    spec: AlertSpec

    def event_severity(self) -> str:
        return self.spec.event_severity or SEVERITY_INFO


# --------------------------------------------------------------------------
# Receiver


class ReceiverResource(CrossNamespaceObjectReference):
    """A resource to reconcile when the webhook is called."""

    filter: Annotated[str | None, S("CEL expression selecting matching resources.")] = None


class OIDCValidation(Model):
    """A CEL check on the claims of an OIDC token."""

    expression: Annotated[str, S("CEL expression that must be true.")]
    message: Annotated[str | None, S("Message returned when the check fails.")] = None


class OIDCVariable(Model):
    """A named CEL value computed from the token claims."""

    name: Annotated[str, S("Variable name.")]
    expression: Annotated[str, S("CEL expression.")]


class OIDCProvider(Model):
    """An OIDC issuer whose tokens the generic-oidc receiver accepts."""

    issuer_url: Annotated[str, S("Issuer URL.", name="issuerURL")]
    audience: Annotated[str | None, S("Expected audience.")] = None
    validations: Annotated[list[OIDCValidation], S("Checks on the token claims.")]
    variables: Annotated[list[OIDCVariable] | None, S("Values usable in validations.")] = None


class ReceiverSpec(Model):
    """Desired state of a Receiver."""

    schema_rules = (
        Rule(
            "self.type != 'generic-oidc' || (has(self.oidcProviders) && !has(self.secretRef))",
            "generic-oidc receivers need oidcProviders and no secretRef",
        ),
        Rule(
            "self.type == 'generic-oidc' || (has(self.secretRef) && !has(self.oidcProviders))",
            "receivers other than generic-oidc need secretRef and no oidcProviders",
        ),
    )

    type: Annotated[str, S("Type of the incoming webhook.", enum=RECEIVER_TYPES)]
    interval: Annotated[
        Duration | None, S("How often to check the receiver's secret.", default="10m")
    ] = None
    events: Annotated[
        list[str] | None, S("Event types accepted (e.g. GitHub 'push'); all when empty.")
    ] = None
    resources: Annotated[list[ReceiverResource], S("Resources to reconcile on a valid call.")]
    resource_filter: Annotated[
        str | None, S("CEL expression filtering the resources to reconcile.")
    ] = None
    secret_ref: Annotated[
        LocalObjectReference | None, S("Secret with the 'token' of the webhook.")
    ] = None
    oidc_providers: Annotated[
        list[OIDCProvider] | None, S("Accepted OIDC issuers (generic-oidc).", name="oidcProviders")
    ] = None
    suspend: Annotated[bool | None, S("Reject calls to the webhook.")] = None


class ReceiverStatus(ObjectStatus):
    """Observed state of a Receiver."""

    webhook_path: Annotated[
        str | None, S("Path of the webhook: /hook/<sha256(token+name+namespace)>.")
    ] = None


class Receiver(Resource):
    """Receiver is the Schema for the receivers API."""

    info = KindInfo(
        group=GROUP,
        kind="Receiver",
        plural="receivers",
        versions=(RECEIVER_VERSION,),
        component=COMPONENT,
        categories=CATEGORIES,
        printer_columns=(AGE_COLUMN, READY_COLUMN, STATUS_COLUMN),
    )

    spec: ReceiverSpec
    status: Annotated[ReceiverStatus, STATUS_WITH_GENERATION] = field(
        default_factory=ReceiverStatus
    )


KINDS: tuple[type[Resource], ...] = (Provider, Alert, Receiver)
