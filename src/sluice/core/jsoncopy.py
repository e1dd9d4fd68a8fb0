"""`json_copy`: a deep copy of a JSON tree, several times cheaper than `copy.deepcopy`.

The embedded API server copies every object it stores or serves (so callers
can never alias the stored mirror). Those objects are plain JSON trees (dicts,
lists, strings, numbers, booleans, None), so the memo and dispatch machinery of
`copy.deepcopy` is pure overhead: profiling 1,000 Kustomizations put about 14%
of the API server's CPU in it. Anything that is not plain JSON is handed to
`copy.deepcopy`, so the result is always a true deep copy.
"""

from __future__ import annotations

import copy
from typing import Any, TypeVar

__all__ = ["json_copy"]

T = TypeVar("T")

_SCALARS = frozenset((str, int, bool, float, type(None)))


def json_copy(obj: T) -> T:
    """A deep copy of ``obj``; dicts and lists are rebuilt, immutable scalars shared."""
    out: Any = _copy(obj)
    return out  # type: ignore[no-any-return]


def _copy(obj: Any) -> Any:
    t = type(obj)
    if t is dict:
        return {k: v if type(v) in _SCALARS else _copy(v) for k, v in obj.items()}
    if t is list:
        return [v if type(v) in _SCALARS else _copy(v) for v in obj]
    if t in _SCALARS:
        return obj
    return copy.deepcopy(obj)
