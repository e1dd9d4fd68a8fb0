"""Types, condition vocabulary and well-known keys shared by all Flux API groups.

This mirrors what Flux keeps in ``fluxcd/pkg/apis/meta`` (and friends): the
standard ``Condition`` and source ``Artifact`` shapes, the object references
every kind embeds, the generic condition types and reasons, and the
annotations, labels and finalizer the controllers agree on. Group modules
(`sluice.api.source`, `sluice.api.kustomize`, ...) build their kinds from these.
"""

from __future__ import annotations

from typing import Annotated

from sluice.api.schema import Model, Rule, S

# --------------------------------------------------------------------------
# Condition types and statuses.

READY = "Ready"
RECONCILING = "Reconciling"
STALLED = "Stalled"
HEALTHY = "Healthy"

TRUE = "True"
FALSE = "False"
UNKNOWN = "Unknown"

# Generic reasons (fluxcd/pkg/apis/meta).
SUCCEEDED = "Succeeded"
FAILED = "Failed"
PROGRESSING = "Progressing"
PROGRESSING_WITH_RETRY = "ProgressingWithRetry"
SUSPENDED = "Suspended"
DEPENDENCY_NOT_READY = "DependencyNotReady"
ARTIFACT_FAILED = "ArtifactFailed"
BUILD_FAILED = "BuildFailed"
HEALTH_CHECK_FAILED = "HealthCheckFailed"
HEALTH_CHECK_CANCELED = "HealthCheckCanceled"
PRUNE_FAILED = "PruneFailed"
RECONCILIATION_SUCCEEDED = "ReconciliationSucceeded"
RECONCILIATION_FAILED = "ReconciliationFailed"
INVALID_CEL_EXPRESSION = "InvalidCELExpression"
FEATURE_GATE_DISABLED = "FeatureGateDisabled"
INVALID_PATH = "InvalidPath"
INVALID_URL = "InvalidURL"
INSECURE_CONNECTIONS_DISALLOWED = "InsecureConnectionsDisallowed"
ACCESS_DENIED = "AccessDenied"

# --------------------------------------------------------------------------
# Annotations, labels, finalizer.

RECONCILE_REQUEST_ANNOTATION = "reconcile.fluxcd.io/requestedAt"
FORCE_REQUEST_ANNOTATION = "reconcile.fluxcd.io/forceAt"
RESET_REQUEST_ANNOTATION = "reconcile.fluxcd.io/resetAt"
FINALIZER = "finalizers.fluxcd.io"
SHARDING_KEY_LABEL = "sharding.fluxcd.io/key"
EVENT_ANNOTATION_PREFIX = "event.toolkit.fluxcd.io/"

# Owner labels stamped on everything a Kustomization / HelmRelease applies.
KUSTOMIZE_NAME_LABEL = "kustomize.toolkit.fluxcd.io/name"
KUSTOMIZE_NAMESPACE_LABEL = "kustomize.toolkit.fluxcd.io/namespace"
HELM_NAME_LABEL = "helm.toolkit.fluxcd.io/name"
HELM_NAMESPACE_LABEL = "helm.toolkit.fluxcd.io/namespace"
# Sluice's opt-in for an object two appliers may both write (on the manifest or the live
# object): without it, the second applier fails with an ownership conflict instead of
# taking the object over every interval, as two Flux Kustomizations do.
SHARED_OWNERSHIP_ANNOTATION = "sluice.dev/shared-ownership"

