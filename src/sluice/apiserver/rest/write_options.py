"""What a write is asked to do: its options and the patch media types, shared by the verbs.

The HTTP handlers build these from query parameters; the in-process callers
(garbage collector, namespace lifecycle, workload simulator, bootstrap) build
them directly. They live apart from :mod:`registry` so that the stored-object
layer (:mod:`stored`) and the verbs can both use them.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "APPLY_PATCH",
    "APPLY_PATCH_CBOR",
    "JSON_PATCH",
    "MERGE_PATCH",
    "STRATEGIC_PATCH",
    "DeleteOptions",
    "WriteOptions",
]

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"
APPLY_PATCH_CBOR = "application/apply-patch+cbor"


@dataclass
class WriteOptions:
    """Query parameters shared by writes."""

    dry_run: bool = False
    manager: str = ""
    force: bool = False
    # Strict | Warn | Ignore: what to do with unknown or duplicate fields.
    field_validation: str = "Warn"
    # The caller only reads (encodes) the result: it may share the stored object's
    # values instead of being a deep copy (the HTTP handlers; see Cluster.served_view).
    shared_result: bool = False


@dataclass
class DeleteOptions:
    propagation: str = ""  # Orphan | Background | Foreground; "" = the kind's default
    precondition_uid: str = ""
    precondition_rv: str = ""
    dry_run: bool = False
    grace_period: int | None = None
