"""Exported YAML byte for byte as flux prints it.

``flux create ... --export`` marshals Go objects with ``sigs.k8s.io/yaml``,
whose go-yaml v2 rules live in ``sluice.core.goyaml`` (shared with the
kustomize engine, which prints through the same library). What is flux's own
is the framing ``printExport`` and ``resourceToString`` put around it: a
``---`` line first; ``creationTimestamp: null`` and ``status: {}`` dropped by
plain text replacement, first occurrence only; typed Flux objects trimmed
(``export_object``), Secrets from ``create secret`` left untrimmed so a blank
line follows (``export_secret``), and tenant objects losing ``spec: {}`` too
(``export_tenant_object``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sluice.core import goyaml

__all__ = ["dump", "export_object", "export_secret", "export_tenant_object"]

# Go's bytes.TrimSpace trims Unicode white space (unicode.IsSpace).
_GO_SPACE = " \t\n\v\f\r\x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"


def dump(value: Any) -> str:
    """``value`` as flux's YAML marshalling writes it, ending in a newline.

    A stream left open-ended by a keep-chomped block (``|+``) ends with a
    ``...`` line here, as the export tests hold flux's output to.
    """
    return goyaml.dump(value, mark_open_end=True)


def _drop_empty_metadata(text: str) -> str:
    # flux's resourceToString: plain text replacement, first occurrence only.
    text = text.replace("  creationTimestamp: null\n", "", 1)
    return text.replace("status: {}\n", "", 1)


def export_object(obj: Mapping[str, Any]) -> str:
    """What ``printExport`` prints for a typed Flux object: ``---``, the YAML, trimmed."""
    return "---\n" + _drop_empty_metadata(dump(obj)).strip(_GO_SPACE) + "\n"


def export_secret(obj: Mapping[str, Any]) -> str:
    """What ``create secret ... --export`` prints: untrimmed, so a blank line follows."""
    return "---\n" + _drop_empty_metadata(dump(obj)) + "\n"


def export_tenant_object(obj: Mapping[str, Any]) -> str:
    """A tenant Namespace/ServiceAccount/RoleBinding: ``spec: {}`` goes too."""
    text = dump(obj).replace("spec: {}\n", "", 1)
    return "---\n" + _drop_empty_metadata(text).strip(_GO_SPACE) + "\n"
