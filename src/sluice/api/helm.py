"""The ``helm.toolkit.fluxcd.io/v2`` HelmRelease kind.

A HelmRelease installs and upgrades a Helm chart taken either from a chart
template (a HelmChart the controller generates, named ``<ns>-<name>``) or from
an existing source (``chartRef``). Flux's CRD defaults only the chart template
(``version: "*"``, ``reconcileStrategy: ChartVersion``, ``verify.provider:
cosign``) and ``uninstall.deletionPropagation: background``; ``timeout`` (5m),
``maxHistory`` (5), ``persistentClient`` (true), the release name and the
namespaces are Go getters, provided here as methods.
"""

from __future__ import annotations

from dataclasses import field
from typing import Annotated, Any

from sluice.api.helm_actions import (
    DriftDetection,
    Install,
    Rollback,
    Test,
    Uninstall,
    Upgrade,
)
from sluice.api.meta import (
    STATUS_WITH_GENERATION,
    CommonMetadata,
    CustomHealthCheck,
    DependencyReference,
    Duration,
    Image,
    Int64,
    KubeConfigReference,
    LocalObjectReference,
    ObjectStatus,
    Patch,
    ResourceInventory,
    Selector,
    Time,
)
from sluice.api.resource import AGE_COLUMN, READY_COLUMN, STATUS_COLUMN, KindInfo, Resource
from sluice.api.schema import Model, Rule, S

GROUP = "helm.toolkit.fluxcd.io"
VERSION = "v2"
API_VERSION = f"{GROUP}/{VERSION}"
COMPONENT = "helm-controller"

DEFAULT_TIMEOUT = "5m0s"
DEFAULT_MAX_HISTORY = 5
DEFAULT_VALUES_KEY = "values.yaml"

# Condition types.
RELEASED = "Released"
TEST_SUCCESS = "TestSuccess"
REMEDIATED = "Remediated"
DRIFTED = "Drifted"

# Reasons.
INSTALL_SUCCEEDED = "InstallSucceeded"
INSTALL_FAILED = "InstallFailed"
UPGRADE_SUCCEEDED = "UpgradeSucceeded"
UPGRADE_FAILED = "UpgradeFailed"
TEST_SUCCEEDED = "TestSucceeded"
TEST_FAILED = "TestFailed"
ROLLBACK_SUCCEEDED = "RollbackSucceeded"
ROLLBACK_FAILED = "RollbackFailed"
UNINSTALL_SUCCEEDED = "UninstallSucceeded"
UNINSTALL_FAILED = "UninstallFailed"
DRIFT_DETECTED = "DriftDetected"
NO_DRIFT_DETECTED = "NoDriftDetected"
DRIFT_CORRECTION_FAILED = "DriftCorrectionFailed"
INVENTORY_BUILD_FAILED = "InventoryBuildFailed"
NAMESPACE_CHECK_SKIPPED = "NamespaceCheckSkipped"
AWAITING_TESTS = "AwaitingTests"
INIT_FAILED = "InitFailed"
GET_LAST_RELEASE_FAILED = "GetLastReleaseFailed"

CHART_SOURCE_KINDS = ("HelmRepository", "GitRepository", "Bucket")
CHART_REF_KINDS = ("OCIRepository", "HelmChart", "ExternalArtifact")



# --------------------------------------------------------------------------
# Chart


class CrossNamespaceObjectReference(Model):
    """The source, possibly in another namespace, a chart template pulls from."""

    api_version: Annotated[str | None, S("API version of the referent.", name="apiVersion")] = None
    kind: Annotated[str, S("Kind of the referent.", enum=CHART_SOURCE_KINDS)]
    name: Annotated[str, S("Name of the referent.", min_length=1, max_length=253)]
    namespace: Annotated[
        str | None, S("Namespace of the referent.", min_length=1, max_length=63)
    ] = None


class ChartReference(Model):
    """Reference to a source object holding the chart artifact."""

    api_version: Annotated[str | None, S("API version of the referent.", name="apiVersion")] = None
    kind: Annotated[str, S("Kind of the referent.", enum=CHART_REF_KINDS)]
    name: Annotated[str, S("Name of the referent.", min_length=1, max_length=253)]
    namespace: Annotated[
        str | None,
        S("Namespace of the referent (the HelmRelease's when unset).", min_length=1, max_length=63),
    ] = None


class HelmChartTemplateVerification(Model):
    """Signature verification of an OCI chart."""

    provider: Annotated[
        str | None,
        S("Signing technology.", default="cosign", enum=("cosign", "notation"), required=True),
    ] = None
    secret_ref: Annotated[LocalObjectReference | None, S("Secret with trusted public keys.")] = None


