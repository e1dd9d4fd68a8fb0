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

The data travels to Helm's engine as JSON (`sluice.core.gotemplate`), so Go
values with a ``String()`` method arrive already formatted
(``.AutomationObject``, each image), and maps keyed by an object identifier
are keyed by Go's ``fmt`` form of it (``{{{apps/v1 Deployment} {app ns}}}``,
what ``{{ $resource }}`` prints in Go). So that the documented
``{{ range $resource, $changes := .Changed.Objects }}{{ $resource.Kind }}``
still works, such a two-variable ``range`` over an ``.Objects`` map is
rewritten to walk a parallel list whose entries carry the identifier as a
map (``.APIVersion``, ``.Kind``, ``.Name``, ``.Namespace``), in Go's key
order.

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

__all__ = ["TEMPLATE_NAME", "render_message", "template_data"]

TEMPLATE_NAME = "commit message"

# `range $k, $v := <expr>.Objects` (trim markers kept where they were).
_OBJECTS_RANGE = re.compile(
    r"\{\{(-?\s*)range\s+(\$\w+)\s*,\s*(\$\w+)\s*:=\s*((?:\$\w*)?(?:\.\w+)*\.)Objects(\s*-?)\}\}"
)
_PARSE_ERROR = re.compile(r"template: [^:]*:\d+: ")


def _change(change: Change) -> dict[str, str]:
    return {"OldValue": change.old_value, "NewValue": change.new_value, "Setter": change.setter}


def _ident(obj: ObjectId) -> dict[str, str]:
    return {"APIVersion": obj.api_version, "Kind": obj.kind, "Name": obj.name,
            "Namespace": obj.namespace}


def _objects(by_object: dict[ObjectId, list[Any]]) -> dict[str, Any]:
    """``Objects`` keyed by Go's printed identifier, plus ``ObjectList`` for the range rewrite."""
    ordered = sorted(by_object.items())
    return {
        "Objects": {obj.go_string(): values for obj, values in ordered},
        "ObjectList": [{"Object": _ident(obj), "Value": values} for obj, values in ordered],
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
    return {
        "AutomationObject": f"{namespace}/{name}",
        "Values": dict(values or {}),
        "Changed": changed,
        "Updated": updated,
    }


def rewrite_object_ranges(template: str) -> str:
    """Make ``range $id, $v := X.Objects`` iterate entries whose ``$id`` has fields."""
    return _OBJECTS_RANGE.sub(
        lambda m: (
            f"{{{{{m.group(1)}range $__sluice_entry := {m.group(4)}ObjectList}}}}"
            f"{{{{{m.group(2)} := $__sluice_entry.Object}}}}"
            f"{{{{{m.group(3)} := $__sluice_entry.Value{m.group(5)}}}}}"
        ),
        template,
    )


async def render_message(template: str | None, data: dict[str, Any]) -> str:
    """The commit message (Flux's default for an empty template).

    Raises:
        TemplateFailed: the template does not parse or fails while running.
    """
    if not template:
        return DEFAULT_COMMIT_MESSAGE
    try:
        return await gotemplate.render_async(rewrite_object_ranges(template), data,
                                             name=TEMPLATE_NAME)
    except gotemplate.TemplateError as err:
        text = str(err)
        if _PARSE_ERROR.match(text):
            raise TemplateFailed(
                f"unable to create commit message template from spec: {text}") from None
        raise TemplateFailed(f"failed to run template from spec: {text}") from None
