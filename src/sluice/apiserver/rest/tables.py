"""``meta.k8s.io/v1`` Table responses: the columns ``kubectl get`` prints.

kubectl does not format resources itself; it asks the server with
``Accept: application/json;as=Table;v=v1;g=meta.k8s.io`` and prints the
column definitions and cells it gets back (hiding columns of priority 1
unless ``-o wide``). So the embedded cluster must compute those cells the
way kube-apiserver does:

- for custom resources, a ``Name`` column, then the CRD version's
  ``additionalPrinterColumns``, each cell found with its JSONPath
  (:mod:`sluice.apiserver.schemas.jsonpath`) and typed by the column's type; a
  ``date`` cell is already turned into an age such as ``3m10s``;
- for the built-in kinds kubectl users know (Pods, Deployments, Services,
  Events, ...), the same columns and cell rules as Kubernetes' own printers
  (``READY 1/1``, ``PORT(S) 80:30080/TCP``, ``STATUS Terminating``);
- for anything else, ``NAME`` and ``AGE``.

Each row carries the object as the request's ``includeObject`` asks:
nothing, its metadata as a ``PartialObjectMetadata`` (the default), or the
whole object.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sluice.apiserver.errors import BadRequest
from sluice.apiserver.rest.table_cells import Column, human_duration, parse_timestamp
from sluice.apiserver.rest.table_printers import BUILTIN_PRINTERS, DEFAULT_PRINTER
from sluice.apiserver.schemas.jsonpath import parse as parse_jsonpath
from sluice.apiserver.schemas.jsonpath import to_text

__all__ = ["human_duration", "parse_timestamp", "table_for"]

Obj = dict[str, Any]

_INCLUDE = ("None", "Metadata", "Object")
_NAME_DESCRIPTION = "Name of the object, unique within its namespace (or in the cluster)."


def table_for(kind: str, group: str, items: list[dict[str, Any]],
              printer_columns: list[dict[str, Any]] | None, include_object: str,
              now: datetime, resource_version: str = "", continue_token: str = "") -> dict[str, Any]:
    """The Table kube-apiserver would answer for ``items`` of ``kind`` in ``group``.

    ``printer_columns`` are a CRD version's ``additionalPrinterColumns``
    (an empty list gives the ``Age`` column Kubernetes adds to CRDs that
    declare none); None selects the built-in columns for ``kind``.
    ``include_object`` is the request's ``includeObject`` parameter.
    """
    include = include_object or "Metadata"
    if include not in _INCLUDE:
        raise BadRequest(f'includeObject: Unsupported value: "{include_object}": '
                         'supported values: "None", "Metadata", "Object"')
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)

    if printer_columns is not None:
        columns, cells = _custom_resource_columns(printer_columns, now)
    else:
        printer = BUILTIN_PRINTERS.get((group, kind), DEFAULT_PRINTER)
        columns = printer.columns
        cells = printer.bind(now)

    rows: list[Obj] = []
    for obj in items:
        row: Obj = {"cells": cells(obj)}
        if include == "Metadata":
            row["object"] = {
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": copy.deepcopy(obj.get("metadata") or {}),
            }
        elif include == "Object":
            row["object"] = obj
        rows.append(row)

    meta: Obj = {}
    if resource_version:
        meta["resourceVersion"] = resource_version
    if continue_token:
        meta["continue"] = continue_token
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": meta,
        "columnDefinitions": [c.definition() for c in columns],
        "rows": rows,
    }


# ------------------------------------------------------------------ custom resources


@dataclass(frozen=True)
class _PrinterColumn:
    column: Column
    json_path: str


def _custom_resource_columns(printer_columns: list[Obj], now: datetime
                             ) -> tuple[list[Column], Callable[[Obj], list[Any]]]:
    specs = list(printer_columns) or [{
        "name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp",
        "description": "Time since the object was created."}]
    extra = [
        _PrinterColumn(
            Column(str(c.get("name", "")), str(c.get("type", "string")), str(c.get("format", "")),
                   str(c.get("description", "")), int(c.get("priority", 0) or 0)),
            str(c.get("jsonPath", "")))
        for c in specs
    ]
    columns = [Column("Name", "string", "name", _NAME_DESCRIPTION, 0), *(p.column for p in extra)]

    def cells(obj: Obj) -> list[Any]:
        row: list[Any] = [(obj.get("metadata") or {}).get("name", "")]
        row.extend(_custom_cell(p, obj, now) for p in extra)
        return row

    return columns, cells


def _custom_cell(printer: _PrinterColumn, obj: Obj, now: datetime) -> Any:
    try:
        results = parse_jsonpath(printer.json_path).evaluate(obj)
    except ValueError:
        return None
    if not results:
        return None
    # Only simple paths are allowed, so the first result is the value.
    value = results[0]
    if value is None:
        return None
    kind = printer.column.type
    if kind == "string":
        return to_text(value)
    if kind == "integer":
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        return int(value)
    if kind == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        return float(value)
    if kind == "boolean":
        return value if isinstance(value, bool) else None
    if kind == "date":
        if not isinstance(value, str):
            return None
        if value in ("", "null"):
            return "<unknown>"
        stamp = parse_timestamp(value)
        if stamp is None:
            return "<invalid>"
        return human_duration((now - stamp).total_seconds())
    return None