# Per-object switches honoured by kustomize-controller (label or annotation,
# matched case-insensitively on the value).
KUSTOMIZE_RECONCILE_ANNOTATION = "kustomize.toolkit.fluxcd.io/reconcile"
KUSTOMIZE_SSA_ANNOTATION = "kustomize.toolkit.fluxcd.io/ssa"
KUSTOMIZE_PRUNE_ANNOTATION = "kustomize.toolkit.fluxcd.io/prune"
KUSTOMIZE_FORCE_ANNOTATION = "kustomize.toolkit.fluxcd.io/force"
KUSTOMIZE_SUBSTITUTE_ANNOTATION = "kustomize.toolkit.fluxcd.io/substitute"
KUSTOMIZE_DECRYPT_ANNOTATION = "kustomize.toolkit.fluxcd.io/decrypt"
ENABLED_VALUE = "enabled"
DISABLED_VALUE = "disabled"
SSA_OVERRIDE = "Override"
SSA_MERGE = "Merge"
SSA_IF_NOT_PRESENT = "IfNotPresent"
SSA_IGNORE = "Ignore"

# --------------------------------------------------------------------------
# Field aliases.

# Go ``metav1.Duration`` as Flux validates it; timeouts do not accept hours.
DURATION_PATTERN = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"
TIMEOUT_PATTERN = r"^([0-9]+(\.[0-9]+)?(ms|s|m))+$"

Duration = Annotated[str, S(pattern=DURATION_PATTERN)]
Timeout = Annotated[str, S(pattern=TIMEOUT_PATTERN)]
Int64 = Annotated[int, S(format="int64")]
Time = Annotated[str, S(format="date-time")]

# --------------------------------------------------------------------------
# Shared models.


class Condition(Model):
    """Condition contains details for one aspect of the current state of this API Resource."""

    type: Annotated[
        str,
        S(
            "Type of condition in CamelCase or in foo.example.com/CamelCase.",
            max_length=316,
            pattern=r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$",
        ),
    ]
    status: Annotated[
        str, S("Status of the condition, one of True, False, Unknown.", enum=(TRUE, FALSE, UNKNOWN))
    ]
    observed_generation: Annotated[
        Int64 | None, S("The .metadata.generation the condition was computed from.", minimum=0)
    ] = None
    last_transition_time: Annotated[
        Time, S("Last time the condition changed from one status to another.")
    ]
    reason: Annotated[
        str,
        S(
            "Programmatic CamelCase identifier of the reason for the last transition.",
            max_length=1024,
            min_length=1,
            pattern=r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$",
        ),
    ]
    message: Annotated[str, S("Human readable details about the transition.", max_length=32768)]


class ObjectStatus(Model):
    """Status fields every reconciled Flux kind carries."""

    observed_generation: Annotated[
        Int64 | None, S("The last generation the controller reconciled.")
    ] = None
    conditions: Annotated[
        list[Condition] | None, S("Conditions holds the conditions of the object.")
    ] = None
    last_handled_reconcile_at: Annotated[
        str | None,
        S("The value of the most recent reconcile request annotation that was handled."),
    ] = None

    def condition(self, type_: str) -> Condition | None:
        """The condition of the given type, if present."""
        for cond in self.conditions or ():
            if cond.type == type_:
                return cond
        return None

    def set_condition(self, cond: Condition) -> None:
        """Add or replace the condition of ``cond.type`` (order of others kept)."""
        conditions = self.conditions if self.conditions is not None else []
        for i, existing in enumerate(conditions):
            if existing.type == cond.type:
                conditions[i] = cond
                break
        else:
            conditions.append(cond)
        self.conditions = conditions

    def remove_condition(self, type_: str) -> None:
        if self.conditions:
            self.conditions = [c for c in self.conditions if c.type != type_]


class Artifact(Model):
    """Artifact represents the output of a Source reconciliation."""

    path: Annotated[str, S("Relative path of the artifact file in the controller's storage.")]
    url: Annotated[str, S("HTTP address the artifact can be downloaded from.")]
    revision: Annotated[str, S("Human-readable identifier of the origin, e.g. main@sha1:<hex>.")]
    digest: Annotated[
        str | None,
        S(
            "Digest of the file in the form '<algorithm>:<checksum>'.",
            pattern=r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$",
        ),
    ] = None
    last_update_time: Annotated[Time, S("Time the artifact was last updated.")]
    size: Annotated[Int64 | None, S("Size of the file in bytes.")] = None
    metadata: Annotated[
        dict[str, str] | None, S("Upstream information such as OCI annotations.")
    ] = None


