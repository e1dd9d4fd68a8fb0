"""Kubernetes protobuf request bodies, read into the JSON-shaped objects the registry stores.

kubectl's typed clients (``kubectl create configmap``, ``create deployment``,
``create secret``, ``create role`` and the other generators) POST built-in kinds
as ``application/vnd.kubernetes.protobuf``, whatever the server prefers to
answer with. Such a body is the four bytes ``k8s\\x00`` then a
``runtime.Unknown`` message: its type meta (apiVersion and kind), the kind's
own message as bytes, and a content encoding and type that are empty in
practice.

:func:`decode` turns such a body into the dict that ``json.loads`` would give
for the same object sent as JSON, so the rest of the server never sees the
difference: field numbers, JSON names, Go pointers and omitempty come from the
table in :mod:`sluice.apiserver.rest.protobuf_messages`, and non-pointer structs are
always written, as Go's encoder does (``resources: {}``, ``creationTimestamp:
null``). Any kind the table lacks, or a field number it does not know, is
refused with 415 naming the kind and field rather than dropped, so a gap shows
at once and the client can resend JSON. Malformed bytes are a 400. Responses
stay JSON: kubectl accepts either.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from sluice.apiserver.errors import ApiError, BadRequest, UnsupportedMediaType
from sluice.apiserver.rest.protobuf_messages import (
    KINDS,
    MESSAGES,
    OPTIONS_KINDS,
    SCALARS,
    SPECIALS,
    VARINT_SCALARS,
    Field,
)

PROTOBUF = "application/vnd.kubernetes.protobuf"
MAGIC = b"k8s\x00"

# ---------------------------------------------------------------------------
# Wire format: varints and length-delimited fields, as protobuf writes them.

_VARINT, _FIXED64, _LEN, _FIXED32 = 0, 1, 2, 5


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data):
            raise BadRequest("malformed protobuf body: truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result & 0xFFFFFFFFFFFFFFFF, pos
        shift += 7
        if shift >= 70:
            raise BadRequest("malformed protobuf body: varint longer than ten bytes")


def _wire_fields(data: bytes) -> Iterator[tuple[int, int, int | bytes]]:
    """Yield (field number, wire type, value) for each field of one encoded message."""
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise BadRequest("malformed protobuf body: field number 0")
        value: int | bytes
        if wire == _VARINT:
            value, pos = _varint(data, pos)
        elif wire == _LEN:
            size, pos = _varint(data, pos)
            if pos + size > len(data):
                raise BadRequest("malformed protobuf body: length runs past the end")
            value, pos = data[pos:pos + size], pos + size
        elif wire in (_FIXED64, _FIXED32):
            width = 8 if wire == _FIXED64 else 4
            if pos + width > len(data):
                raise BadRequest("malformed protobuf body: truncated fixed-width field")
            value, pos = int.from_bytes(data[pos:pos + width], "little"), pos + width
        else:  # groups (3, 4) are not used by Kubernetes; 6 and 7 do not exist
            raise BadRequest(f"malformed protobuf body: wire type {wire} in field {number}")
        yield number, wire, value


def _signed(value: int, bits: int) -> int:
    # Go truncates a decoded varint to the field's width and reads it as two's complement.
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


# ---------------------------------------------------------------------------
# Messages to JSON.


class _Decoder:
    def __init__(self, kind: str) -> None:
        self.kind = kind  # "apps/v1 Deployment", named in every error

    def unsupported(self, message: str, number: int, path: str) -> ApiError:
        where = f" at {path}" if path else ""
        return UnsupportedMediaType(
            f"cannot decode the protobuf body of {self.kind}: field {number} of {message}{where} "
            f"is not supported by this server; send the object as application/json")

    def message(self, data: bytes, message: str, path: str) -> dict[str, Any]:
        fields = MESSAGES[message]
        found: dict[int, list[int | bytes]] = {}
        for number, wire, value in _wire_fields(data):
            f = fields.get(number)
            if f is None:
                raise self.unsupported(message, number, path)
            values = found.setdefault(number, [])
            if f.type in VARINT_SCALARS and not f.map:
                if wire == _LEN and f.repeated:  # packed repeated numbers
                    assert isinstance(value, bytes)
                    pos = 0
                    while pos < len(value):
                        item, pos = _varint(value, pos)
                        values.append(item)
                    continue
                if wire != _VARINT:
                    raise self.malformed(message, f, path)
            elif wire != _LEN:
                raise self.malformed(message, f, path)
            values.append(value)
        out: dict[str, Any] = {}
        for f in fields.values():
            self.field(out, f, found.get(f.number), f"{path}.{f.name}" if path else f.name)
        return out

    def malformed(self, message: str, f: Field, path: str) -> ApiError:
        where = f" at {path}" if path else ""
        return BadRequest(f"malformed protobuf body of {self.kind}: field {f.number} "
                          f"({f.name}) of {message}{where} has the wrong wire type")

    def field(self, out: dict[str, Any], f: Field, values: list[int | bytes] | None,
              path: str) -> None:
        if f.repeated or f.map:
            if not values:
                if f.keep:
                    out[f.name] = None  # Go's nil slice or map, shown as null
                return
            if f.map:
                out[f.name] = dict(self.entry(v, f, path) for v in values)
            else:
                out[f.name] = [self.value(v, f.type, f"{path}[{i}]")
                               for i, v in enumerate(values)]
            return
        if values is None:
            if f.pointer:
                if f.keep:
                    out[f.name] = None
                return
            value = self.zero(f.type, path)
        elif f.type in SCALARS:
            value = self.value(values[-1], f.type, path)  # the last one wins
        else:
            # Repeats of a message field merge, which decoding their concatenation does.
            value = self.value(b"".join(v for v in values if isinstance(v, bytes)), f.type, path)
        if f.inline:
            out.update(value)
        elif f.pointer or f.keep or f.type not in SCALARS or value:
            out[f.name] = value

    def zero(self, type_: str, path: str) -> Any:
        if type_ in ("int32", "int64"):
            return 0
        if type_ == "bool":
            return False
        if type_ == "str":
            return ""
        if type_ == "bytes":
            return None
        return self.value(b"", type_, path)  # a Go struct left at its zero value

    def entry(self, data: int | bytes, f: Field, path: str) -> tuple[str, Any]:
        assert isinstance(data, bytes)
        key, value = "", None
        for number, wire, item in _wire_fields(data):
            if number == 1 and wire == _LEN:
                assert isinstance(item, bytes)
                key = item.decode("utf-8", "replace")
            elif number == 2 and (wire == _VARINT) == (f.type in VARINT_SCALARS):
                value = item
            else:
                raise BadRequest(f"malformed protobuf body of {self.kind}: bad map entry "
                                 f"in {path}")
        if value is None:
            # An entry without a value holds the zero value; for bytes that is an empty
            # string (Go's decoder starts each map value from an empty, not a nil, slice).
            return key, "" if f.type == "bytes" else self.zero(f.type, f"{path}[{key}]")
        return key, self.value(value, f.type, f"{path}[{key}]")

    def value(self, raw: int | bytes, type_: str, path: str) -> Any:
        if isinstance(raw, int):
            if type_ == "bool":
                return raw != 0
            return _signed(raw, 32 if type_ == "int32" else 64)
        if type_ == "str":
            return raw.decode("utf-8", "replace")  # Go's JSON encoder also replaces bad UTF-8
        if type_ == "bytes":
            return base64.b64encode(raw).decode("ascii")
        if type_ in SPECIALS:
            return self.special(raw, type_, path)
        return self.message(raw, type_, path)

    def special(self, raw: bytes, type_: str, path: str) -> Any:
        # Each special is a message of one to three scalar fields.
        shape = _SPECIAL_FIELDS[type_]
        got: dict[int, int | bytes] = {}
        for number, wire, value in _wire_fields(raw):
            expected = shape.get(number)
            if expected is None:
                raise self.unsupported(type_, number, path)
            if (wire == _VARINT) != (expected == "varint"):
                raise BadRequest(f"malformed protobuf body of {self.kind}: field {number} "
                                 f"of {type_} at {path} has the wrong wire type")
            got[number] = value
        if type_ in ("Time", "MicroTime"):
            return _time(got, micro=type_ == "MicroTime", path=path, kind=self.kind)
        if type_ == "Quantity":
            text = got.get(1, b"")
            assert isinstance(text, bytes)
            return text.decode("utf-8", "replace") or "0"
        if type_ == "IntOrString":
            if got.get(1, 0) == 1:
                text = got.get(3, b"")
                assert isinstance(text, bytes)
                return text.decode("utf-8", "replace")
            int_val = got.get(2, 0)
            assert isinstance(int_val, int)
            return _signed(int_val, 32)
        # RawExtension and FieldsV1 carry JSON text in field 1.
        text = got.get(1, b"")
        assert isinstance(text, bytes)
        if not text:
            return None
        try:
            return json.loads(text)
        except ValueError:
            raise BadRequest(f"malformed protobuf body of {self.kind}: {type_} at {path} "
                             f"does not hold JSON") from None


_SPECIAL_FIELDS: dict[str, dict[int, str]] = {
    "Time": {1: "varint", 2: "varint"},  # seconds, nanos
    "MicroTime": {1: "varint", 2: "varint"},
    "Quantity": {1: "bytes"},  # the canonical string form
    "IntOrString": {1: "varint", 2: "varint", 3: "bytes"},  # type, intVal, strVal
    "RawExtension": {1: "bytes"},
    "FieldsV1": {1: "bytes"},
}

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_GO_ZERO_TIME = -62135596800  # 0001-01-01T00:00:00Z in Unix seconds


def _time(got: dict[int, int | bytes], *, micro: bool, path: str, kind: str) -> str | None:
    if not got:
        return None  # Go sends the zero time as an empty message; JSON shows it as null
    seconds, nanos = got.get(1, 0), got.get(2, 0)
    assert isinstance(seconds, int) and isinstance(nanos, int)
    seconds, nanos = _signed(seconds, 64), _signed(nanos, 32)
    if seconds == _GO_ZERO_TIME and (nanos == 0 or not micro):
        return None  # Go's zero time.Time (year 1) also reads as null
    try:
        moment = _EPOCH + timedelta(seconds=seconds)
        if micro:  # metav1.Time keeps whole seconds only; MicroTime keeps microseconds
            moment += timedelta(microseconds=nanos // 1000)
    except OverflowError:
        raise BadRequest(f"malformed protobuf body of {kind}: time at {path} "
                         f"is out of range") from None
    text = (f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T"
            f"{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}")
    return f"{text}.{moment.microsecond:06d}Z" if micro else f"{text}Z"


# ---------------------------------------------------------------------------
# The envelope.


def decode(body: bytes) -> dict[str, Any]:
    """The JSON form of a Kubernetes protobuf body (``k8s\\x00`` + ``runtime.Unknown``).

    Raises :class:`ApiError`: 400 for bytes that are not such a body, 415 for a
    kind, encoding or field this server cannot read.
    """
    if not body.startswith(MAGIC):
        raise BadRequest("malformed protobuf body: it does not start with the k8s\\x00 prefix")
    api_version = kind = content_encoding = content_type = ""
    raw = b""
    for number, wire, value in _wire_fields(body[len(MAGIC):]):
        if wire != _LEN or not isinstance(value, bytes):
            raise BadRequest(f"malformed protobuf body: field {number} of the envelope "
                             f"has the wrong wire type")
        if number == 1:  # typeMeta
            for sub, sub_wire, text in _wire_fields(value):
                if sub_wire != _LEN or not isinstance(text, bytes):
                    raise BadRequest("malformed protobuf body: bad type meta")
                if sub == 1:
                    api_version = text.decode("utf-8", "replace")
                elif sub == 2:
                    kind = text.decode("utf-8", "replace")
                else:
                    raise UnsupportedMediaType(f"protobuf body: field {sub} of the type meta "
                                               f"is not supported")
        elif number == 2:
            raw = value
        elif number == 3:
            content_encoding = value.decode("utf-8", "replace")
        elif number == 4:
            content_type = value.decode("utf-8", "replace")
        else:
            raise UnsupportedMediaType(f"protobuf body: field {number} of the runtime.Unknown "
                                       f"envelope is not supported")
    if not kind or not api_version:
        raise BadRequest("malformed protobuf body: the envelope names no apiVersion and kind")
    if content_encoding:
        raise UnsupportedMediaType(f"protobuf body of {api_version} {kind} uses content "
                                   f"encoding {content_encoding!r}, which is not supported")
    if content_type and content_type != PROTOBUF:
        raise UnsupportedMediaType(f"protobuf body of {api_version} {kind} holds "
                                   f"{content_type!r}, which is not supported")
    message = KINDS.get((api_version, kind)) or (kind if kind in OPTIONS_KINDS else None)
    if message is None:
        raise UnsupportedMediaType(
            f"{api_version} {kind} cannot be sent as {PROTOBUF} to this server; "
            f"send it as application/json")
    obj: dict[str, Any] = {"kind": kind, "apiVersion": api_version}
    obj.update(_Decoder(f"{api_version} {kind}").message(raw, message, ""))
    return obj
