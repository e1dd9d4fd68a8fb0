"""Flag handling shared by every ``sluice create`` command, the way cobra does it.

flux's ``create`` commands share persistent flags: ``--interval``,
``--export`` and ``--label`` can be given on ``create`` itself or on the leaf
command, list flags accept repeats and commas, typed flags fail with
``invalid argument "1d" for "--interval" flag: ...``. This module gives the
create commands that surface, plus the checks flux runs before building an
object: RFC 1123 object names, ``key=value`` labels validated like
Kubernetes, and ``Kind/name.namespace`` references. The cobra-style parsing
itself (``--prune=true``, ``-n=ns``, aliases) is :mod:`sluice.cli.parsing`'s.
"""

from __future__ import annotations

import csv
import functools
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import click

from sluice.cli.applying import apply_and_wait
from sluice.cli.exporting import export_object
from sluice.cli.failing import CommandError
from sluice.cli.options import Globals
from sluice.cli.parsing import flag_error
from sluice.core.durations import MINUTE, DurationError, parse_duration

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_INTERVAL = MINUTE
_CREATE_META = "sluice.create"

__all__ = [
    "CreateArgs",
    "bool_flag",
    "create_options",
    "duration_flag",
    "echo_export",
    "equal_fold_item",
    "go_string_list",
    "is_qualified_name",
    "is_valid_label_value",
    "log_generate",
    "make_depends_on",
    "object_meta",
    "parse_kind_name",
    "parse_kind_name_namespace",
    "parse_labels",
    "publish",
    "require_name",
    "store_group_values",
    "string_slice",
]


def bool_flag(*decls: str, help: str) -> Callable[[F], F]:
    """A cobra boolean flag: ``--x``, ``--x=true`` or ``--x=false``, default false."""
    return click.option(*decls, is_flag=True, default=False, help=help)


# --- errors and logging -----------------------------------------------------

def log_generate(message: str) -> None:
    """flux's logger ``Generatef``: ``✚ message`` on stderr."""
    click.echo(f"✚ {message}", err=True)


# --- value parsing ----------------------------------------------------------

def duration_flag(flag: str, value: str) -> int:
    """A Go duration flag's value in nanoseconds."""
    try:
        return parse_duration(value)
    except DurationError as err:
        raise flag_error(flag, value, str(err)) from None


def string_slice(values: Sequence[str] | None) -> list[str]:
    """pflag StringSlice: every occurrence is a CSV record, all records concatenated."""
    out: list[str] = []
    for value in values or ():
        if value == "":
            continue
        for record in csv.reader([value]):
            out.extend(record)
    return out


def parse_kind_name(text: str) -> tuple[str, str]:
    """``Kind/name`` → (kind, name); without exactly one ``/`` the kind is empty."""
    parts = text.split("/")
    if len(parts) == 2:
        return parts[0], parts[1]
    return "", text


def parse_kind_name_namespace(text: str) -> tuple[str, str, str]:
    """``Kind/name.namespace`` → (kind, name, namespace), flux's utils parsing."""
    kind, name = parse_kind_name(text)
    namespace = ""
    parts = name.split(".")
    if len(parts) > 1:
        name, namespace = parts[0], parts[1]
    return kind, name, namespace


def equal_fold_item(items: Sequence[str], wanted: str) -> str | None:
    """The item equal to ``wanted`` ignoring case (flux's ContainsEqualFoldItemString)."""
    for item in items:
        if item.casefold() == wanted.casefold():
            return item
    return None


def make_depends_on(deps: Sequence[str]) -> list[dict[str, str]]:
    """``name`` or ``namespace/name`` references, as flux's MakeDependsOn."""
    refs: list[dict[str, str]] = []
    for dep in deps:
        parts = dep.split("/")
        namespace, name = (parts[0], parts[1]) if len(parts) > 1 else ("", parts[0])
        ref = {"name": name}
        if namespace:
            ref["namespace"] = namespace
        refs.append(ref)
    return refs


# --- Kubernetes name validation (k8s.io/apimachinery/pkg/util/validation) ----

_QNAME_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_QNAME_RE = re.compile(f"^{_QNAME_FMT}$")
_QNAME_MSG = ("must consist of alphanumeric characters, '-', '_' or '.', and must start and "
              "end with an alphanumeric character")
_DNS1123_SUB_FMT = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
_DNS1123_SUB_RE = re.compile(f"^{_DNS1123_SUB_FMT}$")
_LABEL_VALUE_FMT = f"({_QNAME_FMT})?"
_LABEL_VALUE_RE = re.compile(f"^{_LABEL_VALUE_FMT}$")
_OBJECT_NAME_RE = re.compile(r"^[a-z0-9]([a-z0-9\-]){0,61}[a-z0-9]$")


def _regex_error(message: str, fmt: str, *examples: str) -> str:
    if not examples:
        return f"{message} (regex used for validation is '{fmt}')"
    shown = " or ".join(f"'{e}', " for e in examples)
    return f"{message} (e.g. {shown}regex used for validation is '{fmt}')"


def _dns1123_subdomain_errors(value: str) -> list[str]:
    errs: list[str] = []
    if len(value) > 253:
        errs.append("must be no more than 253 characters")
    if not _DNS1123_SUB_RE.match(value):
        errs.append(_regex_error(
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
            "'-' or '.', and must start and end with an alphanumeric character",
            _DNS1123_SUB_FMT, "example.com"))
    return errs


