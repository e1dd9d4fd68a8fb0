"""The ``kustomize.toolkit.fluxcd.io/v1`` Kustomization kind.

A Kustomization builds a path of a source artifact with kustomize, optionally
decrypts and substitutes variables, applies the result with server-side
apply, prunes what disappeared and checks health. The CRD defaults only
``force: false`` and ``postBuild.substituteFrom[].optional: false``; the rest
(``deletionPolicy`` MirrorPrune, ``retryInterval`` = interval, ``timeout``
derived from interval) are Go getters in Flux, methods here.
"""

from __future__ import annotations

from dataclasses import field
from typing import Annotated

from sluice.api.meta import (
    STATUS_WITH_GENERATION,
    CommonMetadata,
    CrossNamespaceSourceReference,
    CustomHealthCheck,
    DependencyReference,
    Duration,
    HistorySnapshot,
    IgnoreRule,
    Image,
    KubeConfigReference,
    LocalObjectReference,
    NamespacedObjectKindReference,
    ObjectStatus,
    Patch,
    ResourceInventory,
)
from sluice.api.resource import AGE_COLUMN, READY_COLUMN, STATUS_COLUMN, KindInfo, Resource
from sluice.api.schema import Model, S

GROUP = "kustomize.toolkit.fluxcd.io"
VERSION = "v1"
API_VERSION = f"{GROUP}/{VERSION}"
COMPONENT = "kustomize-controller"

DELETION_POLICY_MIRROR_PRUNE = "MirrorPrune"
DELETION_POLICY_DELETE = "Delete"
DELETION_POLICY_WAIT_FOR_TERMINATION = "WaitForTermination"
DELETION_POLICY_ORPHAN = "Orphan"
DELETION_POLICIES = (
    DELETION_POLICY_MIRROR_PRUNE,
    DELETION_POLICY_DELETE,
    DELETION_POLICY_WAIT_FOR_TERMINATION,
    DELETION_POLICY_ORPHAN,
)

SOURCE_KINDS = ("OCIRepository", "GitRepository", "Bucket", "ExternalArtifact")

# Reasons specific to kustomize-controller (generic ones live in sluice.api.meta).
DIRECTORY_CREATION_FAILED = "DirectoryCreationFailed"

# Event metadata keys (prefixed with the group, stripped by notification-controller).
REVISION_KEY = f"{GROUP}/revision"
ORIGIN_REVISION_KEY = f"{GROUP}/originRevision"


class KustomizationSourceReference(CrossNamespaceSourceReference):
    """Reference to the source holding the manifests."""

    kind: Annotated[str, S("Kind of the referent.", enum=SOURCE_KINDS)]


class Decryption(Model):
    """How to decrypt SOPS-encrypted manifests."""

    provider: Annotated[str, S("Decryption engine.", enum=("sops",))]
    service_account_name: Annotated[
        str | None, S("ServiceAccount used to reach cloud KMS with workload identity.")
    ] = None
    secret_ref: Annotated[
        LocalObjectReference | None, S("Secret with the private keys or KMS credentials.")
    ] = None


class SubstituteReference(Model):
    """A ConfigMap or Secret whose data keys are substitution variables."""

    kind: Annotated[str, S("Kind of the referent.", enum=("Secret", "ConfigMap"))]
    name: Annotated[
        str, S("Name of the referent, in the same namespace.", min_length=1, max_length=253)
    ]
    optional: Annotated[
        bool | None, S("Proceed as if empty when the object does not exist.", default=False)
    ] = None


class PostBuild(Model):
    """Actions performed on the built manifests before they are applied."""

    substitute: Annotated[
        dict[str, str] | None, S("Variables replacing ${name} in the manifests.")
    ] = None
    substitute_from: Annotated[
        list[SubstituteReference] | None,
        S("ConfigMaps and Secrets providing variables, later ones overriding earlier ones."),
    ] = None
    substitute_strategy: Annotated[
        str | None,
        S(
            "Substitute only when variables are defined, or always.",
            enum=("WithVariables", "Always"),
        ),
    ] = None


