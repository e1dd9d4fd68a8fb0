"""A Receiver's CEL filters: ``spec.resourceFilter`` and ``spec.resources[].filter``.

Flux (notification-controller ``receiver_resource_filter.go``) lets a
Receiver narrow which resources a webhook call reconciles:

* both expressions see ``res`` (the resource's ``apiVersion``, ``kind`` and
  ``metadata``, as a PartialObjectMetadata) and ``req`` (the webhook body
  decoded as JSON when the request's Content-Type is ``application/json``,
  else ``{}``); ``generic-oidc`` receivers add ``claims``;
* they stack: a resource is annotated only when the top-level filter AND its
  own filter return true;
* the Receiver reconciler compiles them first (`validate_filters`): an
  invalid one is terminal, ``Ready=False``/``Stalled=True``
  ``InvalidCELExpression`` with ``Reconciliation failed terminally due to
  configuration error: invalid resourceFilter expression: ...`` (or
  ``invalid filter expression for resources[i] (kind="K", name="N"): ...``),
  so the webhook path answers 503 (not Ready) instead of a 500;
* at call time (`build_filters`) a body that is not JSON, or an evaluation
  error (``no such key``) or a non-boolean result, fails the resource as
  Flux does (the call answers 500 and the log names the Receiver and the
  expression's error, never the body).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sluice.core.cel import CELError, Expression, compile_expression

__all__ = ["CELError", "ResourceFilter", "build_filters", "is_json", "validate_filters"]

ResourceFilter = Callable[[Mapping[str, Any]], bool]
TERMINAL_PREFIX = "Reconciliation failed terminally due to configuration error"


def _variables(receiver_type: str) -> tuple[str, ...]:
    return ("res", "req", "claims") if receiver_type == "generic-oidc" else ("res", "req")


def _compile(text: str, receiver_type: str) -> Expression:
    return compile_expression(text, _variables(receiver_type), output="bool")


def validate_filters(spec: Mapping[str, Any]) -> str | None:
    """The terminal error message for an invalid filter, or None when all compile."""
    rtype = str(spec.get("type") or "")
    top = spec.get("resourceFilter")
    if top:
        try:
            _compile(str(top), rtype)
        except CELError as exc:
            return f"{TERMINAL_PREFIX}: invalid resourceFilter expression: {exc}"
    for i, resource in enumerate(spec.get("resources") or []):
        text = resource.get("filter")
        if not text:
            continue
        try:
            _compile(str(text), rtype)
        except CELError as exc:
            return (f"{TERMINAL_PREFIX}: invalid filter expression for resources[{i}] "
                    f"(kind={json.dumps(str(resource.get('kind') or ''))}, "
                    f"name={json.dumps(str(resource.get('name') or ''))}): {exc}")
    return None


def is_json(content_type: str) -> bool:
    """Go's loop over the comma-separated Content-Type values (stops at the first bad one)."""
    for value in content_type.split(","):
        media = value.split(";", 1)[0].strip().lower()
        if not media or "/" not in media:
            return False
        if media == "application/json":
            return True
    return False


def build_filters(spec: Mapping[str, Any], body: bytes, content_type: str,
                  claims: Mapping[str, Any] | None = None) -> list[ResourceFilter | None]:
    """One filter per ``spec.resources`` entry (None: accept all); raise `CELError`.

    The body is decoded once and shared by every expression.
    """
    resources: Sequence[Mapping[str, Any]] = spec.get("resources") or []
    top_text = spec.get("resourceFilter")
    if not top_text and not any(r.get("filter") for r in resources):
        return [None] * len(resources)
    req: Any = {}
    if is_json(content_type):
        try:
            req = json.loads(body or b"null")
        except ValueError as exc:
            raise CELError(f"failed to parse request body as JSON: {exc}") from None
    rtype = str(spec.get("type") or "")
    values: dict[str, Any] = {"req": req}
    if claims is not None:
        values["claims"] = dict(claims)
    top = _compile(str(top_text), rtype) if top_text else None
    filters: list[ResourceFilter | None] = []
    for resource in resources:
        own_text = resource.get("filter")
        own = _compile(str(own_text), rtype) if own_text else None
        active = [e for e in (top, own) if e is not None]
        filters.append(_stack(active, values) if active else None)
    return filters


def _stack(expressions: list[Expression], values: Mapping[str, Any]) -> ResourceFilter:
    def accept(res: Mapping[str, Any]) -> bool:
        scope = {**values, "res": dict(res)}
        return all(e.evaluate_bool(scope) for e in expressions)
    return accept
