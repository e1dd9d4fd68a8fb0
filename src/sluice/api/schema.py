"""Declarative field descriptions shared by the typed models and the CRD schemas.

Every Flux kind is written once, as a Python dataclass deriving from `Model`.
Field types give the JSON shape (``str``, ``int``, ``bool``, ``float``,
``list[T]``, ``dict[str, T]``, another `Model`, ``Any`` for free-form JSON,
``int | str`` for int-or-string), ``| None`` plus ``= None`` makes a field
optional, and ``Annotated[T, S(...)]`` adds what OpenAPI needs beyond the
shape: description, CRD default, enum, pattern, bounds, list type, CEL rules.
From that single description we derive:

* ``Model.from_dict`` / ``Model.to_dict``: typed objects built from the JSON an
  API server returns and serialized back without losing anything (keys the
  model does not know are kept aside in ``extra`` and written back), so a
  controller can read typed attributes and patch the object it was given;
* ``Model.openapi_schema()``: the structural ``openAPIV3Schema`` fragment that
  `sluice.api.crds` places in each CustomResourceDefinition.

Python defaults and CRD defaults are different things on purpose: an optional
field's Python default is ``None`` ("absent"), while ``S(default=...)`` is the
value the API server fills in when the field is absent. Flux only puts some
defaults in its CRDs and applies others in Go getters; the models mirror that
split (getter-style defaults are methods on the kinds).
"""

from __future__ import annotations

import copy
import dataclasses
import inspect
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Self, dataclass_transform

__all__ = [
    "NO_DEFAULT",
    "Model",
    "ModelError",
    "Rule",
    "S",
    "camel_case",
    "field_names",
]


class _NoDefault:
    """Marker for "no CRD default" (``None`` is a legitimate JSON default)."""

    _instance: ClassVar[_NoDefault | None] = None

    def __new__(cls) -> _NoDefault:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "NO_DEFAULT"


NO_DEFAULT: Any = _NoDefault()


class ModelError(ValueError):
    """A document does not have the shape the model expects.

    ``path`` is the JSON path of the offending field (``spec.sourceRef.kind``)
    so that callers can report it the way the API server would.
    """

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path
        self.message = message


@dataclass(frozen=True)
class Rule:
    """One CEL rule (``x-kubernetes-validations`` entry)."""

    rule: str
    message: str = ""

    def to_dict(self) -> dict[str, str]:
        out = {"rule": self.rule}
        if self.message:
            out["message"] = self.message
        return out


@dataclass(frozen=True)
class S:
    """OpenAPI facts about one field, attached with ``Annotated[T, S(...)]``.

    Several ``S`` may apply to one field (an alias such as ``Duration`` carries
    the pattern, the field adds its description); the outermost wins on
    conflicts.
    """

    description: str = ""
    default: Any = NO_DEFAULT
    enum: tuple[Any, ...] | None = None
    pattern: str | None = None
    format: str | None = None
    min_length: int | None = None
    max_length: int | None = None
    minimum: int | float | None = None
    maximum: int | float | None = None
    min_items: int | None = None
    max_items: int | None = None
    min_properties: int | None = None
    max_properties: int | None = None
    # JSON name when it is not the camelCase form of the attribute name.
    name: str | None = None
    # Whether the field is listed in the parent's ``required``; by default a
    # field is required exactly when its Python attribute has no default.
    required: bool | None = None
    list_type: str | None = None
    list_map_keys: tuple[str, ...] | None = None
    map_type: str | None = None
    preserve_unknown: bool = False
    nullable: bool = False
    rules: tuple[Rule, ...] = ()
    # Keys merged into the generated item schema of a list (or the value
    # schema of a map), e.g. ``items={"enum": [...]}``.
    items: Mapping[str, Any] | None = None
    # Raw keys merged last, and a full replacement for the generated schema.
    extra: Mapping[str, Any] | None = None
    schema: Mapping[str, Any] | None = None
    # Leave the field out of ``to_dict`` when it serializes to ``{}``.
    omit_empty: bool = False


