"""The ``source.toolkit.fluxcd.io/v1`` kinds: where manifests and charts come from.

GitRepository, OCIRepository, HelmRepository, HelmChart and ExternalArtifact
(Bucket is :mod:`sluice.api.source_bucket`'s), with Flux's field names, CRD defaults (``timeout: 60s``,
``provider: generic``, ``version: "*"`` ...), enums, patterns and CEL rules,
plus the condition types and reasons source-controller reports. Defaults
Flux applies only in code (a Git ref falling back to branch ``master``, an
OCI ref to tag ``latest``) are methods, never CRD defaults.
"""

from __future__ import annotations

from dataclasses import field
from typing import Annotated

from sluice.api.meta import (
    STATUS,
    STATUS_WITH_GENERATION,
    AccessFrom,
    Artifact,
    Condition,
    Duration,
    LocalObjectReference,
    NamespacedObjectKindReference,
    ObjectStatus,
    Timeout,
)
from sluice.api.resource import (
    AGE_COLUMN,
    READY_COLUMN,
    STATUS_COLUMN,
    KindInfo,
    PrinterColumn,
    Resource,
)
from sluice.api.schema import Model, Rule, S

GROUP = "source.toolkit.fluxcd.io"
VERSION = "v1"
API_VERSION = f"{GROUP}/{VERSION}"
COMPONENT = "source-controller"
CATEGORIES = ("all", "fluxcd", "fluxcd-sources")

# Condition types (besides Ready/Reconciling/Stalled).
ARTIFACT_OUTDATED = "ArtifactOutdated"
ARTIFACT_IN_STORAGE = "ArtifactInStorage"
SOURCE_VERIFIED = "SourceVerified"
FETCH_FAILED = "FetchFailed"
BUILD_FAILED = "BuildFailed"
STORAGE_OPERATION_FAILED = "StorageOperationFailed"
INCLUDE_UNAVAILABLE = "IncludeUnavailable"

# Reasons.
NEW_REVISION = "NewRevision"
GIT_OPERATION_SUCCEEDED = "GitOperationSucceeded"
GIT_OPERATION_FAILED = "GitOperationFailed"
AUTHENTICATION_FAILED = "AuthenticationFailed"
URL_INVALID = "URLInvalid"
DIRECTORY_CREATION_FAILED = "DirectoryCreationFailed"
STAT_OPERATION_FAILED = "StatOperationFailed"
READ_OPERATION_FAILED = "ReadOperationFailed"
ACQUIRE_LOCK_FAILED = "AcquireLockFailed"
ARCHIVE_OPERATION_FAILED = "ArchiveOperationFailed"
SYMLINK_UPDATE_FAILED = "SymlinkUpdateFailed"
ARTIFACT_UP_TO_DATE = "ArtifactUpToDate"
CACHE_OPERATION_FAILED = "CacheOperationFailed"
PATCH_OPERATION_FAILED = "PatchOperationFailed"
INVALID_STS_CONFIGURATION = "InvalidSTSConfiguration"
INVALID_PROVIDER_CONFIGURATION = "InvalidProviderConfiguration"
INDEXATION_FAILED = "IndexationFailed"
INDEXATION_SUCCEEDED = "IndexationSucceed"
CHART_PULL_SUCCEEDED = "ChartPullSucceeded"
CHART_PULL_FAILED = "ChartPullFailed"
CHART_PACKAGE_SUCCEEDED = "ChartPackageSucceeded"
CHART_PACKAGE_FAILED = "ChartPackageFailed"
BUCKET_OPERATION_SUCCEEDED = "BucketOperationSucceeded"
BUCKET_OPERATION_FAILED = "BucketOperationFailed"
OCI_PULL_FAILED = "OCIArtifactPullFailed"
OCI_LAYER_OPERATION_FAILED = "OCIArtifactLayerOperationFailed"
VERIFICATION_ERROR = "VerificationError"

