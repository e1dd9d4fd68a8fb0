"""Request bodies decoded as kube-apiserver decodes them, so no input stores what Go cannot read.

kube-apiserver reads JSON with ``sigs.k8s.io/json`` (Go's ``encoding/json``)
and YAML through ``sigs.k8s.io/yaml`` (go-yaml v2, then JSON). Python's
decoders are more lenient, and what they let through breaks every Go client
afterwards: one HelmRelease whose ``spec.values`` held ``NaN`` made ``kubectl
get helmreleases -A -o json`` fail for the whole resource type. So:

* ``NaN``, ``Infinity`` and ``-Infinity`` are not JSON: refused (YAML's
  ``.nan``/``.inf`` too, which Go cannot encode as JSON either);
* an integer that fits int64 stays an integer; a bigger one becomes a float64
  as in Go, and one beyond float64's range is refused, as Go's
  ``strconv.ParseFloat`` refuses it;
* nesting deeper than 10,000 levels is refused (Go's scanner limit,
  ``maxNestingDepth``); up to that depth everything is accepted and served.
  The JSON depth is measured on the raw bytes before decoding, so the C
  decoder never recurses past it;
* YAML map keys become strings as ``sigs.k8s.io/yaml`` makes them (``1: a``
  is the label key ``"1"``), timestamps stay the strings they were written as,
  and aliases may not expand a small body into millions of nodes.

Every refusal is a :class:`BadRequest` (400), never a 500. Decoding a 3 MiB
body is slow in Python, so the handlers call :func:`decode` off the event loop
(see :mod:`offload`).
"""

from __future__ import annotations

import base64
import datetime
import itertools
import json
import math
import operator
import re
from typing import Any

import yaml

from sluice.apiserver.errors import ApiError, BadRequest
from sluice.apiserver.rest import protobuf_decode

MAX_DEPTH = 10_000
# No storable object (1.5 MiB as JSON) has more nodes than this; YAML aliases can make a
# few hundred bytes expand to billions of them ("billion laughs").
MAX_YAML_NODES = 1_000_000
# Python code walks objects recursively (copies, merges, validation): a few frames per
# level of nesting must fit under the interpreter's recursion limit. Python-to-Python
# calls do not use the C stack (3.11+); C recursion stays bounded by MAX_DEPTH.
RECURSION_LIMIT = 8 * MAX_DEPTH

_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")
# Opening brackets weigh 2 and closing ones 0, so that (running sum - count) is the depth.
_WEIGHTS = bytes.maketrans(b"[]{}", b"\x02\x00\x02\x00")


def decode(raw: bytes, content_type: str) -> Any:
    """The body as Kubernetes decodes it, or a :class:`BadRequest` saying why not."""
    if content_type == protobuf_decode.PROTOBUF:
        # kubectl's typed clients (kubectl create configmap, ...) send built-in kinds so.
        return protobuf_decode.decode(raw)
    kind = "yaml" if "yaml" in content_type else "json"
    try:
        return load_yaml(raw) if kind == "yaml" else load_json(raw)
    except ApiError:
        raise
    except (ValueError, yaml.YAMLError) as exc:
        raise BadRequest(f"error decoding {kind}: {str(exc).splitlines()[0]}") from None
    except RecursionError:
        raise _too_deep(kind) from None


def json_depth(raw: bytes) -> int:
    """How deeply arrays and objects nest in a JSON text (strings skipped), without parsing it."""
    brackets = _STRING.sub(b"", raw).translate(None, _NOT_BRACKET)
    if not brackets:
        return 0
    weights = brackets.translate(_WEIGHTS)
    deepest: int = max(map(operator.sub, itertools.accumulate(weights), itertools.count(1)))
    return deepest


def deeper_than(raw: bytes, levels: int) -> bool:
    """Whether ``raw`` nests deeper than ``levels``; a text with no more opening
    brackets than that (most bodies) cannot, and is not scanned."""
    if raw.count(b"{") + raw.count(b"[") <= levels:
        return False
    return json_depth(raw) > levels


def load_json(raw: bytes) -> Any:
    if deeper_than(raw, MAX_DEPTH):
        raise _too_deep("json")
    return json.loads(raw, parse_constant=_no_constant, parse_int=_int, parse_float=_float)


