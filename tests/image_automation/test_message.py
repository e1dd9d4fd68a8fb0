"""Commit-message templates: Flux's v1 data and the older ``.Updated``, rendered by Go's engine."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from sluice.api.image import ImageRef
from sluice.controllers.image_automation.errors import TemplateFailed
from sluice.controllers.image_automation.message import render_message, template_data
from sluice.controllers.image_automation.setters import Result, apply_setters

GOLDEN = Path(__file__).parent / "golden" / "setters"
AGNHOST = ImageRef(name="registry.k8s.io/e2e-test-images/agnhost", tag="2.10")

# The example of Flux's ImageUpdateAutomation docs (v1 data).
FLUX_DOCS = """Automated image update

Automation name: {{ .AutomationObject }}

Files:
{{ range $filename, $_ := .Changed.FileChanges -}}
- {{ $filename }}
{{ end -}}

Objects:
{{ range $resource, $changes := .Changed.Objects -}}
- {{ $resource.Kind }} {{ $resource.Name }}
  Changes:
{{- range $_, $change := $changes }}
    - {{ $change.OldValue }} -> {{ $change.NewValue }}
{{ end -}}
{{ end -}}
"""

FLUX_DOCS_RENDERED = """\
Automated image update

Automation name: flux-system/agnhost

Files:
- kustomization.yml
- mixed.yaml
Objects:
-  ␣
  Changes:
    - ghcr.io/old/agnhost -> registry.k8s.io/e2e-test-images/agnhost

    - 2.39 -> 2.10

    - registry.k8s.io/e2e-test-images/agnhost:2.39 -> registry.k8s.io/e2e-test-images/agnhost:2.10
- Deployment agnhost
  Changes:
    - registry.k8s.io/e2e-test-images/agnhost:2.39 -> registry.k8s.io/e2e-test-images/agnhost:2.10

    - 2.39 -> 2.10
- Kustomization ␣
  Changes:
    - ghcr.io/old/agnhost -> registry.k8s.io/e2e-test-images/agnhost

    - 2.39 -> 2.10
""".replace(" ␣", " ")  # trailing spaces: Go prints the empty name and namespace


@pytest.fixture
def result(tmp_path: Path) -> Result:
    shutil.copytree(GOLDEN / "original", tmp_path / "apps")
    (tmp_path / "apps" / "already.yaml").unlink()
    return apply_setters(tmp_path, "apps", {("agnhost", "agnhost"): AGNHOST})


async def test_seed_template_lists_each_image_once(result: Result) -> None:
    data = template_data("flux-system", "agnhost", result, None)
    message = await render_message("{{range .Updated.Images}}{{println .}}{{end}}", data)
    assert message == "registry.k8s.io/e2e-test-images/agnhost:2.10\n"


async def test_flux_docs_template_with_v1_data(result: Result) -> None:
    data = template_data("flux-system", "agnhost", result, None)
    assert await render_message(FLUX_DOCS, data) == FLUX_DOCS_RENDERED


async def test_updated_files_objects_and_values(result: Result) -> None:
    template = (
        "{{ .Values.team }}: {{ len .Changed.Changes }} changes\n"
        "{{ range $file, $res := .Updated.Files }}{{ $file }}:"
        "{{ range $obj, $images := $res.Objects }} {{ $obj.Kind | default \"-\" }}="
        "{{ join \",\" $images }}{{ end }}\n{{ end }}"
        "{{ range $obj, $_ := .Updated.Objects }}{{ $obj.APIVersion }}|{{ $obj.Name }}\n{{ end }}"
        "{{ range $key := keys .Updated.Objects | sortAlpha }}{{ $key }}\n{{ end }}"
    )
    data = template_data("flux-system", "agnhost", result, {"team": "platform"})
    assert await render_message(template, data) == (
        "platform: 3 changes\n"
        "kustomization.yml: Kustomization=registry.k8s.io/e2e-test-images/agnhost:2.10\n"
        "mixed.yaml: -=registry.k8s.io/e2e-test-images/agnhost:2.10"
        " Deployment=registry.k8s.io/e2e-test-images/agnhost:2.10\n"
        "|\napps/v1|agnhost\nkustomize.config.k8s.io/v1beta1|\n"
        "{{{ } { }}}\n"
        "{{{apps/v1 Deployment} {agnhost agnhost}}}\n"
        "{{{kustomize.config.k8s.io/v1beta1 Kustomization} { }}}\n"
    )


async def test_empty_template_is_flux_default(result: Result) -> None:
    data = template_data("flux-system", "agnhost", result, None)
    assert await render_message("", data) == "Update from image update automation"


@pytest.mark.parametrize(("template", "message"), [
    ("{{ range .Updated.Images }}", "unable to create commit message template from spec: "
     "template: commit message:1: unexpected EOF"),
    ("{{ .Changed.Changes.Nope.x }}", "failed to run template from spec: template: "
     "commit message:1:11: executing \"commit message\" at <.Changed.Changes.Nope.x>: "
     "can't evaluate field Nope in type interface {}"),
])
async def test_bad_templates_name_the_error(result: Result, template: str, message: str) -> None:
    data = template_data("flux-system", "agnhost", result, None)
    with pytest.raises(TemplateFailed) as err:
        await render_message(template, data)
    assert err.value.message == message


async def test_go_typed_values_read_as_in_flux(result: Result) -> None:
    # .AutomationObject is a NamespacedName (fields, and "ns/name" printed);
    # each file's object map ranges with identifier keys; a bare identifier
    # prints as Go prints it; .Changed.ImageResult is v1beta2's .Updated.
    template = (
        "{{ .AutomationObject.Namespace }}|{{ $.AutomationObject.Name }}|"
        "{{ .AutomationObject }}\n"
        "{{ range $f, $objs := .Changed.FileChanges }}{{ $f }}:"
        "{{ range $o, $cs := $objs }} {{ $o.Kind | default \"-\" }}={{ len $cs }}{{ end }}\n"
        "{{ end }}"
        "{{ range $r, $_ := .Changed.Objects }}{{ if $r.Name }}{{ $r }}{{ end }}{{ end }}\n"
        "{{ range .Changed.ImageResult.Images }}{{ . }}{{ end }}"
    )
    data = template_data("flux-system", "agnhost", result, None)
    assert await render_message(template, data) == (
        "flux-system|agnhost|flux-system/agnhost\n"
        "kustomization.yml: Kustomization=2\n"
        "mixed.yaml: -=3 Deployment=2\n"
        "{{{apps/v1 Deployment} {agnhost agnhost}}}\n"
        "registry.k8s.io/e2e-test-images/agnhost:2.10"
    )


GERRIT = """Perform automatic image update