SECRET_REF = S("Secret with the credentials, in the same namespace.")
CERT_SECRET_REF = S("Secret with 'ca.crt' and/or 'tls.crt'+'tls.key' for TLS.")
PROXY_SECRET_REF = S("Secret with the proxy 'address' and optional 'username'/'password'.")
SUSPEND = S("Suspend stops reconciliation of this source until unset.")
IGNORE = S("Paths to exclude from the artifact, .sourceignore (gitignore) syntax.")
INTERVAL = S("How often to check the origin for updates.")
FETCH_TIMEOUT = S("Timeout of remote operations (fetch, clone, pull).", default="60s")


def source_columns(*specific: PrinterColumn) -> tuple[PrinterColumn, ...]:
    """A source kind's printer columns: its own, then Age, Ready and Status."""
    return (*specific, AGE_COLUMN, READY_COLUMN, STATUS_COLUMN)


def source_kind_info(kind: str, plural: str, columns: tuple[PrinterColumn, ...],
                     *short: str) -> KindInfo:
    """The KindInfo of a ``source.toolkit.fluxcd.io/v1`` kind."""
    return KindInfo(
        group=GROUP,
        kind=kind,
        plural=plural,
        versions=(VERSION,),
        component=COMPONENT,
        short_names=short,
        categories=CATEGORIES,
        printer_columns=columns,
    )


URL_COLUMN = PrinterColumn("URL", ".spec.url")


class SourceStatus(ObjectStatus):
    """Observed state shared by the artifact-producing sources."""

    artifact: Annotated[Artifact | None, S("The artifact of the last successful sync.")] = None


# --------------------------------------------------------------------------
# GitRepository


class GitRepositoryRef(Model):
    """The Git reference to check out; with nothing set, branch 'master' is used."""

    branch: Annotated[str | None, S("Branch to check out (default 'master').")] = None
    tag: Annotated[str | None, S("Tag to check out; takes precedence over branch.")] = None
    semver: Annotated[str | None, S("Semver range of tags; takes precedence over tag.")] = None
    name: Annotated[
        str | None, S("Full reference name (refs/...); takes precedence over branch/tag/semver.")
    ] = None
    commit: Annotated[
        str | None,
        S("Commit SHA; takes precedence over all, combined with branch for a shallow clone."),
    ] = None

    def effective_branch(self) -> str | None:
        """The branch Flux checks out when no other field is set ('master')."""
        if self.branch:
            return self.branch
        if self.tag or self.semver or self.name or self.commit:
            return None
        return "master"


class GitRepositoryVerification(Model):
    """How to verify commit and tag signatures."""

    mode: Annotated[
        str | None,
        S(
            "What to verify: the HEAD commit, the tag, or both.",
            default="HEAD",
            enum=("head", "HEAD", "Tag", "TagAndHEAD"),
        ),
    ] = None
    secret_ref: Annotated[
        LocalObjectReference, S("Secret with trusted PGP (*.asc) or SSH (*.sshpub) keys.")
    ]


class GitRepositoryInclude(Model):
    """Another GitRepository's artifact content to include."""

    repository: Annotated[LocalObjectReference, S("The GitRepository to include.")]
    from_path: Annotated[str | None, S("Path to copy from, the artifact root by default.")] = None
    to_path: Annotated[str | None, S("Path to copy to, the repository name by default.")] = None


class GitRepositorySpec(Model):
    """Desired state of a GitRepository."""

    schema_rules = (
        Rule(
            "!has(self.serviceAccountName) || (has(self.provider) && "
            "(self.provider == 'azure' || self.provider == 'aws'))",
            "serviceAccountName can only be set when provider is 'azure' or 'aws'",
        ),
    )

    url: Annotated[str, S("Repository URL, HTTP(S) or SSH.", pattern=r"^(http|https|ssh)://.*$")]
    secret_ref: Annotated[LocalObjectReference | None, SECRET_REF] = None
    provider: Annotated[
        str | None,
        S(
            "Provider used for authentication; 'generic' (the secret) when unset.",
            enum=("generic", "aws", "azure", "github"),
        ),
    ] = None
    service_account_name: Annotated[str | None, S("ServiceAccount used for workload identity.")] = (
        None
    )
    interval: Annotated[Duration, INTERVAL]
    timeout: Annotated[Timeout | None, FETCH_TIMEOUT] = None
    ref: Annotated[GitRepositoryRef | None, S("Git reference to check out.")] = None
    verify: Annotated[GitRepositoryVerification | None, S("Signature verification.")] = None
    proxy_secret_ref: Annotated[LocalObjectReference | None, PROXY_SECRET_REF] = None
    ignore: Annotated[str | None, IGNORE] = None
    suspend: Annotated[bool | None, SUSPEND] = None
    recurse_submodules: Annotated[bool | None, S("Also clone submodules.")] = None
    include: Annotated[
        list[GitRepositoryInclude] | None, S("Other GitRepositories to include.")
    ] = None
    sparse_checkout: Annotated[
        list[str] | None, S("Directories to check out (cone mode); all when unset.")
    ] = None