def _too_deep(kind: str) -> ApiError:
    return BadRequest(f"error decoding {kind}: exceeded max depth of {MAX_DEPTH}")


def _no_constant(text: str) -> Any:
    raise BadRequest(f"error decoding json: invalid character '{text[0]}' looking for "
                     f"beginning of value ({text} is not a JSON number)")


def _number_error(text: str) -> ApiError:
    shown = text if len(text) <= 40 else text[:37] + "..."
    return BadRequest(f"error decoding json: cannot unmarshal number {shown} into Go value "
                      "of type float64")


def _int(text: str) -> int | float:
    try:
        value = int(text)
    except ValueError:  # more digits than Python converts (sys.int_info.default_max_str_digits)
        raise _number_error(text) from None
    if _INT64_MIN <= value <= _INT64_MAX:
        return value
    return _float(text)  # Go keeps integers beyond int64 as float64


def _float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise _number_error(text)
    return value


def check_number(value: Any, where: str) -> Any:
    """A decoded YAML scalar as JSON can carry it (see :func:`_int`/:func:`_float`)."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        if _INT64_MIN <= value <= _INT64_MAX:
            return value
        as_float = float(value) if value.bit_length() <= 1024 else math.inf
        if math.isinf(as_float):
            raise BadRequest(f"error decoding yaml: {where}: number {str(value)[:37]}... is out "
                             "of range")
        return as_float
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        raise BadRequest(f"error decoding yaml: {where}: json: unsupported value: "
                         f"{'NaN' if math.isnan(value) else '+Inf' if value > 0 else '-Inf'}")
    return value


if yaml.__with_libyaml__:
    from yaml._yaml import CParser

    class _Parser(CParser):  # type: ignore[misc]
        """libyaml's scanner and parser (C, iterative) under PyYAML's composer (Python).

        The C composer recurses on the C stack, one frame per level of nesting, which a
        deep enough document overflows; the Python one only uses interpreter frames,
        bounded by the recursion limit. Scanning, most of the cost, stays in C.
        """

        def __init__(self, stream: bytes) -> None:
            super().__init__(stream)
            yaml.composer.Composer.__init__(self)  # type: ignore[arg-type]

        get_single_node = yaml.composer.Composer.get_single_node
        compose_document = yaml.composer.Composer.compose_document
        compose_node = yaml.composer.Composer.compose_node
        compose_scalar_node = yaml.composer.Composer.compose_scalar_node
        compose_sequence_node = yaml.composer.Composer.compose_sequence_node
        compose_mapping_node = yaml.composer.Composer.compose_mapping_node

    class _Base(_Parser, yaml.constructor.SafeConstructor, yaml.resolver.Resolver):
        def __init__(self, stream: bytes) -> None:
            _Parser.__init__(self, stream)
            yaml.constructor.SafeConstructor.__init__(self)
            yaml.resolver.Resolver.__init__(self)
else:  # pragma: no cover - PyYAML built without libyaml
    _Base = yaml.SafeLoader  # type: ignore[misc,assignment]


class _KubeLoader(_Base):
    """A safe loader with sigs.k8s.io/yaml's results: string keys, string timestamps,
    JSON numbers."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        # Keys become strings before they meet: 1 and true are one Python key, two in JSON.
        if isinstance(node, yaml.MappingNode):
            self.flatten_mapping(node)  # merge keys (<<) as SafeLoader resolves them
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=True)
            out[_key_text(key)] = self.construct_object(value_node, deep=deep)
        return out


def _key_text(key: Any) -> str:
    """A YAML map key as sigs.k8s.io/yaml writes it in JSON (``1`` -> ``"1"``)."""
    if isinstance(key, str):
        return key
    if isinstance(key, bool):
        return "true" if key else "false"
    if key is None:
        return "null"
    if isinstance(key, float):
        check_number(key, "map key")
        return repr(key) if not key.is_integer() else str(int(key))
    if isinstance(key, (datetime.date, datetime.datetime)):
        return key.isoformat()
    if isinstance(key, (tuple, list)):
        raise BadRequest("error decoding yaml: a sequence cannot be a map key")
    return str(key)