Automation name: {{ .AutomationObject }}

{{- $ChangeId := .AutomationObject -}}
{{- $ChangeId = printf "%s%s" $ChangeId ( .Changed.FileChanges | toString ) -}}
{{- $ChangeId = printf "%s%s" $ChangeId ( .Changed.Objects | toString ) -}}
{{- $ChangeId = printf "%s%s" $ChangeId ( .Changed.Changes | toString ) }}
Change-Id: {{ printf "I%s" ( sha256sum $ChangeId | trunc 40 ) }}
"""

FILTERED = """{{ range $resource, $changes := .Changed.Objects -}}
{{ if $resource.Kind }}- {{ $resource.Kind | lower }} {{ $resource.Name | lower }}:
{{- range $_, $change := $changes }}
{{- if contains "2.10" $change.NewValue }} {{ $change.OldValue }} -> {{ $change.NewValue }}
{{- else }} [skip]{{ end }}{{ end }}
{{ end }}{{ end -}}"""


@pytest.mark.parametrize(("template", "message"), [
    # the examples of Flux's ImageUpdateAutomation docs
    ("Automated image update by Flux for cluster {{ .Values.cluster }}.",
     "Automated image update by Flux for cluster prod."),
    ("{{range .Changed.Changes}}{{print .OldValue}} -> {{println .NewValue}}{{end}}",
     "ghcr.io/old/agnhost -> registry.k8s.io/e2e-test-images/agnhost\n2.39 -> 2.10\n"
     "registry.k8s.io/e2e-test-images/agnhost:2.39 -> "
     "registry.k8s.io/e2e-test-images/agnhost:2.10\n"),
    (FILTERED, "- deployment agnhost: registry.k8s.io/e2e-test-images/agnhost:2.39 -> "
               "registry.k8s.io/e2e-test-images/agnhost:2.10 2.39 -> 2.10\n"
               "- kustomization : [skip] 2.39 -> 2.10\n"),
])
async def test_flux_docs_examples(result: Result, template: str, message: str) -> None:
    data = template_data("flux-system", "agnhost", result, {"cluster": "prod"})
    assert await render_message(template, data) == message


async def test_gerrit_change_id_is_stable_per_change(result: Result) -> None:
    data = template_data("flux-system", "agnhost", result, None)
    message = await render_message(GERRIT, data)
    head, change_id = message.rsplit("Change-Id: ", 1)
    assert head == "Perform automatic image update\n\nAutomation name: flux-system/agnhost\n"
    assert re.fullmatch(r"I[0-9a-f]{40}\n", change_id)
    assert await render_message(GERRIT, data) == message
    other = template_data("flux-system", "other", result, None)
    assert await render_message(GERRIT, other) != message
