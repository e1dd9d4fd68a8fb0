"""The commit message: Flux's template data, both shapes, rendered as a Go template.

Flux renders ``spec.git.commit.messageTemplate`` with Go's ``text/template``
and sprig. Two data shapes are in use:

* v1 (image-automation-controller >= 1.0): ``.AutomationObject``
  (``<ns>/<name>``), ``.Values`` (``messageTemplateValues``) and ``.Changed``
  with ``.Changed.FileChanges`` (file -> object -> changes), ``.Changed.Changes``
  (every ``{OldValue, NewValue, Setter}``) and ``.Changed.Objects`` (object
  -> changes, merged across files);
* the older ``.Updated`` (<= 0.41, still in tutorials such as the seed's
  ``{{range .Updated.Images}}{{println .}}{{end}}``): ``.Updated.Images``
  (each distinct image reference a setter wrote, ``<repo>:<tag>``),
  ``.Updated.Files`` (file -> ``.Objects``) and ``.Updated.Objects``
  (object -> images). Current Flux stalls on it (``RemovedTemplateField``);
  Sluice renders it.

The data travels to Helm's engine as JSON (`sluice.core.gotemplate`), where
Go's values become maps, so the template is adjusted (inside its actions
only) wherever Flux's Go types behave differently from a map:

* ``.AutomationObject`` is a ``types.NamespacedName``: printed it reads
  ``<ns>/<name>`` (a string here), and ``.AutomationObject.Name`` /
  ``.Namespace`` are read from a map beside it (``._AutomationObject``);
* maps keyed by an object identifier (``.Changed.Objects``, each file's
  object map in ``.Changed.FileChanges``, ``.Updated.Objects``) are keyed by
  Go's ``fmt`` form of the identifier (``{{apps/v1 Deployment} {app ns}}``),
  so that ``keys`` and ``toString`` see what Go prints. A two-variable
  ``range $id, $v := X.Objects`` (or over the object map of a file, bound by
  ``range $file, $objs := X.FileChanges``) walks a parallel list instead, in
  Go's key order, whose ``$id`` is a map with ``.APIVersion``, ``.Kind``,
  ``.Name``, ``.Namespace``; a bare ``$id`` (printed, or passed to a
  function) reads its Go form (``$id._go``);
* ``.Changed.ImageResult`` (v1beta2's name for the ``.Updated`` data) is
  the ``.Updated`` data, where Flux now stalls.

Known difference: a whole ``Change`` printed (``{{ . }}`` in a range over
changes, or ``toString`` of a map holding them) reads
``map[NewValue:.. OldValue:.. Setter:..]`` where Go prints ``{old new setter}``.

Errors read as Flux's: ``unable to create commit message template from
spec: template: commit message:1: ...`` (parse) and ``failed to run template
from spec: ...`` (execution).
"""

from __future__ import annotations

import re
from typing import Any

from sluice.api.image import DEFAULT_COMMIT_MESSAGE
from sluice.controllers.image_automation.errors import TemplateFailed
from sluice.controllers.image_automation.setters import Change, ObjectId, Result
from sluice.core import gotemplate

__all__ = ["TEMPLATE_NAME", "render_message", "rewrite_template", "template_data"]

TEMPLATE_NAME = "commit message"

# `range $k, $v := <expr>.Objects` / `.FileChanges` (trim markers kept where they were).
_RANGE = re.compile(
    r"^(-?\s*)range\s+(\$\w+)\s*,\s*(\$\w+)\s*:=\s*((?:\$\w*)?(?:\.\w+)*\.)"
    r"(Objects|FileChanges)(\s*-?)$"
)
_VAR_RANGE = re.compile(r"^(-?\s*)range\s+(\$\w+)\s*,\s*(\$\w+)\s*:=\s*(\$\w+)(\s*-?)$")
_ACTION = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
_AUTOMATION_FIELD = re.compile(r"\.AutomationObject\.(Name|Namespace)\b")
_PARSE_ERROR = re.compile(r"template: [^:]*:\d+: ")


def _change(change: Change) -> dict[str, str]:
    return {"OldValue": change.old_value, "NewValue": change.new_value, "Setter": change.setter}


def _ident(obj: ObjectId) -> dict[str, str]:
    return {"APIVersion": obj.api_version, "Kind": obj.kind, "Name": obj.name,
            "Namespace": obj.namespace}


def _entries(by_object: dict[ObjectId, list[Any]]) -> list[dict[str, Any]]:
    return [{"Object": {**_ident(obj), "_go": obj.go_string()}, "Value": values}
            for obj, values in sorted(by_object.items())]


