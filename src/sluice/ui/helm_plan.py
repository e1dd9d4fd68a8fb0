"""A HelmRelease's plan: what its next upgrade would change, before it runs.

The same steps ``sluice diff helmrelease`` takes, from
`controllers.helmrelease.preview`: the values composed by helm-controller's
own `compose_values`, the source's chart artifact rendered by Helm with them
against the cluster (``lookup`` with the UI's credentials, the cluster's
capabilities, the next revision; hooks left out, post-renderers applied),
then dry-run with server-side apply
against the live objects; objects of the current release the new render no
longer has are listed as deleted. Nothing is written.

Secrets. The render needs the real values, so a value held in a
``valuesFrom`` Secret can land in plain sight: an env var, a ConfigMap, a
label. The diff masks Secret objects, not those. So the plan also collects
every value that came from a Secret, found by composing the values a second
time with each Secret scalar masked (`release.masked_values`): a leaf masked
there holds a Secret's value in the real composition. The value the current
release got at the same place (Helm's stored ``config``) joins them, for the
``-`` side of a rotated password. The fragment scrubs those strings
(`Plan.secrets`, at least `redact.MIN_SECRET` long) from this plan only;
they are not remembered for other pages (a Secret's value "podinfo" must not
blank the word everywhere).

On a real cluster the chart's artifact URL is the source-controller
Service's address, which the machine running the UI may not reach: that is
reported as such, like any other reason there is no plan.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from sluice.api.helm import HelmRelease
from sluice.controllers.helmrelease.errors import StorageError, ValuesError
from sluice.controllers.helmrelease.preview import (
    PreviewError,
    chart_source,
    current_release,
    diff_next_release,
)
from sluice.controllers.helmrelease.values import compose_values
from sluice.kube.errors import KubeError
from sluice.kube.objects import Obj, Objects
from sluice.ui.plan import Plan
from sluice.ui.redact import MASK, MIN_SECRET
from sluice.ui.release import masked_values

__all__ = ["plan_helmrelease", "secret_leaves"]

DOWNLOAD_TIMEOUT = 20.0
Path = tuple[str | int, ...]


def _leaves(value: Any, at: Path = ()) -> Iterator[tuple[Path, Any]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _leaves(item, (*at, str(key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _leaves(item, (*at, index))
    else:
        yield at, value


def _at(value: Any, path: Path) -> Any:
    for part in path:
        if isinstance(value, dict) and isinstance(part, str):
            value = value.get(part)
        elif isinstance(value, list) and isinstance(part, int) and part < len(value):
            value = value[part]
        else:
            return None
    return value


def secret_leaves(masked: Any, *others: Any) -> list[str]:
    """The scalars of ``others`` found where ``masked`` holds `MASK` (as text, long enough)."""
    out: dict[str, None] = {}
    for path, leaf in _leaves(masked):
        if leaf != MASK:
            continue
        for other in others:
            found = _at(other, path)
            for _, value in _leaves(found) if isinstance(found, (dict, list)) else [((), found)]:
                if value is None or isinstance(value, bool):
                    continue
                text = str(value).strip()
                if len(text) >= MIN_SECRET:
                    out[text] = None
    return list(out)


async def _secret_values(objects: Objects, hr: HelmRelease, obj: Mapping[str, Any],
                         values: dict[str, Any]) -> list[str]:
    masked = await masked_values(objects, hr, [])
    try:
        stored = await current_release(objects, obj)
    except StorageError:
        stored = None
    config = (stored.release.get("config") if stored is not None else None) or {}
    return secret_leaves(masked, values, config)


async def plan_helmrelease(objects: Objects, obj: Mapping[str, Any],
                           source: Mapping[str, Any] | None) -> Plan:
    """The plan of ``obj``'s next release; ``source``: its chart's source, as the UI sees it."""
    try:
        hr = HelmRelease.from_dict(dict(obj))
        chart_source(hr, obj)
    except (KeyError, TypeError, ValueError) as exc:
        return Plan(problem=f"invalid HelmRelease: {exc}")
    except PreviewError as exc:
        return Plan(problem=exc.message)
    revision = str((((source or {}).get("status") or {}).get("artifact") or {})
                   .get("revision") or "")

    async def fetch(kind: str, namespace: str, name: str) -> Obj | None:
        mapping = await objects.mapping("v1", kind)
        return await objects.get_or_none(mapping, name, namespace)

    try:
        values = await compose_values(hr, fetch)
        secrets = await _secret_values(objects, hr, obj, values)
    except ValuesError as exc:
        return Plan(revision=revision, problem=exc.message)
    except KubeError as exc:
        return Plan(revision=revision, problem=f"cannot read the values sources: {exc}")
    try:
        report = await diff_next_release(objects, obj, values,
                                         download_timeout=DOWNLOAD_TIMEOUT)
    except PreviewError as exc:
        problem = exc.message
        if problem.startswith("failed to download artifact"):
            problem = f"cannot download the chart from here: {problem}"
        return Plan(revision=revision, problem=problem, secrets=secrets)
    return Plan(revision=revision, report=report, lines=report.render().splitlines(),
                secrets=secrets)
