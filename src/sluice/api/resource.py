"""The top-level shape every Flux object shares, and the facts its CRD needs.

`Resource` adds ``apiVersion``, ``kind`` and ``metadata`` to a `Model`; each
kind subclasses it with its ``spec`` and ``status`` and a `KindInfo` naming
its group, versions, plural, short names, categories and printer columns.
`sluice.api.crds` turns those into CustomResourceDefinitions and
`sluice.api.kinds` indexes them by apiVersion/kind.

``metadata`` is typed (`ObjectMeta`) for convenience, but its CRD schema is
just ``{type: object}``: the API server owns ObjectMeta validation, exactly as
for Flux's CRDs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any, ClassVar

from sluice.api.schema import Model, S

__all__ = [
    "AGE_COLUMN",
    "READY_COLUMN",
    "STATUS_COLUMN",
    "KindInfo",
    "ObjectMeta",
    "OwnerReference",
    "PrinterColumn",
    "Resource",
]


class OwnerReference(Model):
    """Reference to an object that owns this one (garbage collection)."""

    api_version: str
    kind: str
    name: str
    uid: str
    controller: bool | None = None
    block_owner_deletion: bool | None = None


class ObjectMeta(Model):
    """Standard Kubernetes object metadata (the fields controllers use)."""

    name: str | None = None
    generate_name: str | None = None
    namespace: str | None = None
    uid: str | None = None
    resource_version: str | None = None
    generation: int | None = None
    creation_timestamp: str | None = None
    deletion_timestamp: str | None = None
    deletion_grace_period_seconds: int | None = None
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None
    finalizers: list[str] | None = None
    owner_references: list[OwnerReference] | None = None
    managed_fields: list[Any] | None = None


@dataclass(frozen=True)
class PrinterColumn:
    """One ``additionalPrinterColumns`` entry (what ``kubectl get`` shows)."""

    name: str
    json_path: str
    type: str = "string"
    priority: int = 0
    description: str = ""
    format: str = ""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"jsonPath": self.json_path, "name": self.name, "type": self.type}
        if self.priority:
            out["priority"] = self.priority
        if self.description:
            out["description"] = self.description
        if self.format:
            out["format"] = self.format
        return out


READY_COLUMN = PrinterColumn("Ready", '.status.conditions[?(@.type=="Ready")].status')
STATUS_COLUMN = PrinterColumn("Status", '.status.conditions[?(@.type=="Ready")].message')
AGE_COLUMN = PrinterColumn("Age", ".metadata.creationTimestamp", type="date")


@dataclass(frozen=True)
class KindInfo:
    """What the CRD of a kind declares besides its schema."""

    group: str
    kind: str
    plural: str
    # Served versions; the first is the storage version unless `storage` says otherwise.
    versions: tuple[str, ...]
    # The controller shipping the CRD (label ``app.kubernetes.io/component``).
    component: str
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    printer_columns: tuple[PrinterColumn, ...] = ()
    storage: str = ""
    # Whether the kind has a status subresource (Flux's v1beta3 Alert and
    # Provider are static objects without one).
    has_status: bool = True
    # version -> deprecation warning returned by the API server on use.
    deprecated: tuple[tuple[str, str], ...] = ()
    scope: str = "Namespaced"

    @property
    def storage_version(self) -> str:
        return self.storage or self.versions[0]

    @property
    def api_version(self) -> str:
        """``group/version`` of the storage version."""
        return f"{self.group}/{self.storage_version}"

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"

    @property
    def crd_name(self) -> str:
        return f"{self.plural}.{self.group}"

    def api_versions(self) -> tuple[str, ...]:
        return tuple(f"{self.group}/{v}" for v in self.versions)


class Resource(Model):
    """Base of the top-level kinds. Subclasses set ``info`` and add spec/status.

    ``apiVersion`` and ``kind`` default to the kind's storage version, so
    ``GitRepository(metadata=ObjectMeta(name="x"), spec=...)`` is complete.
    """

    info: ClassVar[KindInfo]

    api_version: Annotated[
        str,
        S(
            "APIVersion defines the versioned schema of this representation of an object.",
            name="apiVersion",
        ),
    ] = ""
    kind: Annotated[
        str, S("Kind is a string value representing the REST resource this object represents.")
    ] = ""
    metadata: Annotated[ObjectMeta, S(schema={"type": "object"})] = field(
        default_factory=ObjectMeta
    )

    def __post_init__(self) -> None:
        info = getattr(type(self), "info", None)
        if isinstance(info, KindInfo):
            if not self.api_version:
                self.api_version = info.api_version
            if not self.kind:
                self.kind = info.kind

    @property
    def name(self) -> str:
        return self.metadata.name or ""

    @property
    def namespace(self) -> str:
        return self.metadata.namespace or ""

    @property
    def annotations(self) -> dict[str, str]:
        """The annotations map, created on first use so callers can assign into it."""
        if self.metadata.annotations is None:
            self.metadata.annotations = {}
        return self.metadata.annotations

    @property
    def labels(self) -> dict[str, str]:
        """The labels map, created on first use so callers can assign into it."""
        if self.metadata.labels is None:
            self.metadata.labels = {}
        return self.metadata.labels

    @classmethod
    def version_schema(cls, version: str) -> dict[str, Any]:
        """The schema served at ``version``; kinds whose versions differ override this."""
        return cls.openapi_schema()

    @classmethod
    def version_columns(cls, version: str) -> tuple[PrinterColumn, ...]:
        """The printer columns of ``version``; kinds whose versions differ override this."""
        return cls.info.printer_columns

    @classmethod
    def openapi_schema(cls) -> dict[str, Any]:
        schema = super().openapi_schema()
        # Flux's top-level schemas never list spec/status as required
        # (they are ``omitempty`` in Go): an object without spec is accepted.
        schema.pop("required", None)
        return schema