class HelmChartTemplateSpec(Model):
    """Template of the HelmChart spec the controller generates."""

    chart: Annotated[str, S("Chart name or path in the source.", min_length=1, max_length=2048)]
    version: Annotated[
        str | None, S("Semver range of chart versions (latest when unset).", default="*")
    ] = None
    source_ref: Annotated[CrossNamespaceObjectReference, S("The source of the chart.")]
    interval: Annotated[
        Duration | None, S("How often to check for new charts (the release interval when unset).")
    ] = None
    reconcile_strategy: Annotated[
        str | None,
        S(
            "What makes a new chart artifact.",
            default="ChartVersion",
            enum=("ChartVersion", "Revision"),
        ),
    ] = None
    values_files: Annotated[list[str] | None, S("Values files merged in order.")] = None
    values_file: Annotated[str | None, S("Deprecated: use valuesFiles.")] = None
    ignore_missing_values_files: Annotated[
        bool | None, S("Skip missing values files instead of failing.")
    ] = None
    verify: Annotated[
        HelmChartTemplateVerification | None, S("Signature verification (OCI charts).")
    ] = None


class HelmChartTemplateObjectMeta(Model):
    """Labels and annotations of the generated HelmChart."""

    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None


class HelmChartTemplate(Model):
    """Template of the HelmChart the controller creates for this release."""

    metadata: Annotated[
        HelmChartTemplateObjectMeta | None, S("Metadata of the generated HelmChart.")
    ] = None
    spec: Annotated[HelmChartTemplateSpec, S("Spec of the generated HelmChart.")]


class ValuesReference(Model):
    """A ConfigMap or Secret key providing values."""

    kind: Annotated[str, S("Kind of the referent.", enum=("Secret", "ConfigMap"))]
    name: Annotated[
        str, S("Name of the referent, in the same namespace.", min_length=1, max_length=253)
    ]
    values_key: Annotated[
        str | None,
        S(
            "Data key holding the values (values.yaml).",
            max_length=253,
            pattern=r"^[\-._a-zA-Z0-9]+$",
        ),
    ] = None
    target_path: Annotated[
        str | None,
        S(
            "Dot path at which a single value is merged (the root when unset).",
            max_length=250,
            pattern=r"^([a-zA-Z0-9_\-.\\\/]|\[[0-9]{1,5}\])+$",
        ),
    ] = None
    optional: Annotated[bool | None, S("Tolerate a missing object or key.")] = None
    literal: Annotated[
        bool | None, S("Merge the value at targetPath as a string, without YAML parsing.")
    ] = None

    def key(self) -> str:
        return self.values_key or DEFAULT_VALUES_KEY


class JSON6902(Model):
    """One JSON 6902 operation."""

    op: Annotated[str, S("Operation.", enum=("test", "remove", "add", "replace", "move", "copy"))]
    path: Annotated[str, S("JSON pointer of the target location.")]
    from_: Annotated[str | None, S("Source location for move and copy.", name="from")] = None
    value: Annotated[Any, S("Value for add, replace and test.")] = None


class JSON6902Patch(Model):
    """JSON 6902 operations and their target (deprecated form)."""

    patch: Annotated[list[JSON6902], S("Operations.")]
    target: Annotated[Selector, S("Objects to patch.")]


class PostRendererKustomize(Model):
    """Kustomize post-renderer."""

    patches: Annotated[list[Patch] | None, S("Patches with targets.")] = None
    patches_strategic_merge: Annotated[list[Any] | None, S("Deprecated: use patches.")] = None
    patches_json6902: Annotated[
        list[JSON6902Patch] | None, S("Deprecated: use patches.", name="patchesJson6902")
    ] = None
    images: Annotated[list[Image] | None, S("Image overrides.")] = None


class PostRenderer(Model):
    """A Helm post-renderer."""

    kustomize: Annotated[PostRendererKustomize | None, S("Kustomize post-renderer.")] = None


class WaitStrategy(Model):
    """How the controller waits for resources to be ready."""

    name: Annotated[str, S("Strategy name.", enum=("poller", "legacy"))]


