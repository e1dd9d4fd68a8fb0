"""Go text/template + sprig rendering through Helm's engine (sluice.core.gotemplate)."""

from __future__ import annotations

import asyncio

import pytest

from sluice.core import gotemplate

SEED = "{{range .Updated.Images}}{{println .}}{{end}}"


def test_seed_template_prints_one_image_per_line() -> None:
    data = {"Updated": {"Images": ["registry.k8s.io/e2e-test-images/agnhost:2.10"]}}
    assert gotemplate.render(SEED, data) == "registry.k8s.io/e2e-test-images/agnhost:2.10\n"


def test_dollar_is_the_data_sprig_works_and_defines_are_allowed() -> None:
    tpl = (
        '{{ define "who" }}{{ .AutomationObject }}{{ end -}}'
        "Automation: {{ template \"who\" . }}\n"
        "{{ range $i, $v := $.Items }}- {{ $v | upper }}{{ if not (eq $i 1) }},{{ end }}\n{{ end }}"
        "{{ .Values.team | default \"none\" | quote }}  \n"
    )
    data = {"AutomationObject": "flux-system/apps", "Items": ["a", "b"], "Values": {}}
    # trailing spaces and blank lines are kept exactly: a commit message is byte-exact
    assert gotemplate.render(tpl, data) == (
        'Automation: flux-system/apps\n- A,\n- B\n"none"  \n'
    )


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{{ .Foo", "template: commit message:1: unclosed action"),
        ("x\n{{ nosuchfunc }}", 'template: commit message:2: function "nosuchfunc" not defined'),
        ("{{ env \"HOME\" }}", 'template: commit message:1: function "env" not defined'),
        ('{{ fail "no images" }}', "template: commit message:1:3: no images"),
        (
            "{{ .Updated.Images.x.y }}",
            'template: commit message:1:11: executing "commit message" at '
            "<.Updated.Images.x.y>: can't evaluate field x in type interface {}",
        ),
    ],
)
def test_errors_are_one_go_line_naming_the_template(template: str, message: str) -> None:
    with pytest.raises(gotemplate.TemplateError) as err:
        gotemplate.render(template, {"Updated": {"Images": []}}, name="commit message")
    assert str(err.value) == message
    assert "sluice-template" not in str(err.value)


async def test_async_renders_concurrently_in_workers() -> None:
    results = await asyncio.gather(
        *(gotemplate.render_async("{{ .n }}", {"n": i}) for i in range(8))
    )
    assert results == [str(i) for i in range(8)]