class GitRepositoryStatus(SourceStatus):
    """Observed state of a GitRepository."""

    included_artifacts: Annotated[
        list[Artifact] | None, S("Artifacts of the included repositories.")
    ] = None
    observed_ignore: Annotated[str | None, S("The ignore rules of the last artifact.")] = None
    observed_recurse_submodules: Annotated[
        bool | None, S("The recurseSubmodules of the last artifact.")
    ] = None
    observed_include: Annotated[
        list[GitRepositoryInclude] | None, S("The includes of the last artifact.")
    ] = None
    observed_sparse_checkout: Annotated[
        list[str] | None, S("The sparse checkout of the last artifact.")
    ] = None
    source_verification_mode: Annotated[
        str | None, S("The verification mode of the last artifact.")
    ] = None


class GitRepository(Resource):
    """GitRepository is the Schema for the gitrepositories API."""

    info = source_kind_info("GitRepository", "gitrepositories", source_columns(URL_COLUMN), "gitrepo")

    spec: GitRepositorySpec
    status: Annotated[GitRepositoryStatus, STATUS_WITH_GENERATION] = field(
        default_factory=GitRepositoryStatus
    )


# --------------------------------------------------------------------------
# OCIRepository


class OCIRepositoryRef(Model):
    """The OCI artifact version to pull; tag 'latest' when nothing is set."""

    digest: Annotated[str | None, S("Image digest; takes precedence over all.")] = None
    semver: Annotated[str | None, S("Semver range of tags; takes precedence over tag.")] = None
    semver_filter: Annotated[
        str | None, S("Regular expression tags must match before semver selection.")
    ] = None
    tag: Annotated[str | None, S("Tag to pull (default 'latest').")] = None


class OCILayerSelector(Model):
    """Which layer of the artifact to use and how."""

    media_type: Annotated[str | None, S("Media type of the first matching layer.")] = None
    operation: Annotated[
        str | None,
        S("Extract the layer tarball, or copy it as is.", enum=("extract", "copy")),
    ] = None


class OIDCIdentityMatch(Model):
    """Regular expressions the keyless signing identity must match."""

    issuer: Annotated[str, S("Regular expression matching the OIDC issuer.")]
    subject: Annotated[str, S("Regular expression matching the identity subject.")]


class OCIRepositoryVerification(Model):
    """How to verify the artifact signature."""

    # Required by the CRD but defaulted by it too, so optional in Python.
    provider: Annotated[
        str | None,
        S("Signing technology.", default="cosign", enum=("cosign", "notation"), required=True),
    ] = None
    secret_ref: Annotated[LocalObjectReference | None, S("Secret with trusted public keys.")] = None
    match_oidc_identity: Annotated[
        list[OIDCIdentityMatch] | None,
        S("Accepted keyless identities (any match).", name="matchOIDCIdentity"),
    ] = None
    trusted_root_secret_ref: Annotated[
        LocalObjectReference | None, S("Secret with a custom trusted root.")
    ] = None


