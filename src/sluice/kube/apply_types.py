"""What a staged apply takes and gives back: options, per-object dry-run plans, errors.

`sluice.kube.apply.ResourceManager` is split by concern (requests, dry runs,
field-ownership take-over, writes and stages); these are the values that pass
between those parts and out to callers: `ApplyOptions` (Flux's apply flags),
`DryRun` (what applying one object would do), `ApplyError` (what failed,
with the changes made before the failure) and `is_immutable_error` (the
trigger of force-recreate).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sluice.kube.errors import ApiStatusError, KubeError
from sluice.kube.inventory import Action, ChangeSet, Owner
from sluice.kube.mapping import ResourceMapping
from sluice.kube.ordering import ObjectRef

Obj = dict[str, Any]

# A 422 with one of these is a change to a field the API server will never
# accept on an existing object; force recreates it.
_IMMUTABLE_MARKERS = ("field is immutable", "immutable field", "is immutable",
                      "may not change once set", "Forbidden: updates to")


class ApplyError(KubeError):
    """Applying failed; ``change_set`` holds what was done before the failure."""

    def __init__(self, errors: Sequence[str], change_set: ChangeSet | None = None) -> None:
        super().__init__("\n".join(errors))
        self.errors = list(errors)
        self.change_set = change_set or ChangeSet()


@dataclass
class ApplyOptions:
    # spec.force: recreate any object whose change hits an immutable field.
    force: bool = False
    # How long stages 1 and 2 may take to become ready before apply fails.
    wait_timeout: float = 60.0
    # Flux polls staged objects every 2 s; the first check is immediate.
    wait_poll: float = 2.0
    # Transfer kubectl's field ownership and drop its annotation (Flux's default).
    cleanup: bool = True
    # More managers whose fields are taken over (``--override-manager``).
    override_managers: tuple[str, ...] = ()


def is_immutable_error(exc: BaseException) -> bool:
    """A 422 rejecting a change to an immutable field (the trigger of force-recreate)."""
    if not isinstance(exc, ApiStatusError) or exc.code != 422:
        return False
    text = exc.message.lower()
    return any(marker.lower() in text for marker in _IMMUTABLE_MARKERS)


def failure_reason(exc: BaseException) -> str:
    """The server's reason (``Invalid``, ``Conflict``) or the exception's type."""
    if isinstance(exc, ApiStatusError):
        return exc.reason or str(exc.code)
    return type(exc).__name__


def failure_message(exc: BaseException) -> str:
    """The server's message, or the exception's text."""
    if isinstance(exc, KubeError):
        return exc.message
    return str(exc) or type(exc).__name__


@dataclass
class DryRun:
    """What applying one object would do, found by a server-side dry run."""

    ref: ObjectRef
    desired: Obj  # the manifest as it will be applied (owner labels set)
    mapping: ResourceMapping
    existing: Obj | None
    merged: Obj | None  # the dry-run result; None when skipped or recreated
    action: Action
    # The body that takes kubectl's field ownership over, if the object needs it.
    cleanup: Obj | None = None
    # The change hits an immutable field and force is on: delete, then create.
    recreate: bool = False
    # Why the dry run failed: the message for users, and the server's error.
    error: str | None = None
    failure: BaseException | None = field(default=None, repr=False)


# Does this other applier still claim this object (e.g. list it in its inventory)?
ClaimCheck = Callable[[Owner, ObjectRef], Awaitable[bool]]