class HelmReleaseSpec(Model):
    """Desired state of a HelmRelease."""

    schema_rules = (
        Rule(
            "(has(self.chart) && !has(self.chartRef)) || (!has(self.chart) && has(self.chartRef))",
            "either chart or chartRef must be set",
        ),
    )

    chart: Annotated[HelmChartTemplate | None, S("Template of the HelmChart to create.")] = None
    chart_ref: Annotated[ChartReference | None, S("Existing source holding the chart.")] = None
    interval: Annotated[Duration, S("How often to reconcile the release.")]
    kube_config: Annotated[
        KubeConfigReference | None, S("Release to a remote cluster with this kubeconfig.")
    ] = None
    suspend: Annotated[bool | None, S("Suspend subsequent reconciliations.")] = None
    release_name: Annotated[
        str | None,
        S("Helm release name ([targetNamespace-]name when unset).", min_length=1, max_length=53),
    ] = None
    target_namespace: Annotated[
        str | None,
        S("Namespace of the release (the HelmRelease's when unset).", min_length=1, max_length=63),
    ] = None
    storage_namespace: Annotated[
        str | None,
        S(
            "Namespace of the Helm storage (the HelmRelease's when unset).",
            min_length=1,
            max_length=63,
        ),
    ] = None
    depends_on: Annotated[
        list[DependencyReference] | None, S("HelmReleases that must be ready first.")
    ] = None
    timeout: Annotated[Duration | None, S("Timeout of each Kubernetes operation (5m0s).")] = None
    max_history: Annotated[
        int | None, S("Release revisions kept by Helm; 0 is unlimited (5 when unset).")
    ] = None
    service_account_name: Annotated[
        str | None, S("ServiceAccount to impersonate.", min_length=1, max_length=253)
    ] = None
    persistent_client: Annotated[
        bool | None, S("Reuse one Kubernetes client for the whole reconciliation (true).")
    ] = None
    drift_detection: Annotated[DriftDetection | None, S("Drift detection.")] = None
    install: Annotated[Install | None, S("Install configuration.")] = None
    upgrade: Annotated[Upgrade | None, S("Upgrade configuration.")] = None
    test: Annotated[Test | None, S("Test configuration.")] = None
    rollback: Annotated[Rollback | None, S("Rollback configuration.")] = None
    uninstall: Annotated[Uninstall | None, S("Uninstall configuration.")] = None
    values_from: Annotated[
        list[ValuesReference] | None, S("Values sources merged in order before spec.values.")
    ] = None
    values: Annotated[Any, S("Values for the release, merged last.")] = None
    post_renderers: Annotated[list[PostRenderer] | None, S("Post-renderers applied in order.")] = (
        None
    )
    common_metadata: Annotated[
        CommonMetadata | None, S("Labels and annotations added to every object.")
    ] = None
    post_render_strategy: Annotated[
        str | None,
        S(
            "Which manifests the post-renderers see (combined when unset).",
            enum=("nohooks", "combined", "separate"),
        ),
    ] = None
    wait_strategy: Annotated[WaitStrategy | None, S("How to wait for readiness.")] = None
    health_check_exprs: Annotated[
        list[CustomHealthCheck] | None, S("CEL health checks for custom resources.")
    ] = None


# --------------------------------------------------------------------------
# Status


class TestHookStatus(Model):
    """A test hook as observed by the controller."""

    __test__ = False  # not a pytest test class, despite the name

    last_started: Time | None = None
    last_completed: Time | None = None
    phase: str | None = None


class Snapshot(Model):
    """Point-in-time summary of a Helm release revision."""

    api_version: Annotated[str | None, S("Snapshot format version.", name="apiVersion")] = None
    digest: Annotated[str, S("Checksum of the release object '<algo>:<checksum>'.")]
    name: Annotated[str, S("Release name.")]
    namespace: Annotated[str, S("Release namespace.")]
    version: Annotated[int, S("Release revision.")]
    status: Annotated[str, S("Release status (deployed, superseded, failed...).")]
    chart_name: Annotated[str, S("Chart name.")]
    chart_version: Annotated[str, S("Chart version.")]
    app_version: Annotated[str | None, S("Chart appVersion.")] = None
    config_digest: Annotated[str, S("Checksum of the release values.")]
    first_deployed: Annotated[Time, S("When the release was first deployed.")]
    last_deployed: Annotated[Time, S("When the release was last deployed.")]
    deleted: Annotated[Time | None, S("When the release was deleted.")] = None
    test_hooks: Annotated[
        dict[str, TestHookStatus] | None, S("Test hooks run for this revision.")
    ] = None
    oci_digest: Annotated[str | None, S("Digest of the OCI chart artifact.", name="ociDigest")] = (
        None
    )
    action: Annotated[str | None, S("Helm action that produced the revision.")] = None

    def full_release_name(self) -> str:
        """``<namespace>/<name>.v<version>``, as in Flux's messages."""
        return f"{self.namespace}/{self.name}.v{self.version}"

    def versioned_chart_name(self) -> str:
        """``<chart>@<version>``, as in Flux's messages."""
        return f"{self.chart_name}@{self.chart_version}"


