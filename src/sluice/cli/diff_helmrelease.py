"""What ``sluice diff helmrelease NAME [--path CHART]`` compares: the next Helm release.

Flux has no such command; this one answers "what will this values change or
chart bump do to my cluster?" before it happens, with the same output and
exit code as ``sluice diff kustomization``:

1. the HelmRelease's values are composed as the controller composes them
   (`sluice.cli.helm_release.merged_values`);
2. the chart is ``--path`` (a chart directory or a packaged ``.tgz``) or,
   by default, the artifact of its source (the generated HelmChart, or the
   ``chartRef`` HelmChart/OCIRepository), downloaded and checked against the
   artifact digest; a source that is not ready fails with the controller's
   ``<Kind> '<ns>/<name>' is not ready: ...``; a chart from an OCIRepository
   gets the controller's ``<version>+<digest>`` (its templates see it);
3. Helm renders it against the cluster, as an install or upgrade would:
   ``lookup`` reads live objects (with the CLI's credentials), and
   ``.Capabilities`` carry the server's version and every served
   ``group/version`` and ``group/version/Kind`` (from discovery); with the
   release name, namespace and next revision the controller uses; hooks and
   ``NOTES.txt`` are dropped (Helm does not keep hooks as release objects),
   and the controller's post-renderer runs in-process (``postRenderers``,
   ``commonMetadata``, Flux's origin labels, and the release namespace when
   Helm's storage lives elsewhere);
4. every object is dry-run with server-side apply as field manager ``helm``
   (`sluice.kube.diff`, the code drift detection and ``diff kustomization``
   use) and compared with the live object; objects of the current release
   the new render no longer has are reported ``deleted`` (Helm removes them on
   upgrade).

The steps live in `sluice.controllers.helmrelease.preview`, shared with the
UI's HelmRelease plan; this module adds the CLI's connection and error words.

Secret values are masked (``*** (before)`` / ``*** (after)``). Exit code 1
when anything would change or an object cannot be applied. Chart CRDs
(``crds/``) are not diffed: Helm applies them by ``install.crds`` /
``upgrade.crds`` policy, outside the release manifest.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sluice.cli import kinds as k
from sluice.cli.clientctx import Client
from sluice.cli.failing import CommandError
from sluice.cli.helm_release import merged_values
from sluice.controllers.helmrelease.preview import (
    PreviewError,
    diff_next_release,
    render_next_release,
)
from sluice.kube.diff import DiffReport

__all__ = ["diff_release", "render_release"]

Obj = dict[str, Any]


async def render_release(client: Client, obj: Mapping[str, Any],
                         path: Path | None) -> list[Obj]:
    """The objects the next release of ``obj`` would hold (hooks left out)."""
    values = await merged_values(client, obj)
    try:
        return await render_next_release(client.objects, obj, values, path,
                                         download_timeout=client.timeout)
    except PreviewError as exc:
        raise CommandError(exc.message) from None


async def diff_release(client: Client, name: str, path: Path | None) -> DiffReport:
    """The diff report of HelmRelease ``name``'s next release (``path``: a local chart)."""
    obj = await client.get(k.HELM_RELEASE, name)
    values = await merged_values(client, obj)
    try:
        return await diff_next_release(client.objects, obj, values, path,
                                       download_timeout=client.timeout)
    except PreviewError as exc:
        raise CommandError(exc.message) from None
