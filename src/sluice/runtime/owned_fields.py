"""What a field manager owns in an object, as one short digest: drift without keeping objects.

`sluice.runtime.livestate` records, for each object an applier wrote, only
this digest: the manager's ``Apply`` entry of ``managedFields`` (its
``fieldsV1`` tree) and the object's values at those paths, hashed to 16
bytes. A watch event whose digest is the same changed nothing the applier
owns (status, another manager's fields); a different one is drift. Kept apart
from the watches that use it, as the HelmRelease drift detection digests the
same way.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

__all__ = ["owned_digest"]

_DIGEST_BYTES = 16


def _project(value: Any, tree: Mapping[str, Any], out: list[Any]) -> None:
    """Append the values of ``value`` at the paths of fieldsV1 ``tree``, in tree order."""
    for elem in sorted(tree):
        sub = tree[elem]
        if elem == ".":
            continue
        child: Any = None
        if elem.startswith("f:"):
            child = value.get(elem[2:]) if isinstance(value, dict) else None
        elif elem.startswith("k:"):
            try:
                keys = json.loads(elem[2:])
            except ValueError:
                keys = None
            if isinstance(value, list) and isinstance(keys, dict):
                child = next((item for item in value if isinstance(item, dict) and all(
                    item.get(k) == v for k, v in keys.items())), None)
        elif elem.startswith("i:"):
            index = elem[2:]
            if isinstance(value, list) and index.isdigit() and int(index) < len(value):
                child = value[int(index)]
        elif elem.startswith("v:"):
            try:
                item = json.loads(elem[2:])
            except ValueError:
                item = None
            child = isinstance(value, list) and item in value
        out.append(elem)
        if isinstance(sub, dict) and sub and not (len(sub) == 1 and "." in sub):
            _project(child, sub, out)
        else:
            out.append(child)


def owned_digest(obj: Mapping[str, Any], field_manager: str | tuple[str, ...]) -> bytes:
    """A short digest of what ``field_manager`` owns in ``obj`` (fields and their values).

    Only the manager's ``Apply`` entry counts (server-side apply is how
    appliers write). Changes to other fields leave it unchanged; a change to
    an owned value, or a field whose ownership another manager took, changes it.
    Several managers (a tuple) count together: Helm's SDK names itself after
    the process, and the HelmRelease drift correction applies as ``helm``.
    """
    managers = (field_manager,) if isinstance(field_manager, str) else field_manager
    meta = obj.get("metadata") or {}
    parts: list[Any] = []
    for entry in meta.get("managedFields") or []:
        if (isinstance(entry, dict) and entry.get("manager") in managers
                and entry.get("operation") == "Apply" and not entry.get("subresource")):
            fields = entry.get("fieldsV1") or {}
            out: list[Any] = []
            if isinstance(fields, dict):
                _project(obj, fields, out)
            parts.append([str(entry.get("manager")), fields, out])
    parts.sort(key=lambda part: str(part[0]))
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.blake2b(text.encode(), digest_size=_DIGEST_BYTES).digest()
