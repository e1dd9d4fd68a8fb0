"""The ``image.toolkit.fluxcd.io`` kinds: image scanning, selection and Git updates.

ImageRepository (tags of a registry repository), ImagePolicy (the latest tag
by semver/alphabetical/numerical order) and ImageUpdateAutomation (rewrite
``$imagepolicy`` setters in Git and push). Served as ``v1`` (storage) and as
the deprecated ``v1beta2``, with the same schema: the seed walkthrough still
writes ``image.toolkit.fluxcd.io/v1beta2`` objects, which must be accepted
unchanged and are stored as v1.

The versions differ in one place, ImagePolicy's status: v1beta2 (Flux
<= 1.0) also carries ``latestImage`` (``<image>:<tag>``, the seed's
``kubectl get imagepolicy`` column ``LATESTIMAGE``) and
``observedPreviousImage``, which v1 replaced by ``latestRef`` and
``observedPreviousRef``. `convert_image_policy` moves between them (the
embedded cluster calls it, as kube-apiserver calls a conversion webhook):
v1 -> v1beta2 derives the strings from the refs, v1beta2 -> v1 keeps the
refs and, for objects written with only the strings, parses the refs back.
ImageRepository converts by identity.
"""

from __future__ import annotations

import copy
from dataclasses import field
from typing import Annotated, Any