def _objects(by_object: dict[ObjectId, list[Any]]) -> dict[str, Any]:
    """``Objects`` keyed by Go's printed identifier, plus ``ObjectList`` for the range rewrite."""
    ordered = sorted(by_object.items())
    return {
        "Objects": {obj.go_string(): values for obj, values in ordered},
        "ObjectList": _entries(by_object),
    }


def _unique(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))


def template_data(namespace: str, name: str, result: Result,
                  values: dict[str, str] | None) -> dict[str, Any]:
    """The data ``.`` a commit template sees (both shapes, see the module docs)."""
    file_changes = {
        file: {obj.go_string(): [_change(c) for c in changes]
               for obj, changes in sorted(objects.items())}
        for file, objects in sorted(result.file_changes.items())
    }
    changed: dict[str, Any] = {
        "FileChanges": file_changes,
        "FileChangeLists": {
            file: _entries({obj: [_change(c) for c in changes] for obj, changes in objects.items()})
            for file, objects in result.file_changes.items()
        },
        "Changes": [_change(c) for c in result.changes()],
        **_objects({obj: [_change(c) for c in changes]
                    for obj, changes in result.objects().items()}),
    }
    updated_files: dict[str, Any] = {}
    updated_objects: dict[ObjectId, list[str]] = {}
    images: list[str] = []
    for file, objects in sorted(result.file_changes.items()):
        per_object: dict[ObjectId, list[str]] = {}
        for obj, changes in sorted(objects.items()):
            refs = _unique([result.images[c.setter] for c in changes])
            per_object[obj] = refs
            updated_objects[obj] = _unique([*updated_objects.get(obj, []), *refs])
            images.extend(refs)
        updated_files[file] = _objects(per_object)
    updated: dict[str, Any] = {
        "Images": _unique(images),
        "Files": updated_files,
        **_objects(updated_objects),
    }
    changed["ImageResult"] = updated
    return {
        "AutomationObject": f"{namespace}/{name}",
        "_AutomationObject": {"Namespace": namespace, "Name": name},
        "Values": dict(values or {}),
        "Changed": changed,
        "Updated": updated,
    }


def _entry_range(trim_left: str, key: str, value: str, source: str, trim_right: str) -> str:
    entry = "$__sluice_entry"
    return (f"{{{{{trim_left}range {entry} := {source}}}}}"
            f"{{{{{key} := {entry}.Object}}}}"
            f"{{{{{value} := {entry}.Value{trim_right}}}}}")


def rewrite_template(template: str) -> str:
    """Adjust `template`'s actions to the JSON-shaped data (see the module docs)."""
    identifiers: set[str] = set()
    file_maps: dict[str, tuple[str, str]] = {}  # $objs -> ($file, $lists)

    def action(match: re.Match[str]) -> str:
        body = match.group(1)
        ranged = _RANGE.match(body)
        if ranged is not None:
            trim_l, key, value, expr, field, trim_r = ranged.groups()
            if field == "Objects":
                identifiers.add(key)
                return _entry_range(trim_l, key, value, f"{expr}ObjectList", trim_r)
            # The file -> entries lists, taken where `expr` means what it says.
            lists = f"$__sluice_files{len(file_maps)}"
            file_maps[value] = (key, lists)
            return (f"{{{{{trim_l}{lists} := {expr}FileChangeLists}}}}"
                    f"{{{{range {key}, {value} := {expr}FileChanges{trim_r}}}}}")
        over_var = _VAR_RANGE.match(body)
        if over_var is not None and over_var.group(4) in file_maps:
            trim_l, key, value, var, trim_r = over_var.groups()
            file, lists = file_maps[var]
            identifiers.add(key)
            return _entry_range(trim_l, key, value, f"index {lists} {file}", trim_r)
        body = _AUTOMATION_FIELD.sub(r"._AutomationObject.\1", body)
        for name in identifiers:
            # a bare identifier (not `$id.Field`, not declared): Go's printed form
            body = re.sub(re.escape(name) + r"\b(?![.\w])(?!\s*(?::?=|,))", name + "._go", body)
        return "{{" + body + "}}"

    return _ACTION.sub(action, template)


async def render_message(template: str | None, data: dict[str, Any]) -> str:
    """The commit message (Flux's default for an empty template).

    Raises:
        TemplateFailed: the template does not parse or fails while running.
    """
    if not template:
        return DEFAULT_COMMIT_MESSAGE
    try:
        return await gotemplate.render_async(rewrite_template(template), data,
                                             name=TEMPLATE_NAME)
    except gotemplate.TemplateError as err:
        text = str(err)
        if _PARSE_ERROR.match(text):
            raise TemplateFailed(
                f"unable to create commit message template from spec: {text}") from None
        raise TemplateFailed(f"failed to run template from spec: {text}") from None
