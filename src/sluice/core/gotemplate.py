"""Go ``text/template`` + sprig rendering, through Helm's own template engine.

Flux renders image-automation commit messages and (in some providers)
notification texts with Go's ``text/template`` and sprig. Users copy those
templates from Flux's docs and tutorials, so Sluice must run the *real*
engine, not a look-alike: ``helm_python`` carries Helm's engine (Go
``text/template`` + sprig) behind a C ABI, and template errors come back as
Python exceptions instead of aborting the process (the cgo template packages
on PyPI panic or ``log.Fatal`` on a bad template; see
shared/reference/dependency-trials.md).

How: the template becomes ``templates/_<name>.tpl`` of a throw-away chart
built in memory, and a second template runs it with
``{{ template "<that file>" .Values }}``. Running it through ``template``
(rather than ``with .Values``) makes both ``.`` *and* ``$`` the caller's data,
as in Go, and lets the user's template ``define`` its own blocks. The data
must be JSON-shaped (dicts with string keys, lists, strings, numbers, bools),
so anything that is a Go struct with a ``String()`` method upstream must be
passed already formatted by the caller.

Differences from plain Go + Flux's hermetic sprig, all inherited from Helm:
a missing map key renders as an empty string (Helm's ``missingkey=zero`` and
``<no value>`` removal), ``env``/``expandenv`` are not defined, and Helm's
extras (``include``, ``tpl``, ``required``, ``toYaml``...) exist.

Errors are normalised to Go's own one-line shape, naming the template by the
caller's ``name`` (``template: commit message:1:11: executing "commit
message" at <.Foo.x>: can't evaluate field x in type interface {}``) and
never the chart's internal paths.

``render`` is synchronous and blocks for the native call: callers run it in
a bounded worker thread (``render_async`` does that). The native call cannot
be interrupted, so a template that loops for very long holds its worker.
"""

from __future__ import annotations

import asyncio
import functools
import io
import re
import tarfile
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

__all__ = ["TemplateError", "render", "render_async"]

_CHART = "sluice-template"
_RUNNER = "templates/render.txt"
_CHART_YAML = f"apiVersion: v2\nname: {_CHART}\nversion: 0.0.0\n".encode()

# Helm's native calls are thread-safe, but each render holds its thread until
# the native call returns; a small pool of its own keeps a burst of renders
# from taking the default executor's threads (git and SQLite work share it).
_EXECUTOR = ThreadPoolExecutor(max_workers=2, thread_name_prefix="sluice-gotemplate")


class TemplateError(ValueError):
    """The template does not parse, or failed while executing.

    ``str(error)`` is one line in Go's format, naming the template by the
    name the caller gave (for example ``commit message``).
    """


def _archive(name: str, template: str) -> tuple[bytes, str]:
    """A gzipped chart holding the template and its runner; returns (bytes, template path)."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "template"
    path = f"{_CHART}/templates/_{safe}.tpl"
    runner = '{{- template "' + path + '" .Values -}}'
    files = {
        "Chart.yaml": _CHART_YAML,
        path.removeprefix(f"{_CHART}/"): template.encode(),
        _RUNNER: runner.encode(),
    }
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", compresslevel=1) as archive:
        for member, content in files.items():
            info = tarfile.TarInfo(f"{_CHART}/{member}")
            info.size = len(content)
            info.mode = 0o644
            archive.addfile(info, io.BytesIO(content))
    return buf.getvalue(), path


def _go_error(raw: str, path: str, name: str) -> str:
    """Helm's multi-line render error as Go's one-line ``template: ...`` message."""
    text = re.sub(r"\s*\n\s*", " ", raw.replace(path, name)).strip()
    # Helm's three shapes: "parse error at (file:line): msg",
    # "execution error at (file:line:col): msg" (from `fail`), and
    # "file:line:col executing "file" at <x>: msg".
    m = re.match(r"^(?:parse|execution) error at \(([^()]*)\): (.*)$", text, re.S)
    if m:
        return f"template: {m.group(1)}: {m.group(2)}"
    m = re.match(r"^(.*?:\d+(?::\d+)?) (executing .*)$", text, re.S)
    if m:
        return f"template: {m.group(1)}: {m.group(2)}"
    return text if text.startswith("template:") else f"template: {name}: {text}"


def render(template: str, data: Mapping[str, Any], *, name: str = "template") -> str:
    """Render ``template`` with ``data`` as ``.`` and ``$``; blocking.

    Raises:
        TemplateError: the template does not parse or fails while executing,
            or ``data`` is not JSON-shaped.
    """
    import helm_python  # imported here: loading the native library costs ~0.1 s

    archive, path = _archive(name, template)
    try:
        chart = helm_python.Chart.load_archive(archive)
    except helm_python.HelmError as err:  # pragma: no cover - our chart is valid
        raise TemplateError(f"template: {name}: {err}") from None
    try:
        rendered = chart.render(dict(data))
    except helm_python.HelmError as err:
        raise TemplateError(_go_error(str(err), path, name)) from None
    except (TypeError, ValueError) as err:
        raise TemplateError(f"template: {name}: data is not JSON-shaped: {err}") from None
    finally:
        chart.close()
    return rendered.get(f"{_CHART}/{_RUNNER}", "")


async def render_async(template: str, data: Mapping[str, Any], *, name: str = "template") -> str:
    """``render`` in this module's small worker pool (two threads)."""
    loop = asyncio.get_running_loop()
    call = functools.partial(render, template, data, name=name)
    return await loop.run_in_executor(_EXECUTOR, call)