class LocalObjectReference(Model):
    """Reference to an object in the same namespace."""

    name: Annotated[str, S("Name of the referent.")]


class SecretKeyReference(Model):
    """Reference to a key of a Secret in the same namespace."""

    name: Annotated[str, S("Name of the Secret.")]
    key: Annotated[str | None, S("Key in the Secret, when not the default one.")] = None


class NamespacedObjectReference(Model):
    """Reference to a named object, optionally in another namespace."""

    name: Annotated[str, S("Name of the referent.")]
    namespace: Annotated[
        str | None, S("Namespace of the referent, defaults to the referring object's.")
    ] = None


class NamespacedObjectKindReference(Model):
    """Reference to an object by kind and name, optionally in another namespace."""

    api_version: Annotated[str | None, S("API version of the referent.", name="apiVersion")] = None
    kind: Annotated[str, S("Kind of the referent.")]
    name: Annotated[str, S("Name of the referent.")]
    namespace: Annotated[
        str | None, S("Namespace of the referent, defaults to the referring object's.")
    ] = None


class CrossNamespaceSourceReference(Model):
    """Reference to a Flux source, optionally in another namespace.

    Group modules subclass it to restrict ``kind`` to the sources they accept.
    """

    api_version: Annotated[str | None, S("API version of the referent.", name="apiVersion")] = None
    kind: Annotated[str, S("Kind of the referent.")]
    name: Annotated[str, S("Name of the referent.")]
    namespace: Annotated[
        str | None, S("Namespace of the referent, defaults to the referring object's.")
    ] = None

    def __str__(self) -> str:
        # Same form as Flux messages: Kind/name or Kind/namespace/name.
        if self.namespace:
            return f"{self.kind}/{self.namespace}/{self.name}"
        return f"{self.kind}/{self.name}"


class DependencyReference(Model):
    """A dependency on another object of the same kind that must be ready first."""

    name: Annotated[str, S("Name of the referent.")]
    namespace: Annotated[
        str | None, S("Namespace of the referent, defaults to the referring object's.")
    ] = None
    ready_expr: Annotated[
        str | None, S("CEL expression replacing the built-in readiness check.")
    ] = None


class ConfigMapReference(Model):
    """Reference to a ConfigMap in the same namespace."""

    name: Annotated[str, S("Name of the ConfigMap.")]


class KubeConfigReference(Model):
    """Where to find the kubeconfig of a remote cluster."""

    schema_rules = (
        Rule(
            "has(self.secretRef) || has(self.configMapRef)",
            "one of secretRef or configMapRef must be set",
        ),
        Rule(
            "!has(self.secretRef) || !has(self.configMapRef)",
            "only one of secretRef or configMapRef may be set",
        ),
    )

    secret_ref: Annotated[
        SecretKeyReference | None,
        S("Secret holding the kubeconfig (key 'value' or 'value.yaml' unless set)."),
    ] = None
    config_map_ref: Annotated[
        ConfigMapReference | None,
        S("ConfigMap describing a cluster reached with workload identity."),
    ] = None


class NamespaceSelector(Model):
    """Selects namespaces by labels; an empty selector matches all namespaces."""

    match_labels: Annotated[dict[str, str] | None, S("Labels the namespace must carry.")] = None


class AccessFrom(Model):
    """Namespaces allowed to reference this object from another namespace."""

    namespace_selectors: Annotated[
        list[NamespaceSelector], S("Selectors ORed together to admit a namespace.")
    ]


class LabelSelectorRequirement(Model):
    """A label selector requirement (key, operator, values)."""

    key: Annotated[str, S("The label key the selector applies to.")]
    operator: Annotated[str, S("One of In, NotIn, Exists and DoesNotExist.")]
    values: Annotated[
        list[str] | None, S("Values for In/NotIn; must be empty for Exists/DoesNotExist.")
    ] = None