from sluice.api.meta import (
    STATUS_WITH_GENERATION,
    AccessFrom,
    Duration,
    LabelSelector,
    LocalObjectReference,
    NamespacedObjectReference,
    ObjectStatus,
    Time,
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
from sluice.api.source import GitRepositoryRef

GROUP = "image.toolkit.fluxcd.io"
VERSION = "v1"
API_VERSION = f"{GROUP}/{VERSION}"
VERSIONS = ("v1", "v1beta2")
REFLECTOR = "image-reflector-controller"
AUTOMATION = "image-automation-controller"
CATEGORIES = ("all", "fluxcd", "fluxcd-images")

DEFAULT_EXCLUSION_LIST = ("^.*\\.sig$",)
DEFAULT_COMMIT_MESSAGE = "Update from image update automation"
SETTERS_STRATEGY = "Setters"

REFLECT_ALWAYS = "Always"
REFLECT_IF_NOT_PRESENT = "IfNotPresent"
REFLECT_NEVER = "Never"

# Reasons (image-reflector-controller).
IMAGE_URL_INVALID = "ImageURLInvalid"
AUTHENTICATION_FAILED = "AuthenticationFailed"
READ_OPERATION_FAILED = "ReadOperationFailed"
INTERVAL_NOT_CONFIGURED = "IntervalNotConfigured"
# Reasons (image-automation-controller).
INVALID_UPDATE_STRATEGY = "InvalidUpdateStrategy"
INVALID_SOURCE_CONFIGURATION = "InvalidSourceConfiguration"
SOURCE_MANAGER_FAILED = "SourceManagerFailed"
GIT_OPERATION_FAILED = "GitOperationFailed"
UPDATE_FAILED = "UpdateFailed"
INVALID_POLICY_SELECTOR = "InvalidPolicySelector"
REMOVED_TEMPLATE_FIELD = "RemovedTemplateField"


def _info(
    kind: str,
    plural: str,
    component: str,
    columns: tuple[PrinterColumn, ...],
    *short: str,
) -> KindInfo:
    return KindInfo(
        group=GROUP,
        kind=kind,
        plural=plural,
        versions=VERSIONS,
        storage=VERSION,
        component=component,
        short_names=short,
        categories=CATEGORIES,
        printer_columns=columns,
        deprecated=(("v1beta2", f"v1beta2 {kind} is deprecated, upgrade to v1"),),
    )


# --------------------------------------------------------------------------
# ImageRepository


class ImageRepositorySpec(Model):
    """Desired state of an ImageRepository: which image to scan and how."""

    image: Annotated[str, S("Image repository to scan, e.g. ghcr.io/org/app.")]
    interval: Annotated[Duration, S("How often to scan the repository.")]
    timeout: Annotated[Timeout | None, S("Timeout of a scan (the interval when unset).")] = None
    secret_ref: Annotated[
        LocalObjectReference | None, S("Secret of type dockerconfigjson with credentials.")
    ] = None
    proxy_secret_ref: Annotated[
        LocalObjectReference | None, S("Secret with the proxy configuration.")
    ] = None
    service_account_name: Annotated[
        str | None, S("ServiceAccount whose image pull secrets are used.", max_length=253)
    ] = None
    cert_secret_ref: Annotated[
        LocalObjectReference | None, S("Secret with 'ca.crt' and/or 'tls.crt'+'tls.key'.")
    ] = None
    suspend: Annotated[bool | None, S("Suspend subsequent scans.")] = None
    access_from: Annotated[AccessFrom | None, S("Namespaces allowed to reference it.")] = None
    exclusion_list: Annotated[
        list[str] | None,
        S(
            "Regular expressions of tags not to store.",
            default=list(DEFAULT_EXCLUSION_LIST),
            max_items=25,
        ),
    ] = None
    provider: Annotated[
        str | None,
        S(
            "Provider used for authentication.",
            default="generic",
            enum=("generic", "aws", "azure", "gcp"),
        ),
    ] = None
    insecure: Annotated[bool | None, S("Allow plain HTTP registries.")] = None


class ScanResult(Model):
    """Summary of the last scan."""

    revision: Annotated[str | None, S("Stable hash of the scanned tags.")] = None
    tag_count: Annotated[int, S("Number of tags found.")]
    scan_time: Annotated[Time | None, S("When the scan happened.")] = None
    latest_tags: Annotated[
        list[str] | None, S("The first 10 tags in descending lexical order.")
    ] = None


class ImageRepositoryStatus(ObjectStatus):
    """Observed state of an ImageRepository."""

    canonical_image_name: Annotated[
        str | None, S("Image name with implied parts explicit (docker.io/library/...).")
    ] = None
    last_scan_result: Annotated[ScanResult | None, S("Result of the last scan.")] = None
    observed_exclusion_list: Annotated[
        list[str] | None, S("Exclusion list used by the last scan.")
    ] = None


class ImageRepository(Resource):
    """ImageRepository is the Schema for the imagerepositories API."""

    info = _info(
        "ImageRepository",
        "imagerepositories",
        REFLECTOR,
        (
            PrinterColumn("Image", ".spec.image"),
            PrinterColumn("Tags", ".status.lastScanResult.tagCount"),
            READY_COLUMN,
            STATUS_COLUMN,
            PrinterColumn("Last scan", ".status.lastScanResult.scanTime", priority=1),
            AGE_COLUMN,
        ),
        "imgrepo",
        "imagerepo",
    )

    spec: ImageRepositorySpec
    status: Annotated[ImageRepositoryStatus, STATUS_WITH_GENERATION] = field(
        default_factory=ImageRepositoryStatus
    )

    @classmethod
    def version_columns(cls, version: str) -> tuple[PrinterColumn, ...]:
        if version == "v1beta2":
            # What the v1beta2 CRD printed in the seed's Flux (2.0 to 2.5).
            return (PrinterColumn("Last scan", ".status.lastScanResult.scanTime"),
                    PrinterColumn("Tags", ".status.lastScanResult.tagCount"))
        return cls.info.printer_columns

    def exclusion_list(self) -> list[str]:
        """The exclusion list, Flux's default when empty."""
        return list(self.spec.exclusion_list or DEFAULT_EXCLUSION_LIST)

    def provider(self) -> str:
        return self.spec.provider or "generic"


# --------------------------------------------------------------------------
# ImagePolicy


class SemVerPolicy(Model):
    """Select the highest tag within a semver range."""

    range: Annotated[str, S("Semver range (Masterminds syntax).")]


class AlphabeticalPolicy(Model):
    """Select by lexical order of the tags."""

    order: Annotated[
        str | None,
        S("asc selects the last tag, desc the first.", default="asc", enum=("asc", "desc")),
    ] = None


class NumericalPolicy(Model):
    """Select by numerical order of the tags."""

    order: Annotated[
        str | None,
        S("asc selects the largest, desc the smallest.", default="asc", enum=("asc", "desc")),
    ] = None


class ImagePolicyChoice(Model):
    """Exactly one way of ordering tags."""

    semver: Annotated[SemVerPolicy | None, S("Semantic version selection.")] = None
    alphabetical: Annotated[AlphabeticalPolicy | None, S("Alphabetical selection.")] = None
    numerical: Annotated[NumericalPolicy | None, S("Numerical selection.")] = None


class TagFilter(Model):
    """Which tags are considered, and the part of them that is compared."""

    pattern: Annotated[str | None, S("Regular expression tags must match.")] = None
    extract: Annotated[
        str | None, S("Replacement template (e.g. '$ts') giving the compared value.")
    ] = None


class ImageRef(Model):
    """An image reference: name, tag and optional digest."""

    name: Annotated[str, S("Image name without tag.")]
    tag: Annotated[str, S("Image tag.")]
    digest: Annotated[str | None, S("Image digest.")] = None

    def __str__(self) -> str:
        # name:tag[@digest], the value a plain setter marker receives.
        ref = f"{self.name}:{self.tag}"
        return f"{ref}@{self.digest}" if self.digest else ref


class ImagePolicySpec(Model):
    """Desired state of an ImagePolicy."""

    schema_rules = (
        Rule(
            "!has(self.interval) || (has(self.digestReflectionPolicy) && "
            "self.digestReflectionPolicy == 'Always')",
            "spec.interval is only accepted when spec.digestReflectionPolicy is 'Always'",
        ),
        Rule(
            "has(self.interval) || !has(self.digestReflectionPolicy) || "
            "self.digestReflectionPolicy != 'Always'",
            "spec.interval must be set when spec.digestReflectionPolicy is 'Always'",
        ),
    )

    image_repository_ref: Annotated[
        NamespacedObjectReference, S("The ImageRepository whose tags are considered.")
    ]
    policy: Annotated[ImagePolicyChoice, S("How to select the latest tag.")]
    filter_tags: Annotated[TagFilter | None, S("Filter applied before selection.")] = None
    digest_reflection_policy: Annotated[
        str | None,
        S(
            "When to record the digest of the selected image in status.latestRef.",
            default=REFLECT_NEVER,
            enum=(REFLECT_ALWAYS, REFLECT_IF_NOT_PRESENT, REFLECT_NEVER),
        ),
    ] = None
    interval: Annotated[
        Duration | None, S("How often to refresh the digest with 'Always' (10m).")
    ] = None
    suspend: Annotated[bool | None, S("Suspend subsequent reconciliations.")] = None


class ImagePolicyStatus(ObjectStatus):
    """Observed state of an ImagePolicy."""

    latest_ref: Annotated[ImageRef | None, S("The selected image.")] = None
    observed_previous_ref: Annotated[ImageRef | None, S("The previously selected image.")] = None


class ImagePolicy(Resource):
    """ImagePolicy is the Schema for the imagepolicies API."""

    info = _info(
        "ImagePolicy",
        "imagepolicies",
        REFLECTOR,
        (
            PrinterColumn("Image", ".status.latestRef.name"),
            PrinterColumn("Tag", ".status.latestRef.tag"),
            READY_COLUMN,
            STATUS_COLUMN,
            AGE_COLUMN,
        ),
        "imgpol",
        "imagepol",
    )

    spec: ImagePolicySpec
    status: Annotated[ImagePolicyStatus, STATUS_WITH_GENERATION] = field(
        default_factory=ImagePolicyStatus
    )

    def digest_reflection_policy(self) -> str:
        return self.spec.digest_reflection_policy or REFLECT_NEVER

    @classmethod
    def version_schema(cls, version: str) -> dict[str, Any]:
        schema = cls.openapi_schema()
        if version == "v1beta2":
            status = schema["properties"]["status"]["properties"]
            status["latestImage"] = {
                "type": "string",
                "description": "The latest image, <image>:<tag> (deprecated: use latestRef).",
            }
            status["observedPreviousImage"] = {
                "type": "string",
                "description": "The previous latestImage (deprecated: use observedPreviousRef).",
            }
        return schema

    @classmethod
    def version_columns(cls, version: str) -> tuple[PrinterColumn, ...]:
        if version == "v1beta2":
            # What the v1beta2 CRD printed in the seed's Flux (2.0 to 2.5):
            # the seed's `NAME  LATESTIMAGE`.
            return (PrinterColumn("LatestImage", ".status.latestImage"),)
        return cls.info.printer_columns


def _ref_string(ref: Any) -> str | None:
    if not isinstance(ref, dict) or not ref.get("name"):
        return None
    text = f"{ref['name']}:{ref.get('tag') or ''}"
    return f"{text}@{ref['digest']}" if ref.get("digest") else text


def _ref_from_string(image: Any) -> dict[str, str] | None:
    """``name:tag[@digest]`` -> ``{name, tag[, digest]}``; None when it has no tag."""
    if not isinstance(image, str) or not image:
        return None
    name, _, digest = image.partition("@")
    slash, colon = name.rfind("/"), name.rfind(":")
    if colon <= slash:
        return None
    ref = {"name": name[:colon], "tag": name[colon + 1:]}
    if digest:
        ref["digest"] = digest
    return ref


def convert_image_policy(obj: dict[str, Any], to_version: str) -> dict[str, Any]:
    """An ImagePolicy as ``to_version`` (``v1`` or ``v1beta2``) serves it."""
    out = copy.deepcopy(obj)
    out["apiVersion"] = f"{GROUP}/{to_version}"
    status = out.get("status")
    if not isinstance(status, dict):
        return out
    if to_version == "v1beta2":
        for ref_key, image_key in (("latestRef", "latestImage"),
                                   ("observedPreviousRef", "observedPreviousImage")):
            image = _ref_string(status.get(ref_key))
            if image is not None:
                status[image_key] = image
        return out
    for ref_key, image_key in (("latestRef", "latestImage"),
                               ("observedPreviousRef", "observedPreviousImage")):
        image = status.pop(image_key, None)
        if ref_key not in status:
            ref = _ref_from_string(image)
            if ref is not None:
                status[ref_key] = ref
    return out


# --------------------------------------------------------------------------
# ImageUpdateAutomation


class AutomationSourceReference(Model):
    """The GitRepository to update."""

    api_version: Annotated[str | None, S("API version of the referent.", name="apiVersion")] = None
    # Required by the CRD but defaulted by it too, so optional in Python.
    kind: Annotated[
        str | None,
        S("Kind of the referent.", default="GitRepository", enum=("GitRepository",), required=True),
    ] = None
    name: Annotated[str, S("Name of the referent.")]
    namespace: Annotated[
        str | None, S("Namespace of the referent, defaults to the automation's.")
    ] = None


class GitCheckoutSpec(Model):
    """What to clone before making changes."""

    ref: Annotated[GitRepositoryRef, S("Branch, tag or commit to clone.")]


class CommitUser(Model):
    """Author of the commits."""

    name: Annotated[str | None, S("Author name.")] = None
    email: Annotated[str, S("Author email.")]


class SigningKey(Model):
    """Key used to sign commits."""

    secret_ref: Annotated[
        LocalObjectReference,
        S("Secret with 'git.asc' (+ 'passphrase') for gpg, or 'identity' (+ 'password') for ssh."),
    ]
    type: Annotated[str | None, S("Key format (gpg when unset).", enum=("gpg", "ssh"))] = None


class CommitSpec(Model):
    """How to commit changes."""

    author: Annotated[CommitUser, S("Commit author.")]
    signing_key: Annotated[SigningKey | None, S("Commit signing key.")] = None
    message_template: Annotated[str | None, S("Go template of the commit message.")] = None
    message_template_values: Annotated[
        dict[str, str] | None, S("Extra values available to the template as .Values.")
    ] = None


class PushSpec(Model):
    """Where to push commits."""

    branch: Annotated[
        str | None, S("Branch to push to, created from the checkout branch if missing.")
    ] = None
    refspec: Annotated[
        str | None, S("Refspec to push with (no force or delete).", pattern=r"^$|^[^+:]")
    ] = None
    options: Annotated[dict[str, str] | None, S("Git push options.")] = None


class GitSpec(Model):
    """Git settings of an automation."""

    checkout: Annotated[
        GitCheckoutSpec | None, S("What to clone (the GitRepository's ref when unset).")
    ] = None
    commit: Annotated[CommitSpec, S("How to commit.")]
    push: Annotated[PushSpec | None, S("Where to push (the checkout branch when unset).")] = None


class UpdateStrategy(Model):
    """How files are updated."""

    strategy: Annotated[
        str | None,
        S("Update strategy.", default=SETTERS_STRATEGY, enum=(SETTERS_STRATEGY,)),
    ] = None
    path: Annotated[
        str | None, S("Directory holding the manifests to update (the root when unset).")
    ] = None


class ImageUpdateAutomationSpec(Model):
    """Desired state of an ImageUpdateAutomation."""

    source_ref: Annotated[AutomationSourceReference, S("The Git repository to update.")]
    git: Annotated[GitSpec | None, S("Git checkout, commit and push settings.")] = None
    interval: Annotated[Duration, S("How often to run the automation.")]
    policy_selector: Annotated[
        LabelSelector | None, S("Selects the ImagePolicies considered (all in the namespace).")
    ] = None
    update: Annotated[
        UpdateStrategy | None,
        S("How to update files.", default={"strategy": SETTERS_STRATEGY}),
    ] = None
    suspend: Annotated[bool | None, S("Suspend subsequent runs.")] = None


class ImageUpdateAutomationStatus(ObjectStatus):
    """Observed state of an ImageUpdateAutomation."""

    last_automation_run_time: Annotated[
        Time | None, S("When the automation last ran to completion.")
    ] = None
    last_push_commit: Annotated[str | None, S("SHA of the last pushed commit.")] = None
    last_push_time: Annotated[Time | None, S("When a change was last pushed.")] = None
    observed_policies: Annotated[
        dict[str, ImageRef] | None, S("Policies considered by the last run, by name.")
    ] = None
    observed_source_revision: Annotated[str | None, S("Source revision seen by the last run.")] = (
        None
    )


class ImageUpdateAutomation(Resource):
    """ImageUpdateAutomation is the Schema for the imageupdateautomations API."""

    info = _info(
        "ImageUpdateAutomation",
        "imageupdateautomations",
        AUTOMATION,
        (
            READY_COLUMN,
            STATUS_COLUMN,
            PrinterColumn("Last run", ".status.lastAutomationRunTime", priority=1),
            AGE_COLUMN,
        ),
        "iua",
        "imgupd",
        "imgauto",
    )

    spec: ImageUpdateAutomationSpec
    status: Annotated[ImageUpdateAutomationStatus, STATUS_WITH_GENERATION] = field(
        default_factory=ImageUpdateAutomationStatus
    )

    @classmethod
    def version_columns(cls, version: str) -> tuple[PrinterColumn, ...]:
        if version == "v1beta2":
            # What the v1beta2 CRD printed in the seed's Flux (2.0 to 2.5).
            return (PrinterColumn("Last run", ".status.lastAutomationRunTime"),)
        return cls.info.printer_columns


KINDS: tuple[type[Resource], ...] = (ImageRepository, ImagePolicy, ImageUpdateAutomation)