def camel_case(name: str) -> str:
    """``service_account_name`` -> ``serviceAccountName``."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _merge(metas: list[S]) -> S:
    """Combine field facts, outer (earlier) values winning over inner ones."""
    if not metas:
        return S()
    if len(metas) == 1:
        return metas[0]
    blank = S()
    values: dict[str, Any] = {}
    for meta in reversed(metas):
        for f in dataclasses.fields(S):
            value = getattr(meta, f.name)
            if value is not getattr(blank, f.name) and value != getattr(blank, f.name):
                values[f.name] = value
    return S(**values)


# --------------------------------------------------------------------------
# Shapes: what a type annotation means for JSON.


@dataclass(frozen=True)
class _Shape:
    kind: str  # "str" | "int" | "bool" | "float" | "model" | "list" | "map" | "any" | "intstr"
    model: type[Model] | None = None
    inner: _Field | None = None  # item (list) or value (map) description


@dataclass(frozen=True)
class _Field:
    shape: _Shape
    meta: S
    optional: bool


_SCALARS: dict[Any, str] = {str: "str", int: "int", bool: "bool", float: "float"}


def _describe(tp: Any) -> _Field:
    """Turn an annotation into a shape plus the merged ``S`` facts."""
    metas: list[S] = []
    optional = False
    while True:
        origin = typing.get_origin(tp)
        if origin is Annotated:
            base, *extras = typing.get_args(tp)
            metas.extend(m for m in extras if isinstance(m, S))
            tp = base
            continue
        if origin is typing.Union or origin is types.UnionType:
            args = typing.get_args(tp)
            rest = [a for a in args if a is not type(None)]
            optional = optional or len(rest) != len(args)
            if len(rest) == 1:
                tp = rest[0]
                continue
            if set(rest) == {int, str}:
                return _Field(_Shape("intstr"), _merge(metas), optional)
            raise TypeError(f"unsupported union {tp!r}")
        break
    origin = typing.get_origin(tp)
    if tp is Any:
        shape = _Shape("any")
    elif tp in _SCALARS:
        shape = _Shape(_SCALARS[tp])
    elif origin is list:
        (item,) = typing.get_args(tp)
        shape = _Shape("list", inner=_describe(item))
    elif origin is dict:
        key, value = typing.get_args(tp)
        if key is not str:
            raise TypeError(f"map keys must be str, not {key!r}")
        shape = _Shape("map", inner=_describe(value))
    elif isinstance(tp, type) and issubclass(tp, Model):
        shape = _Shape("model", model=tp)
    else:
        raise TypeError(f"unsupported field type {tp!r}")
    return _Field(shape, _merge(metas), optional)


# --------------------------------------------------------------------------
# Schema generation.


def _shape_schema(shape: _Shape, meta: S) -> dict[str, Any]:
    out: dict[str, Any]
    if shape.kind == "str":
        out = {"type": "string"}
    elif shape.kind == "int":
        out = {"type": "integer"}
    elif shape.kind == "bool":
        out = {"type": "boolean"}
    elif shape.kind == "float":
        out = {"type": "number"}
    elif shape.kind == "intstr":
        out = {
            "anyOf": [{"type": "integer"}, {"type": "string"}],
            "x-kubernetes-int-or-string": True,
        }
    elif shape.kind == "any":
        out = {"x-kubernetes-preserve-unknown-fields": True}
    elif shape.kind == "model":
        assert shape.model is not None
        out = shape.model.openapi_schema()
    else:
        assert shape.inner is not None
        inner = _field_schema(shape.inner)
        if meta.items:
            inner.update(copy.deepcopy(dict(meta.items)))
        if shape.kind == "list":
            out = {"type": "array", "items": inner}
        else:
            out = {"type": "object", "additionalProperties": inner}
    return out


_META_KEYS: tuple[tuple[str, str], ...] = (
    ("pattern", "pattern"),
    ("format", "format"),
    ("min_length", "minLength"),
    ("max_length", "maxLength"),
    ("minimum", "minimum"),
    ("maximum", "maximum"),
    ("min_items", "minItems"),
    ("max_items", "maxItems"),
    ("min_properties", "minProperties"),
    ("max_properties", "maxProperties"),
    ("list_type", "x-kubernetes-list-type"),
    ("map_type", "x-kubernetes-map-type"),
)


def _field_schema(desc: _Field) -> dict[str, Any]:
    meta = desc.meta
    if meta.schema is not None:
        out = copy.deepcopy(dict(meta.schema))
    else:
        out = _shape_schema(desc.shape, meta)
    if meta.description:
        out["description"] = meta.description
    if meta.default is not NO_DEFAULT:
        out["default"] = copy.deepcopy(meta.default)
    if meta.enum is not None:
        out["enum"] = list(meta.enum)
    for attr, key in _META_KEYS:
        value = getattr(meta, attr)
        if value is not None:
            out[key] = value
    if meta.list_map_keys is not None:
        out["x-kubernetes-list-map-keys"] = list(meta.list_map_keys)
    if meta.preserve_unknown:
        out["x-kubernetes-preserve-unknown-fields"] = True
    if meta.nullable:
        out["nullable"] = True
    if meta.rules:
        out.setdefault("x-kubernetes-validations", []).extend(r.to_dict() for r in meta.rules)
    if meta.extra:
        out.update(copy.deepcopy(dict(meta.extra)))
    return out


# --------------------------------------------------------------------------
# Conversion between JSON values and Python values.


def _type_name(value: Any) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean"}.get(
        type(value), type(value).__name__
    )


def _load(desc: _Field, value: Any, path: str) -> Any:
    shape = desc.shape
    kind = shape.kind
    if value is None:
        return None
    if kind == "str":
        if not isinstance(value, str):
            raise ModelError(path, f"expected string, got {_type_name(value)}")
        return value
    if kind == "bool":
        if not isinstance(value, bool):
            raise ModelError(path, f"expected boolean, got {_type_name(value)}")
        return value
    if kind == "int":
        # JSON decoders may hand 3.0 for 3; accept integral floats like Go does.
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if not isinstance(value, int) or isinstance(value, bool):
            raise ModelError(path, f"expected integer, got {_type_name(value)}")
        return value
    if kind == "float":
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise ModelError(path, f"expected number, got {_type_name(value)}")
        return value
    if kind == "intstr":
        if not isinstance(value, int | str) or isinstance(value, bool):
            raise ModelError(path, f"expected integer or string, got {_type_name(value)}")
        return value
    if kind == "any":
        return copy.deepcopy(value)
    if kind == "model":
        assert shape.model is not None
        if not isinstance(value, Mapping):
            raise ModelError(path, f"expected object, got {_type_name(value)}")
        return shape.model.from_dict(value, path=path)
    inner = shape.inner
    assert inner is not None
    if kind == "list":
        if not isinstance(value, list):
            raise ModelError(path, f"expected array, got {_type_name(value)}")
        return [_load(inner, item, f"{path}[{i}]") for i, item in enumerate(value)]
    if not isinstance(value, Mapping):
        raise ModelError(path, f"expected object, got {_type_name(value)}")
    return {str(k): _load(inner, v, f"{path}.{k}") for k, v in value.items()}


def _dump(desc: _Field, value: Any) -> Any:
    kind = desc.shape.kind
    if value is None:
        return None
    if kind == "model":
        assert isinstance(value, Model)
        return value.to_dict()
    if kind == "any":
        return copy.deepcopy(value)
    inner = desc.shape.inner
    if kind == "list":
        assert inner is not None
        return [_dump(inner, item) for item in value]
    if kind == "map":
        assert inner is not None
        return {k: _dump(inner, v) for k, v in value.items()}
    return value


@dataclass(frozen=True)
class _Slot:
    attr: str
    json: str
    desc: _Field
    has_default: bool
    schema_required: bool


def _plan(cls: type[Model]) -> tuple[_Slot, ...]:
    cached = cls.__dict__.get("_sluice_plan")
    if cached is not None:
        plan: tuple[_Slot, ...] = cached
        return plan
    hints = typing.get_type_hints(cls, include_extras=True)
    slots = []
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        desc = _describe(hints[f.name])
        has_default = (
            f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
        )
        required = desc.meta.required if desc.meta.required is not None else not has_default
        slots.append(
            _Slot(f.name, desc.meta.name or camel_case(f.name), desc, has_default, required)
        )
    result = tuple(slots)
    cls._sluice_plan = result
    return result


# --------------------------------------------------------------------------
# The base class.


@dataclass_transform(kw_only_default=True, field_specifiers=(dataclasses.field,))
class Model:
    """Base of every typed model; subclasses become keyword-only dataclasses.

    Write the class docstring as the OpenAPI description of the object (it
    is used when the field referring to it has no description of its own).
    """

    # Extra CEL rules for the object itself (``x-kubernetes-validations``).
    schema_rules: ClassVar[tuple[Rule, ...]] = ()
    _sluice_doc: ClassVar[str] = ""
    _sluice_plan: ClassVar[tuple[_Slot, ...] | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # dataclass() invents a docstring from the signature when there is
        # none; capture the author's before it does.
        own_doc = cls.__dict__.get("__doc__")
        cls._sluice_doc = " ".join(inspect.cleandoc(own_doc).split()) if own_doc else ""
        cls._sluice_plan = None
        dataclasses.dataclass(kw_only=True)(cls)

    @property
    def extra(self) -> dict[str, Any]:
        """Keys found in the source document that the model does not know.

        They are written back by `to_dict`, so a model never drops data a
        newer Flux (or another tool) put in the object.
        """
        extra: dict[str, Any] = self.__dict__.setdefault("_sluice_extra", {})
        return extra

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, path: str = "") -> Self:
        """Build the model from a JSON-like mapping (as returned by the API)."""
        kwargs: dict[str, Any] = {}
        known: set[str] = set()
        for slot in _plan(cls):
            known.add(slot.json)
            sub = f"{path}.{slot.json}" if path else slot.json
            if slot.json in data and data[slot.json] is not None:
                kwargs[slot.attr] = _load(slot.desc, data[slot.json], sub)
            elif not slot.has_default:
                raise ModelError(sub, "required field missing")
        obj = cls(**kwargs)
        rest = {k: copy.deepcopy(v) for k, v in data.items() if k not in known}
        if rest:
            obj.__dict__["_sluice_extra"] = rest
        return obj

    def to_dict(self) -> dict[str, Any]:
        """Serialize to plain JSON-compatible data; absent (``None``) fields are left out."""
        out: dict[str, Any] = {}
        for slot in _plan(type(self)):
            value = getattr(self, slot.attr)
            if value is None:
                continue
            dumped = _dump(slot.desc, value)
            if slot.desc.meta.omit_empty and dumped == {}:
                continue
            out[slot.json] = dumped
        for key, value in self.__dict__.get("_sluice_extra", {}).items():
            out.setdefault(key, copy.deepcopy(value))
        return out

    def copy(self) -> Self:
        """A deep copy, extras included."""
        return copy.deepcopy(self)

    @classmethod
    def openapi_schema(cls) -> dict[str, Any]:
        """The OpenAPI v3 (structural) schema of this object."""
        props: dict[str, Any] = {}
        required: list[str] = []
        for slot in _plan(cls):
            props[slot.json] = _field_schema(slot.desc)
            if slot.schema_required:
                required.append(slot.json)
        out: dict[str, Any] = {"type": "object"}
        if cls._sluice_doc:
            out["description"] = cls._sluice_doc
        out["properties"] = dict(sorted(props.items()))
        if required:
            out["required"] = sorted(required)
        if cls.schema_rules:
            out["x-kubernetes-validations"] = [r.to_dict() for r in cls.schema_rules]
        return out


def field_names(cls: type[Model]) -> dict[str, str]:
    """Map of Python attribute name to JSON name, for callers building patches."""
    return {slot.attr: slot.json for slot in _plan(cls)}