class OCIRepositorySpec(Model):
    """Desired state of an OCIRepository."""

    url: Annotated[str, S("OCI repository address, oci://host/path.", pattern=r"^oci://.*$")]
    ref: Annotated[OCIRepositoryRef | None, S("Version of the artifact to pull.")] = None
    layer_selector: Annotated[OCILayerSelector | None, S("Layer to use from the artifact.")] = None
    provider: Annotated[
        str | None,
        S(
            "Provider used for authentication.",
            default="generic",
            enum=("generic", "aws", "azure", "gcp"),
        ),
    ] = None
    secret_ref: Annotated[
        LocalObjectReference | None, S("Secret of type dockerconfigjson with registry credentials.")
    ] = None
    verify: Annotated[OCIRepositoryVerification | None, S("Signature verification.")] = None
    service_account_name: Annotated[
        str | None, S("ServiceAccount whose image pull secrets are used.")
    ] = None
    cert_secret_ref: Annotated[LocalObjectReference | None, CERT_SECRET_REF] = None
    proxy_secret_ref: Annotated[LocalObjectReference | None, PROXY_SECRET_REF] = None
    interval: Annotated[Duration, INTERVAL]
    timeout: Annotated[Timeout | None, FETCH_TIMEOUT] = None
    ignore: Annotated[str | None, IGNORE] = None
    insecure: Annotated[bool | None, S("Allow plain HTTP registries.")] = None
    suspend: Annotated[bool | None, SUSPEND] = None

    def effective_ref(self) -> OCIRepositoryRef:
        """The ref with Flux's fallback to tag 'latest' when nothing is set."""
        ref = self.ref or OCIRepositoryRef()
        if not (ref.digest or ref.semver or ref.tag):
            ref = OCIRepositoryRef(tag="latest", semver_filter=ref.semver_filter)
        return ref


class OCIRepositoryStatus(SourceStatus):
    """Observed state of an OCIRepository."""

    url: Annotated[str | None, S("Download address of the last artifact.")] = None
    observed_ignore: Annotated[str | None, S("The ignore rules of the last artifact.")] = None
    observed_layer_selector: Annotated[
        OCILayerSelector | None, S("The layer selector of the last artifact.")
    ] = None


class OCIRepository(Resource):
    """OCIRepository is the Schema for the ocirepositories API."""

    info = source_kind_info(
        "OCIRepository",
        "ocirepositories",
        (URL_COLUMN, READY_COLUMN, STATUS_COLUMN, AGE_COLUMN),
        "ocirepo",
    )

    spec: OCIRepositorySpec
    status: Annotated[OCIRepositoryStatus, STATUS_WITH_GENERATION] = field(
        default_factory=OCIRepositoryStatus
    )


# --------------------------------------------------------------------------
# HelmRepository


class HelmRepositorySpec(Model):
    """Desired state of a HelmRepository."""

    url: Annotated[
        str,
        S(
            "Helm repository address (index over HTTP(S), or oci://).",
            pattern=r"^(http|https|oci)://.*$",
        ),
    ]
    secret_ref: Annotated[LocalObjectReference | None, SECRET_REF] = None
    cert_secret_ref: Annotated[LocalObjectReference | None, CERT_SECRET_REF] = None
    pass_credentials: Annotated[
        bool | None, S("Send the credentials to chart hosts other than the repository's.")
    ] = None
    interval: Annotated[Duration | None, INTERVAL] = None
    insecure: Annotated[bool | None, S("Allow plain HTTP for OCI repositories.")] = None
    timeout: Annotated[
        Timeout | None, S("Timeout of index fetches and OCI operations (60s when unset).")
    ] = None
    suspend: Annotated[bool | None, SUSPEND] = None
    access_from: Annotated[AccessFrom | None, S("Namespaces allowed to reference it.")] = None
    type: Annotated[
        str | None,
        S("Repository type; 'oci' repositories are static.", enum=("default", "oci")),
    ] = None
    provider: Annotated[
        str | None,
        S(
            "Provider used for OCI authentication.",
            default="generic",
            enum=("generic", "aws", "azure", "gcp"),
        ),
    ] = None


class HelmRepositoryStatus(SourceStatus):
    """Observed state of a HelmRepository."""

    url: Annotated[str | None, S("Download address of the index artifact.")] = None


class HelmRepository(Resource):
    """HelmRepository is the Schema for the helmrepositories API."""

    info = source_kind_info("HelmRepository", "helmrepositories", source_columns(URL_COLUMN), "helmrepo")

    spec: HelmRepositorySpec
    status: Annotated[HelmRepositoryStatus, STATUS_WITH_GENERATION] = field(
        default_factory=HelmRepositoryStatus
    )

    def is_oci(self) -> bool:
        return self.spec.type == "oci"


