"""The OpenAPI v2 document in the protobuf form kubectl insists on.

client-go fetches ``/openapi/v2`` only with ``Accept:
application/com.github.proto-openapi.spec.v2@v1.0+protobuf`` and decodes the
answer as a gnostic ``openapi.v2.Document`` message; a JSON answer is a
decoding error. kubectl needs that document when it validates on the client:
a ``kind: List`` file (what ``kubectl get -o yaml`` prints) is always validated
client-side against it, so without it ``kubectl apply -f list.yaml`` fails.

This module writes that message by hand from the JSON document of
:func:`sluice.apiserver.schemas.openapi.v2_document`. Only the wire format is needed
(varints and length-delimited fields), and only the fields the Swagger 2.0
subset Kubernetes publishes uses. Field numbers follow gnostic's
``OpenAPIv2.proto``. Vendor extensions and free-form values (``default``,
``enum``, ``example``) travel as YAML text, here JSON, which YAML reads.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterable
from typing import Any

# Kubernetes answers with the ".v1.0" spelling: Go's media-type parser refuses the
# "@v1.0" one that clients still put in Accept.
CONTENT_TYPE = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"


def wants_protobuf(accept: str) -> bool:
    """Whether an ``Accept`` header asks ``/openapi/v2`` for the protobuf form first."""
    for media_range in accept.split(","):
        mime = media_range.split(";")[0].strip()
        if mime.startswith("application/com.github.proto-openapi.spec.v2"):
            return True
        if mime in ("application/json", "*/*", "application/*"):
            return False
    return False


# ---------------------------------------------------------------------------
# Wire format.


def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1  # negative int64 values take ten bytes, as two's complement
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _key(field: int, wire: int) -> bytes:
    return _varint(field << 3 | wire)


def _bytes(field: int, data: bytes) -> bytes:
    return _key(field, 2) + _varint(len(data)) + data


def _str(field: int, value: str) -> bytes:
    return _bytes(field, value.encode()) if value else b""


def _strs(field: int, values: Iterable[str]) -> bytes:
    return b"".join(_bytes(field, v.encode()) for v in values)


def _bool(field: int, value: bool, always: bool = False) -> bytes:
    return _key(field, 0) + _varint(int(value)) if value or always else b""


def _int(field: int, value: int) -> bytes:
    return _key(field, 0) + _varint(value) if value else b""


def _double(field: int, value: float) -> bytes:
    return _key(field, 1) + struct.pack("<d", value) if value else b""


def _msg(field: int, data: bytes) -> bytes:
    return _bytes(field, data)


# ---------------------------------------------------------------------------
# Messages.


def _any(value: Any) -> bytes:
    """``openapi.v2.Any``: the value as YAML text (field 2)."""
    return _str(2, json.dumps(value))


def _named_any(name: str, value: Any) -> bytes:
    return _str(1, name) + _msg(2, _any(value))


def _extensions(field: int, obj: dict[str, Any]) -> bytes:
    return b"".join(_msg(field, _named_any(k, v)) for k, v in obj.items() if k.startswith("x-"))


_SCHEMA_STRINGS = {"$ref": 1, "format": 2, "title": 3, "description": 4, "pattern": 13,
                   "discriminator": 26}
_SCHEMA_DOUBLES = {"multipleOf": 6, "maximum": 7, "minimum": 9}
_SCHEMA_BOOLS = {"exclusiveMaximum": 8, "exclusiveMinimum": 10, "uniqueItems": 16,
                 "readOnly": 27}
_SCHEMA_INTS = {"maxLength": 11, "minLength": 12, "maxItems": 14, "minItems": 15,
                "maxProperties": 17, "minProperties": 18}


def schema(s: dict[str, Any]) -> bytes:
    """``openapi.v2.Schema``."""
    out = bytearray()
    for key, value in s.items():
        if key in _SCHEMA_STRINGS and isinstance(value, str):
            out += _str(_SCHEMA_STRINGS[key], value)
        elif key in _SCHEMA_DOUBLES and isinstance(value, int | float):
            out += _double(_SCHEMA_DOUBLES[key], float(value))
        elif key in _SCHEMA_BOOLS and isinstance(value, bool):
            out += _bool(_SCHEMA_BOOLS[key], value)
        elif key in _SCHEMA_INTS and isinstance(value, int):
            out += _int(_SCHEMA_INTS[key], value)
        elif key == "default":
            out += _msg(5, _any(value))
        elif key == "required" and isinstance(value, list):
            out += _strs(19, value)
        elif key == "enum" and isinstance(value, list):
            out += b"".join(_msg(20, _any(v)) for v in value)
        elif key == "additionalProperties":
            # AdditionalPropertiesItem: a schema (1) or a boolean (2, sent even when false).
            item = _msg(1, schema(value)) if isinstance(value, dict) else _bool(2, bool(value),
                                                                                 always=True)
            out += _msg(21, item)
        elif key == "type":
            out += _msg(22, _strs(1, value if isinstance(value, list) else [value]))
        elif key == "items":
            items = value if isinstance(value, list) else [value]
            out += _msg(23, b"".join(_msg(1, schema(i)) for i in items))
        elif key == "allOf" and isinstance(value, list):
            out += b"".join(_msg(24, schema(v)) for v in value)
        elif key == "properties" and isinstance(value, dict):
            named = b"".join(_msg(1, _str(1, k) + _msg(2, schema(v))) for k, v in value.items())
            out += _msg(25, named)
        elif key == "example":
            out += _msg(30, _any(value))
    out += _extensions(31, s)
    return bytes(out)


def _parameter(p: dict[str, Any]) -> bytes:
    """``openapi.v2.ParametersItem`` holding a body, query or path parameter."""
    where = p.get("in", "")
    if where == "body":
        body = (_str(1, p.get("description", "")) + _str(2, p.get("name", "")) + _str(3, where)
                + _bool(4, bool(p.get("required"))) + _msg(5, schema(p.get("schema", {}))))
        parameter = _msg(1, body)
    else:
        common = (_bool(1, bool(p.get("required"))) + _str(2, where)
                  + _str(3, p.get("description", "")) + _str(4, p.get("name", "")))
        if where == "path":
            sub = common + _str(5, p.get("type", "")) + _bool(19, bool(p.get("uniqueItems")))
            non_body = _msg(4, sub)
        else:
            sub = common + _str(6, p.get("type", "")) + _bool(20, bool(p.get("uniqueItems")))
            non_body = _msg(3, sub)
        parameter = _msg(2, non_body)
    return _msg(1, parameter)


def _responses(responses: dict[str, Any]) -> bytes:
    out = bytearray()
    for code, r in responses.items():
        response = _str(1, r.get("description", ""))
        if "schema" in r:
            response += _msg(2, _msg(1, schema(r["schema"])))
        out += _msg(1, _str(1, code) + _msg(2, _msg(1, response)))
    return bytes(out)


def _operation(op: dict[str, Any]) -> bytes:
    return (_strs(1, op.get("tags", [])) + _str(3, op.get("description", ""))
            + _str(5, op.get("operationId", "")) + _strs(6, op.get("produces", []))
            + _strs(7, op.get("consumes", []))
            + b"".join(_msg(8, _parameter(p)) for p in op.get("parameters", []))
            + _msg(9, _responses(op.get("responses", {})))
            + _strs(10, op.get("schemes", [])) + _extensions(13, op))


_METHODS = {"get": 2, "put": 3, "post": 4, "delete": 5, "options": 6, "head": 7, "patch": 8}


def _path_item(item: dict[str, Any]) -> bytes:
    out = bytearray()
    for method, field in _METHODS.items():
        if method in item:
            out += _msg(field, _operation(item[method]))
    out += b"".join(_msg(9, _parameter(p)) for p in item.get("parameters", []))
    return bytes(out)


def _security(doc: dict[str, Any]) -> bytes:
    out = bytearray()
    for requirement in doc.get("security", []):
        named = b"".join(_msg(1, _str(1, k) + _msg(2, _strs(1, v)))
                         for k, v in requirement.items())
        out += _msg(12, named)
    items = bytearray()
    for name, d in doc.get("securityDefinitions", {}).items():
        api_key = (_str(1, d.get("type", "")) + _str(2, d.get("name", ""))
                   + _str(3, d.get("in", "")) + _str(4, d.get("description", "")))
        items += _msg(1, _str(1, name) + _msg(2, _msg(2, api_key)))
    if items:
        out += _msg(13, bytes(items))
    return bytes(out)


def encode_document(doc: dict[str, Any]) -> bytes:
    """A Swagger 2.0 document (as JSON data) in gnostic's ``openapi.v2.Document`` form."""
    info = doc.get("info", {})
    paths = b"".join(_msg(2, _str(1, p) + _msg(2, _path_item(item)))
                     for p, item in doc.get("paths", {}).items())
    definitions = b"".join(_msg(1, _str(1, name) + _msg(2, schema(s)))
                           for name, s in doc.get("definitions", {}).items())
    return (_str(1, doc.get("swagger", "2.0"))
            + _msg(2, _str(1, info.get("title", "")) + _str(2, info.get("version", "")))
            + _msg(8, paths) + _msg(9, definitions) + _security(doc))