class LabelSelector(Model):
    """A Kubernetes label selector."""

    match_labels: Annotated[dict[str, str] | None, S("Exact label matches, ANDed.")] = None
    match_expressions: Annotated[
        list[LabelSelectorRequirement] | None, S("Set-based requirements, ANDed.")
    ] = None


class Selector(Model):
    """Selects Kubernetes objects by group/version/kind, name, namespace and selectors.

    Group, version, kind, name and namespace are regular expressions.
    """

    group: str | None = None
    version: str | None = None
    kind: str | None = None
    name: str | None = None
    namespace: str | None = None
    annotation_selector: Annotated[
        str | None, S("Annotation selector expression, in label-selector syntax.")
    ] = None
    label_selector: Annotated[str | None, S("Label selector expression.")] = None


class Patch(Model):
    """A strategic merge or JSON 6902 patch and the objects it targets."""

    patch: Annotated[str, S("Inline patch, strategic merge (YAML) or JSON 6902.")]
    target: Annotated[Selector | None, S("Objects the patch applies to.")] = None


class Image(Model):
    """An image override (name, new name, new tag or digest), as in kustomize."""

    name: Annotated[str, S("Image name to match in the manifests.")]
    new_name: Annotated[str | None, S("Replacement image name.")] = None
    new_tag: Annotated[str | None, S("Replacement tag.")] = None
    digest: Annotated[str | None, S("Replacement digest; takes precedence over newTag.")] = None


class CustomHealthCheck(Model):
    """CEL expressions assessing the health of a custom resource kind."""

    api_version: Annotated[str, S("API version of the resource.", name="apiVersion")]
    kind: Annotated[str, S("Kind of the resource.")]
    current: Annotated[str, S("CEL expression true when the resource is healthy.")]
    in_progress: Annotated[
        str | None, S("CEL expression true while the resource is progressing.")
    ] = None
    failed: Annotated[str | None, S("CEL expression true when the resource failed.")] = None


class IgnoreRule(Model):
    """JSON pointers to leave alone during drift detection, optionally per target."""

    paths: Annotated[list[str], S("JSON Pointer (RFC 6901) paths to ignore.")]
    target: Annotated[Selector | None, S("Objects the rule applies to; all when unset.")] = None


class CommonMetadata(Model):
    """Labels and annotations added to every applied object."""

    annotations: Annotated[dict[str, str] | None, S("Annotations to add.")] = None
    labels: Annotated[dict[str, str] | None, S("Labels to add.")] = None


class ResourceRef(Model):
    """An inventory entry: object id and API version."""

    id: Annotated[str, S("Object id in the form '<namespace>_<name>_<group>_<kind>'.")]
    v: Annotated[str, S("Version of the API the object was applied with.")]


class ResourceInventory(Model):
    """The objects applied by the last successful reconciliation."""

    entries: Annotated[list[ResourceRef], S("Applied objects.")]


class HistorySnapshot(Model):
    """Summary of one reconciled desired state (by digest)."""

    digest: Annotated[str, S("Checksum of the desired state '<algo>:<checksum>'.")]
    first_reconciled: Annotated[Time, S("First time this state was reconciled.")]
    last_reconciled: Annotated[Time, S("Last time this state was reconciled.")]
    last_reconciled_duration: Annotated[
        str, S("Duration of the last reconciliation of this state.")
    ]
    last_reconciled_status: Annotated[str, S("Status of the last reconciliation.")]
    total_reconciliations: Annotated[Int64, S("How many times this state was reconciled.")]
    metadata: Annotated[
        dict[str, str] | None, S("Extra information such as the source revision.")
    ] = None


# Most Flux kinds declare ``status: {observedGeneration: -1}`` as the CRD
# default so that a fresh object never looks reconciled; an empty status is
# left out when serializing.
STATUS_WITH_GENERATION = S(default={"observedGeneration": -1}, omit_empty=True)
STATUS = S(omit_empty=True)