def _construct_int(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> Any:
    return check_number(yaml.SafeLoader.construct_yaml_int(loader, node), _line(node))


def _construct_float(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> Any:
    return check_number(yaml.SafeLoader.construct_yaml_float(loader, node), _line(node))


def _construct_timestamp(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> str:
    # go-yaml v2 leaves timestamps decoded into interface{} as their text.
    return str(loader.construct_scalar(node))


def _construct_binary(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> str:
    # []byte encodes as base64 in JSON: the text of a !!binary scalar, without its line breaks.
    data = yaml.SafeLoader.construct_yaml_binary(loader, node)
    return base64.b64encode(data).decode()


def _construct_set(loader: yaml.SafeLoader, node: yaml.MappingNode) -> Any:
    data: dict[str, None] = {}
    yield data
    data.update({_key_text(k): None for k in loader.construct_mapping(node)})


def _line(node: yaml.Node) -> str:
    return f"line {node.start_mark.line + 1}"


_KubeLoader.add_constructor("tag:yaml.org,2002:int", _construct_int)
_KubeLoader.add_constructor("tag:yaml.org,2002:float", _construct_float)
_KubeLoader.add_constructor("tag:yaml.org,2002:timestamp", _construct_timestamp)
_KubeLoader.add_constructor("tag:yaml.org,2002:binary", _construct_binary)
_KubeLoader.add_constructor("tag:yaml.org,2002:set", _construct_set)


def _measure(root: yaml.Node) -> tuple[int, int]:
    """(nodes once aliases are expanded, depth) of a composed document, without recursion."""
    nodes: dict[int, int] = {}
    depth: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        children: list[yaml.Node] = []
        if isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        elif isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
        if done:
            on_path.discard(key)
            nodes[key] = 1 + sum(nodes[id(c)] for c in children)
            depth[key] = (1 + max((depth[id(c)] for c in children), default=0)
                          if isinstance(node, (yaml.SequenceNode, yaml.MappingNode)) else 0)
            continue
        if key in nodes:
            continue
        if key in on_path:
            raise BadRequest("error decoding yaml: an alias refers to the node that holds it")
        on_path.add(key)
        stack.append((node, True))
        stack.extend((c, False) for c in children if id(c) not in nodes)
    return nodes[id(root)], depth[id(root)]


def load_yaml(raw: bytes) -> Any:
    if raw.lstrip()[:1] in (b"{", b"["):
        # JSON is YAML: decoded as JSON it costs a C call instead of a Python parse.
        try:
            return load_json(raw)
        except (ValueError, ApiError):
            pass  # not JSON after all (or YAML reads it differently: NaN is a string there)
    # PyYAML's scanner does work proportional to the flow depth for every token: bound it
    # before scanning (brackets in plain scalars only make this estimate larger).
    if deeper_than(raw, MAX_DEPTH):
        raise _too_deep("yaml")
    loader = _KubeLoader(raw)
    try:
        node = loader.get_single_node()  # type: ignore[misc]
        if node is None:
            return None
        count, depth = _measure(node)
        if depth > MAX_DEPTH:
            raise _too_deep("yaml")
        if count > MAX_YAML_NODES:
            raise BadRequest(f"error decoding yaml: the document expands to more than "
                             f"{MAX_YAML_NODES} nodes")
        return loader.construct_document(node)
    finally:
        loader.dispose()


def object_depth(value: Any) -> int:
    """How deeply a decoded value nests (a patch can deepen an object past its body's depth)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, level)
        stack.extend((c, level + 1) for c in children if isinstance(c, (dict, list)))
    return deepest


def check_depth(obj: dict[str, Any]) -> None:
    """Refuse an object nested deeper than a body may be (its managedFields, which mirror
    the object's shape a few levels further down, are the server's and do not count)."""
    meta = obj.get("metadata")
    if isinstance(meta, dict) and "managedFields" in meta:
        obj = {**obj, "metadata": {k: v for k, v in meta.items() if k != "managedFields"}}
    if object_depth(obj) > MAX_DEPTH:
        raise _too_deep("json")