def is_qualified_name(value: str) -> list[str]:
    """Kubernetes IsQualifiedName: label keys, tenant and namespace names."""
    errs: list[str] = []
    parts = value.split("/")
    if len(parts) == 1:
        name = parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            errs.append("prefix part must be non-empty")
        else:
            errs.extend("prefix part " + m for m in _dns1123_subdomain_errors(prefix))
    else:
        return [
            "a qualified name " + _regex_error(_QNAME_MSG, _QNAME_FMT, "MyName", "my.name", "123-abc")
            + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        ]
    if not name:
        errs.append("name part must be non-empty")
    elif len(name) > 63:
        errs.append("name part must be no more than 63 characters")
    if not _QNAME_RE.match(name):
        errs.append("name part " + _regex_error(_QNAME_MSG, _QNAME_FMT, "MyName", "my.name", "123-abc"))
    return errs


def is_valid_label_value(value: str) -> list[str]:
    """Kubernetes IsValidLabelValue."""
    errs: list[str] = []
    if len(value) > 63:
        errs.append("must be no more than 63 characters")
    if not _LABEL_VALUE_RE.match(value):
        errs.append(_regex_error(
            "a valid label must be an empty string or consist of alphanumeric characters, '-', "
            "'_' or '.', and must start and end with an alphanumeric character",
            _LABEL_VALUE_FMT, "MyValue", "my_value", "12345"))
    return errs


def go_string_list(items: Sequence[str]) -> str:
    """A Go ``[]string`` printed with %v."""
    return "[" + " ".join(items) + "]"


def parse_labels(labels: Sequence[str]) -> dict[str, str]:
    """``--label key=value`` flags, validated like flux's parseLabels."""
    result: dict[str, str] = {}
    for label in labels:
        parts = label.split("=")
        if len(parts) != 2:
            raise CommandError(f"invalid label format '{label}', must be key=value")
        key, value = parts
        if errs := is_qualified_name(key):
            raise CommandError(f"invalid label '{key}': {go_string_list(errs)}")
        if errs := is_valid_label_value(value):
            raise CommandError(f"invalid label value '{value}': {go_string_list(errs)}")
        result[key] = value
    return result


def require_name(args: Sequence[str]) -> str:
    """The object name, checked as flux's ``create`` PersistentPreRunE does."""
    if not args:
        raise CommandError("name is required")
    name = args[0]
    if not _OBJECT_NAME_RE.match(name):
        raise CommandError(
            f"name '{name}' is invalid, it should adhere to standard defined in RFC 1123, "
            "the name can only contain alphanumeric characters or '-'")
    return name


# --- persistent create flags --------------------------------------------------

@dataclass
class CreateArgs:
    """``flux create``'s persistent flags after merging group and leaf values."""

    interval: int = DEFAULT_INTERVAL
    export: bool = False
    labels: list[str] = field(default_factory=list)
    fetch_timeout: int = 0


def _group_values(ctx: click.Context) -> dict[str, Any]:
    stored = ctx.meta.get(_CREATE_META)
    return stored if isinstance(stored, dict) else {}


def store_group_values(ctx: click.Context, **values: Any) -> None:
    """Remember flags given on ``create`` or ``create source`` for the leaf command."""
    # click shares ``meta`` between a context and all its children.
    stored = ctx.meta.setdefault(_CREATE_META, {})
    stored.update({k: v for k, v in values.items() if v not in (None, False, ())})


def create_options(func: F) -> F:
    """Add flux's persistent ``create`` flags to a leaf command.

    The wrapped function receives ``create_args`` (CreateArgs); a value given
    on the leaf wins over one given on ``create``.
    """

    @click.option("--interval", "c_interval", default=None,
                  help="source sync interval (default 1m0s)")
    @bool_flag("--export", help="export in YAML format to stdout")
    @click.option("--label", "c_labels", multiple=True,
                  help="set labels on the resource (can specify multiple labels with commas: "
                       "label1=value1,label2=value2)")
    @functools.wraps(func)
    def wrapper(*args: Any, c_interval: str | None, export: bool, c_labels: tuple[str, ...],
                **kwargs: Any) -> Any:
        group = _group_values(click.get_current_context())
        interval_text = c_interval if c_interval is not None else group.get("interval")
        interval = (duration_flag("--interval", interval_text) if interval_text is not None
                    else DEFAULT_INTERVAL)
        fetch_text = kwargs.pop("fetch_timeout", None) or group.get("fetch_timeout")
        fetch_timeout = duration_flag("--fetch-timeout", fetch_text) if fetch_text else 0
        labels = string_slice(list(group.get("labels", ())) + list(c_labels))
        create_args = CreateArgs(interval=interval, export=export or bool(group.get("export")),
                                 labels=labels, fetch_timeout=fetch_timeout)
        return func(*args, create_args=create_args, **kwargs)

    return wrapper  # type: ignore[return-value]


# --- object building and output ------------------------------------------------

def object_meta(name: str, namespace: str | None, labels: Mapping[str, str]) -> dict[str, Any]:
    """ObjectMeta as Go's JSON encoding has it: ``creationTimestamp: null`` included."""
    meta: dict[str, Any] = {"creationTimestamp": None, "name": name}
    if namespace:
        meta["namespace"] = namespace
    if labels:
        meta["labels"] = dict(labels)
    return meta


def echo_export(text: str) -> None:
    """Exported YAML goes to stdout, byte for byte."""
    sys.stdout.write(text)
    sys.stdout.flush()


def publish(obj: dict[str, Any], create_args: CreateArgs, globals_: Globals) -> None:
    """Print a typed Flux object (``--export``) or apply it and wait."""
    if create_args.export:
        echo_export(export_object(obj))
        return
    apply_and_wait([obj], globals_)