# --------------------------------------------------------------------------
# HelmChart


class LocalHelmChartSourceReference(Model):
    """The source, in the same namespace, the chart comes from."""

    api_version: Annotated[str | None, S("API version of the referent.", name="apiVersion")] = None
    kind: Annotated[
        str,
        S("Kind of the referent.", enum=("HelmRepository", "GitRepository", "Bucket")),
    ]
    name: Annotated[str, S("Name of the referent.")]


class HelmChartSpec(Model):
    """Desired state of a HelmChart."""

    schema_rules = (
        Rule(
            "!has(self.verify) || self.sourceRef.kind == 'HelmRepository'",
            "spec.verify is only supported when spec.sourceRef.kind is 'HelmRepository'",
        ),
    )

    chart: Annotated[str, S("Chart name in a repository, or path in a Git/Bucket source.")]
    version: Annotated[
        str | None, S("Semver range of chart versions (ignored for Git/Bucket).", default="*")
    ] = None
    source_ref: Annotated[LocalHelmChartSourceReference, S("Where the chart comes from.")]
    interval: Annotated[Duration, INTERVAL]
    reconcile_strategy: Annotated[
        str | None,
        S(
            "What makes a new artifact: a new chart version, or a new source revision.",
            default="ChartVersion",
            enum=("ChartVersion", "Revision"),
        ),
    ] = None
    values_files: Annotated[
        list[str] | None, S("Values files merged in order into the chart's values.yaml.")
    ] = None
    ignore_missing_values_files: Annotated[
        bool | None, S("Skip missing values files instead of failing.")
    ] = None
    suspend: Annotated[bool | None, SUSPEND] = None
    verify: Annotated[OCIRepositoryVerification | None, S("Signature verification (OCI).")] = None


class HelmChartStatus(SourceStatus):
    """Observed state of a HelmChart."""

    observed_source_artifact_revision: Annotated[
        str | None, S("Source revision the last artifact was built from.")
    ] = None
    observed_chart_name: Annotated[str | None, S("Chart name of the last artifact.")] = None
    observed_values_files: Annotated[
        list[str] | None, S("Values files merged into the last artifact.")
    ] = None
    url: Annotated[str | None, S("Download address of the last artifact.")] = None


class HelmChart(Resource):
    """HelmChart is the Schema for the helmcharts API."""

    info = source_kind_info(
        "HelmChart",
        "helmcharts",
        source_columns(
            PrinterColumn("Chart", ".spec.chart"),
            PrinterColumn("Version", ".spec.version"),
            PrinterColumn("Source Kind", ".spec.sourceRef.kind"),
            PrinterColumn("Source Name", ".spec.sourceRef.name"),
        ),
        "hc",
    )

    spec: HelmChartSpec
    status: Annotated[HelmChartStatus, STATUS_WITH_GENERATION] = field(
        default_factory=HelmChartStatus
    )


# --------------------------------------------------------------------------
# ExternalArtifact


class ExternalArtifactSpec(Model):
    """Desired state of an ExternalArtifact (written by its producer)."""

    source_ref: Annotated[
        NamespacedObjectKindReference | None, S("The object that produces the artifact.")
    ] = None


class ExternalArtifactStatus(Model):
    """Observed state of an ExternalArtifact."""

    artifact: Annotated[Artifact | None, S("The artifact produced for this object.")] = None
    conditions: Annotated[list[Condition] | None, S("Conditions of the object.")] = None


class ExternalArtifact(Resource):
    """ExternalArtifact is the Schema for the externalartifacts API."""

    info = source_kind_info(
        "ExternalArtifact",
        "externalartifacts",
        (AGE_COLUMN, READY_COLUMN, STATUS_COLUMN, PrinterColumn("Source", ".spec.sourceRef.name")),
        "ea",
    )

    spec: ExternalArtifactSpec = field(default_factory=ExternalArtifactSpec)
    status: Annotated[ExternalArtifactStatus, STATUS] = field(
        default_factory=ExternalArtifactStatus
    )