class HelmReleaseStatus(ObjectStatus):
    """Observed state of a HelmRelease."""

    last_attempted_generation: Annotated[
        Int64 | None, S("Last generation the controller attempted.")
    ] = None
    helm_chart: Annotated[str | None, S("<namespace>/<name> of the generated HelmChart.")] = None
    storage_namespace: Annotated[
        str | None, S("Namespace of the Helm storage.", min_length=1, max_length=63)
    ] = None
    history: Annotated[list[Snapshot] | None, S("Release revisions, most recent first.")] = None
    last_attempted_release_action: Annotated[
        str | None, S("Last release action attempted.", enum=("install", "upgrade"))
    ] = None
    last_attempted_release_action_duration: Annotated[
        str | None, S("Duration of the last release action.")
    ] = None
    failures: Annotated[Int64 | None, S("Reconciliation failures since the last success.")] = None
    install_failures: Annotated[Int64 | None, S("Install failures since the last success.")] = None
    upgrade_failures: Annotated[Int64 | None, S("Upgrade failures since the last success.")] = None
    last_applied_revision: Annotated[str | None, S("Deprecated: see history.")] = None
    last_attempted_revision: Annotated[str | None, S("Chart revision of the last attempt.")] = None
    last_attempted_revision_digest: Annotated[
        str | None, S("OCI digest of the last attempted chart.")
    ] = None
    last_attempted_values_checksum: Annotated[
        str | None, S("Deprecated: see lastAttemptedConfigDigest.")
    ] = None
    last_release_revision: Annotated[int | None, S("Deprecated: see history.")] = None
    last_attempted_config_digest: Annotated[
        str | None, S("Digest of the values of the last attempt.")
    ] = None
    last_handled_force_at: Annotated[
        str | None, S("Last handled reconcile.fluxcd.io/forceAt value.")
    ] = None
    last_handled_reset_at: Annotated[
        str | None, S("Last handled reconcile.fluxcd.io/resetAt value.")
    ] = None
    observed_post_renderers_digest: Annotated[
        str | None, S("Digest of the post-renderers of the last release.")
    ] = None
    observed_common_metadata_digest: Annotated[
        str | None, S("Digest of the common metadata of the last release.")
    ] = None
    inventory: Annotated[ResourceInventory | None, S("Objects of the current release.")] = None


class HelmRelease(Resource):
    """HelmRelease is the Schema for the helmreleases API."""

    info = KindInfo(
        group=GROUP,
        kind="HelmRelease",
        plural="helmreleases",
        versions=(VERSION,),
        component=COMPONENT,
        short_names=("hr",),
        categories=("all", "fluxcd", "fluxcd-appliers"),
        printer_columns=(AGE_COLUMN, READY_COLUMN, STATUS_COLUMN),
    )

    spec: HelmReleaseSpec
    status: Annotated[HelmReleaseStatus, STATUS_WITH_GENERATION] = field(
        default_factory=HelmReleaseStatus
    )

    def release_name(self) -> str:
        """``spec.releaseName``, else ``[<targetNamespace>-]<name>``."""
        if self.spec.release_name:
            return self.spec.release_name
        if self.spec.target_namespace:
            return f"{self.spec.target_namespace}-{self.name}"
        return self.name

    def release_namespace(self) -> str:
        return self.spec.target_namespace or self.namespace

    def storage_namespace(self) -> str:
        return self.spec.storage_namespace or self.namespace

    def helm_chart_name(self) -> str:
        """Name of the HelmChart generated from ``spec.chart``: ``<namespace>-<name>``."""
        return f"{self.namespace}-{self.name}"

    def helm_chart_namespace(self) -> str:
        """Namespace of the generated HelmChart: the chart source's namespace."""
        chart = self.spec.chart
        if chart is not None and chart.spec.source_ref.namespace:
            return chart.spec.source_ref.namespace
        return self.namespace

    def timeout(self) -> str:
        return self.spec.timeout or DEFAULT_TIMEOUT

    def max_history(self) -> int:
        return DEFAULT_MAX_HISTORY if self.spec.max_history is None else self.spec.max_history

    def persistent_client(self) -> bool:
        return True if self.spec.persistent_client is None else self.spec.persistent_client


KINDS: tuple[type[Resource], ...] = (HelmRelease,)