class KustomizationSpec(Model):
    """Desired state of a Kustomization."""

    common_metadata: Annotated[
        CommonMetadata | None, S("Labels and annotations added to every applied object.")
    ] = None
    depends_on: Annotated[
        list[DependencyReference] | None,
        S("Kustomizations that must be ready before this one is reconciled."),
    ] = None
    decryption: Annotated[Decryption | None, S("Decryption of Kubernetes secrets.")] = None
    interval: Annotated[Duration, S("How often to reconcile the Kustomization.")]
    retry_interval: Annotated[
        Duration | None, S("How soon to retry after a failure (the interval when unset).")
    ] = None
    kube_config: Annotated[
        KubeConfigReference | None, S("Apply to a remote cluster with this kubeconfig.")
    ] = None
    path: Annotated[str | None, S("Directory in the artifact to build (the root when unset).")] = (
        None
    )
    post_build: Annotated[PostBuild | None, S("Variable substitution after the build.")] = None
    prune: Annotated[bool, S("Delete objects that are no longer in the source.")]
    deletion_policy: Annotated[
        str | None,
        S(
            "What happens to applied objects when the Kustomization is deleted "
            "(MirrorPrune follows spec.prune).",
            enum=DELETION_POLICIES,
        ),
    ] = None
    health_checks: Annotated[
        list[NamespacedObjectKindReference] | None, S("Objects whose health is assessed.")
    ] = None
    name_prefix: Annotated[
        str | None, S("Prefix for the names of all objects.", min_length=1, max_length=200)
    ] = None
    name_suffix: Annotated[
        str | None, S("Suffix for the names of all objects.", min_length=1, max_length=200)
    ] = None
    patches: Annotated[
        list[Patch] | None, S("Strategic merge and JSON 6902 patches with targets.")
    ] = None
    images: Annotated[list[Image] | None, S("Image name, tag and digest overrides.")] = None
    service_account_name: Annotated[
        str | None, S("ServiceAccount to impersonate when applying.")
    ] = None
    source_ref: Annotated[KustomizationSourceReference, S("The source of the manifests.")]
    suspend: Annotated[bool | None, S("Suspend subsequent reconciliations.")] = None
    target_namespace: Annotated[
        str | None,
        S("Namespace set on all namespaced objects.", min_length=1, max_length=63),
    ] = None
    timeout: Annotated[Duration | None, S("Timeout of apply and health check operations.")] = None
    force: Annotated[
        bool | None,
        S("Recreate objects when a patch fails on an immutable field.", default=False),
    ] = None
    wait: Annotated[
        bool | None, S("Wait for all applied objects to be healthy (ignores healthChecks).")
    ] = None
    components: Annotated[list[str] | None, S("Relative paths of kustomize components.")] = None
    ignore_missing_components: Annotated[
        bool | None, S("Drop components missing from the source instead of failing.")
    ] = None
    build_metadata: Annotated[
        list[str] | None,
        S(
            "Kustomize build metadata to add to the objects.",
            items={"enum": ["originAnnotations", "transformerAnnotations"]},
        ),
    ] = None
    health_check_exprs: Annotated[
        list[CustomHealthCheck] | None, S("CEL health checks for custom resources.")
    ] = None
    drift_ignore_rules: Annotated[
        list[IgnoreRule] | None,
        S("Fields left alone during drift detection and apply."),
    ] = None


class KustomizationStatus(ObjectStatus):
    """Observed state of a Kustomization."""

    last_applied_revision: Annotated[
        str | None, S("Source revision of the last successful apply.")
    ] = None
    last_applied_origin_revision: Annotated[
        str | None, S("Origin revision (e.g. OCI source revision) of the last apply.")
    ] = None
    last_attempted_revision: Annotated[str | None, S("Source revision of the last attempt.")] = None
    inventory: Annotated[
        ResourceInventory | None, S("Objects applied by the last successful reconciliation.")
    ] = None
    history: Annotated[
        list[HistorySnapshot] | None, S("Recent reconciliations by desired state.")
    ] = None


class Kustomization(Resource):
    """Kustomization is the Schema for the kustomizations API."""

    info = KindInfo(
        group=GROUP,
        kind="Kustomization",
        plural="kustomizations",
        versions=(VERSION,),
        component=COMPONENT,
        short_names=("ks",),
        categories=("all", "fluxcd", "fluxcd-appliers"),
        printer_columns=(AGE_COLUMN, READY_COLUMN, STATUS_COLUMN),
    )

    spec: KustomizationSpec
    status: Annotated[KustomizationStatus, STATUS_WITH_GENERATION] = field(
        default_factory=KustomizationStatus
    )

    def deletion_policy(self) -> str:
        """The deletion policy, MirrorPrune when unset (as Flux's getter)."""
        return self.spec.deletion_policy or DELETION_POLICY_MIRROR_PRUNE

    def prunes_on_delete(self) -> bool:
        """Whether deleting the Kustomization deletes what it applied."""
        policy = self.deletion_policy()
        if policy == DELETION_POLICY_MIRROR_PRUNE:
            return self.spec.prune
        return policy in (DELETION_POLICY_DELETE, DELETION_POLICY_WAIT_FOR_TERMINATION)

    def retry_interval(self) -> str:
        """The retry interval, falling back to the interval."""
        return self.spec.retry_interval or self.spec.interval


KINDS: tuple[type[Resource], ...] = (Kustomization,)
