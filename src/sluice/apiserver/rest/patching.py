"""JSON merge patch (RFC 7386) and JSON patch (RFC 6902) as the API server applies them.

Strategic merge patch has its own module (:mod:`strategic`) because it needs
the kind's schema; these two only need the object, and their failures must be
Status errors: 400 for a malformed patch, 422 for one that does not apply.
"""

from __future__ import annotations

from typing import Any

from sluice.apiserver.errors import ApiError, BadRequest
from sluice.core.jsoncopy import json_copy

Obj = dict[str, Any]


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch: a new value, ``target`` left as it is.

    The result shares what the patch does not touch with ``target`` (a status
    patch copies the status, not the whole object) and copies what comes from
    ``patch``; change it only after a copy.
    """
    if not isinstance(patch, dict):
        return json_copy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v)
    return out


def json_patch(target: Obj, ops: Any) -> Obj:
    """RFC 6902 JSON patch; failures are Status errors (400 malformed, 422 not applicable)."""
    import jsonpatch  # imported lazily: only JSON patches need it

    if not isinstance(ops, list):
        raise BadRequest("json: cannot unmarshal object into Go value of type jsonpatch.Patch")
    try:
        result: Obj = jsonpatch.JsonPatch(ops).apply(target)
    except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as exc:
        raise ApiError(422, "Invalid", f"the server rejected our request due to an error in our "
                       f"request: {exc}") from None
    except (TypeError, KeyError, ValueError) as exc:
        raise BadRequest(f"invalid JSON patch: {exc}") from None
    return result
