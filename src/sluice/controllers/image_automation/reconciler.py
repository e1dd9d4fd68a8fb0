"""The ImageUpdateAutomation reconciler: policies in, a commit pushed to Git.

image-automation-controller's run, in its order and with its status:

1. deleted object -> drop the ``finalizers.fluxcd.io`` finalizer (nothing
   else to clean up); add it otherwise; ``spec.suspend`` stops here;
2. ``Reconciling`` ``reconciliation in progress``; ``lastAutomationRunTime``;
3. *policies* (`policies`): those in the namespace matching
   ``policySelector`` that have a ``latestRef``;
4. *source* (`source`): the GitRepository, its Secret, the branches; the
   commit signing key, checked before any clone (`signing`);
5. *short-circuit*: same policies as last time, not switching branches, no
   refspec, and the checkout ref still at ``observedSourceRevision`` (one
   ls-remote) -> nothing to do, no clone (Flux's "no change since last
   reconciliation");
6. *checkout* of the ref into a temporary directory through `sluice.git`
   (worker processes with the source's timeout) -> ``GitOperationFailed``
   ``failed to checkout source: ...``;
7. *setters* over ``update.path`` (`setters`) -> ``UpdateFailed``
   ``failed to apply policies: ...``; no change -> ``repository up-to-date``;
   with a push branch of its own that already exists, the update is made
   on that branch's tip instead (Flux's switch to the push branch);
8. *commit and push*: message from the template (`message`), author from
   the spec, an OpenPGP or SSH signature with ``signingKey``, push to the push branch (plus ``push.refspec`` and
   ``push.options``). A push rejected because the branch moved is retried on
   the new tip by checking it out again and re-running the setters there
   (never forced, except Flux's switch-branch push);
   ``failed to update source: ...`` on failure. In pull-request mode the
   branch is then proposed for merging (`pullrequest`);
9. after a push: ``lastPushCommit``, ``lastPushTime``, the event ``pushed
   commit '<short>' to branch '<b>'\\n<message>``, and the GitRepository is
   annotated with ``reconcile.fluxcd.io/requestedAt`` so the new commit
   reaches the cluster within seconds rather than at its next interval;
10. ``observedSourceRevision`` and ``observedPolicies``, ``Ready=True
    Succeeded`` ``repository up-to-date``, requeue after ``spec.interval``.

Failures leave ``Ready=False`` with the step's reason and message and a
Warning event; configuration errors stall (``Stalled=True``, no retry until
the spec changes), others are retried with backoff.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sluice.api.image import AUTOMATION, ImageRef, ImageUpdateAutomation
from sluice.api.meta import (
    PROGRESSING,
    READY,
    RECONCILE_REQUEST_ANNOTATION,
    RECONCILING,
    STALLED,
    SUCCEEDED,
)
from sluice.controllers.image_automation import pullrequest
from sluice.controllers.image_automation.errors import (
    AutomationError,
    GitFailed,
    TemplateFailed,
    UpdateError,
)
from sluice.controllers.image_automation.message import render_message, template_data
from sluice.controllers.image_automation.policies import select_policies
from sluice.controllers.image_automation.setters import Result as SetterResult
from sluice.controllers.image_automation.setters import apply_setters
from sluice.controllers.image_automation.signing import signing_key
from sluice.controllers.image_automation.source import GitSource, resolve_source
from sluice.core.durations import SECOND, DurationError, parse_duration
from sluice.git import (
    Author,
    CommitSigner,
    GitError,
    GitRef,
    RefNotFound,
    checkout,
    commit_and_push,
    remote_revision,
)
from sluice.kube.errors import KubeError
from sluice.kube.events import EventRecorder
from sluice.kube.mapping import ResourceMapping
from sluice.kube.objects import Obj, Objects
from sluice.runtime import conditions
from sluice.runtime.informer import Informer
from sluice.runtime.reconciler import Request, Result, TerminalError
from sluice.runtime.status import (
    StatusPatcher,
    has_finalizer,
    is_deleting,
    is_suspended,
    record_reconcile_request,
)

__all__ = ["KIND", "AutomationOptions", "ImageUpdateAutomationReconciler"]

log = logging.getLogger("sluice.controllers.image_automation")

KIND = "ImageUpdateAutomation"
UP_TO_DATE = "repository up-to-date"
NO_CHANGE = "no change since last reconciliation"


@dataclass
class AutomationOptions:
    """image-automation-controller's flags (Flux's names in comments)."""

    # --concurrent (None: the manager's setting)
    concurrent: int | None = None
    # --no-cross-namespace-refs
    no_cross_namespace_refs: bool = False
    # Pushes made when the remote branch keeps moving under us.
    push_attempts: int = 3
    # Forge API settings for the pull-request mode (tests point it at a fixture).
    forge: pullrequest.ForgeOptions = field(default_factory=pullrequest.ForgeOptions)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _interval(auto: ImageUpdateAutomation) -> float:
    try:
        return max(parse_duration(auto.spec.interval) / SECOND, 1.0)
    except DurationError:
        return 600.0


def _observed(policies: dict[tuple[str, str], ImageRef]) -> dict[str, ImageRef]:
    return {name: ref for (_, name), ref in policies.items()}


def _same_policies(before: dict[str, ImageRef] | None, after: dict[str, ImageRef]) -> bool:
    def plain(refs: dict[str, ImageRef] | None) -> dict[str, Any]:
        return {k: v.to_dict() for k, v in (refs or {}).items()}

    return plain(before) == plain(after)


class ImageUpdateAutomationReconciler:
    """Reconciles ImageUpdateAutomation objects into commits."""

    def __init__(self, informer: Informer, policies: Informer, repositories: Informer,
                 objects: Objects, secrets: ResourceMapping, recorder: EventRecorder,
                 patcher: StatusPatcher, options: AutomationOptions | None = None) -> None:
        self.informer = informer
        self.policies = policies
        self.repositories = repositories
        self.objects = objects
        self.secrets = secrets
        self.recorder = recorder
        self.patcher = patcher
        self.options = options or AutomationOptions()

    # --------------------------------------------------------------- reconcile
    async def reconcile(self, request: Request) -> Result:
        raw = self.informer.get(request.namespace, request.name)
        if raw is None:
            return Result()
        auto = ImageUpdateAutomation.from_dict(raw)
        if is_deleting(auto):
            if has_finalizer(auto):
                await self.patcher.remove_finalizer(auto)
            return Result()
        if not has_finalizer(auto):
            await self.patcher.add_finalizer(auto)
        before = auto.status.to_dict()
        if is_suspended(auto):
            record_reconcile_request(auto)
            await self.patcher.patch_status(auto, before)
            log.info("%s %s: reconciliation is suspended for this object", KIND, request)
            return Result(outcome="suspended")

        status, gen = auto.status, auto.metadata.generation
        was_ready = conditions.is_ready(status)
        previous = status.condition(READY)
        previous_message = previous.message if previous is not None else ""
        conditions.mark_progressing(status, PROGRESSING, "reconciliation in progress", gen)
        try:
            summary = await self._run(auto)
        except AutomationError as exc:
            if exc.stalled:
                conditions.mark_stalled(status, exc.reason, exc.message, gen)
                status.observed_generation = gen
            else:
                conditions.mark_retrying(status)
            conditions.mark_false(status, READY, exc.reason, exc.message, gen)
            record_reconcile_request(auto)
            await self.patcher.patch_status(auto, before)
            await self.recorder.warning(auto.to_dict(), exc.reason, exc.message)
            log.info("%s %s: %s", KIND, request, exc.message)
            if exc.stalled:
                raise TerminalError(exc.message) from None
            raise
        conditions.delete(status, RECONCILING)
        conditions.delete(status, STALLED)
        conditions.mark_true(status, READY, SUCCEEDED, UP_TO_DATE, gen)
        status.observed_generation = gen
        record_reconcile_request(auto)
        await self.patcher.patch_status(auto, before)
        if summary:
            await self.recorder.normal(auto.to_dict(), SUCCEEDED, summary)
        elif not was_ready or previous_message != UP_TO_DATE:
            await self.recorder.normal(auto.to_dict(), SUCCEEDED, UP_TO_DATE)
        return Result(requeue_after=_interval(auto))

    async def _run(self, auto: ImageUpdateAutomation) -> str:
        """One automation run; returns the push event's message ("" when nothing was pushed)."""
        status = auto.status
        status.last_automation_run_time = _now()
        selected = select_policies(self.policies, auto.namespace, auto.spec.policy_selector)
        observed = _observed(selected)
        source = await resolve_source(auto, self.repositories, self.objects, self.secrets,
                                      no_cross_namespace_refs=self.options.no_cross_namespace_refs)
        signing = await signing_key(auto, self.objects, self.secrets)
        push = auto.spec.git.push if auto.spec.git is not None else None
        refspec = (push.refspec if push is not None else None) or ""
        key = f"{KIND}/{auto.namespace}/{auto.name}"

        # Flux's "sync needed" test: a new generation, other policies, a switch
        # branch or a refspec always mean a full run.
        if (status.observed_generation == auto.metadata.generation
                and _same_policies(status.observed_policies, observed)
                and not source.switch_branch and not refspec
                and status.observed_source_revision):
            try:
                head = await remote_revision(source.url, source.checkout, source.auth,
                                             timeout=source.timeout, key=key)
            except GitError as exc:
                raise GitFailed(f"failed to checkout source: {exc.message}", exc.reason
                                ) from None
            if head == status.observed_source_revision:
                await self.recorder.trace(auto.to_dict(), SUCCEEDED, NO_CHANGE)
                return ""

        workdir = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="sluice-iua-"))
        try:
            return await self._update(auto, source, selected, observed, workdir / "tree", key,
                                      signing)
        finally:
            await asyncio.to_thread(shutil.rmtree, workdir, True)

    async def _update(self, auto: ImageUpdateAutomation, source: GitSource,
                      selected: dict[tuple[str, str], ImageRef], observed: dict[str, ImageRef],
                      tree: Path, key: str, signing: CommitSigner | None) -> str:
        status = auto.status
        git = auto.spec.git
        assert git is not None  # resolve_source refused it otherwise
        try:
            commit = await checkout(source.url, source.checkout, source.auth, tree,
                                    source.timeout, key=key)
            if source.switch_branch:
                tree = await self._push_branch_tree(source, tree, key)
        except GitError as exc:
            raise GitFailed(f"failed to checkout source: {exc.message}", exc.reason) from None

        update_path = auto.spec.update.path if auto.spec.update is not None else None
        result = await self._apply(tree, update_path, selected)
        if not result:
            status.observed_source_revision = commit.revision
            status.observed_policies = observed
            return ""

        data = template_data(auto.namespace, auto.name, result,
                             git.commit.message_template_values)
        try:
            message = await render_message(git.commit.message_template, data)
        except TemplateFailed as exc:
            raise TemplateFailed(f"failed to update source: {exc.message}") from None
        author = Author(git.commit.author.name or "", git.commit.author.email)
        push = git.push
        refspecs = (push.refspec,) if push is not None and push.refspec else ()
        # go-git sends each option as `key=value`, an empty value included
        # (`merge_request.create=`); sorted here, where Go's map order is random.
        options = tuple(f"{k}={v}" for k, v in sorted(
            ((push.options or {}) if push is not None else {}).items()))

        async def reapply(fresh: Path) -> bool:
            # The branch moved: redo the edit on its new tip, as a person would.
            return bool(await self._apply(fresh, update_path, selected))

        try:
            pushed = await commit_and_push(
                tree, source.url, source.auth, branch=source.push_branch, message=message,
                author=author, force=source.switch_branch, refspecs=refspecs,
                push_options=options, timeout=source.timeout,
                attempts=self.options.push_attempts, reapply=reapply, signing=signing, key=key)
        except GitError as exc:
            raise GitFailed(f"failed to update source: {exc.message}", exc.reason) from None
        if not pushed.pushed:
            # Someone else made the same change first: nothing left to push.
            status.observed_source_revision = (f"{source.push_branch}@sha1:{pushed.base}"
                                               if pushed.base else commit.revision)
            status.observed_policies = observed
            return ""

        status.last_push_commit = pushed.commit
        status.last_push_time = _now()
        status.observed_source_revision = (
            commit.revision if source.switch_branch
            else f"{source.push_branch}@sha1:{pushed.commit}")
        status.observed_policies = observed
        summary = f"pushed commit '{pushed.commit[:7]}' to branch '{source.push_branch}'"
        if refspecs:
            summary += " and refspecs " + ", ".join(f"'{r}'" for r in refspecs)
        await self._request_source_reconcile(source)
        if pullrequest.enabled(auto):
            summary += await pullrequest.propose(auto, source, message, self.options.forge)
        return f"{summary}\n{message}"

    async def _push_branch_tree(self, source: GitSource, tree: Path, key: str) -> Path:
        """Where a switch-branch update is made: the push branch's tip when it exists.

        Flux (GitAllBranchReferences, on by default) fetches every branch and
        switches to the push branch when the remote has it, so the setters
        run on that branch and the commit goes on top of whatever it already
        holds (earlier updates, a person's fix on a pull-request branch);
        only a push branch that does not exist yet starts from the checkout
        commit (`tree`).
        """
        pushed = tree.parent / "push-branch"
        try:
            await checkout(source.url, GitRef(branch=source.push_branch), source.auth, pushed,
                           source.timeout, key=key)
        except RefNotFound:
            await asyncio.to_thread(shutil.rmtree, pushed, True)
            return tree
        return pushed

    async def _apply(self, tree: Path, path: str | None,
                     selected: dict[tuple[str, str], ImageRef]) -> SetterResult:
        try:
            return await asyncio.to_thread(apply_setters, tree, path, selected)
        except UpdateError as exc:
            raise UpdateError(f"failed to apply policies: {exc.message}") from None
        except OSError as exc:
            raise UpdateError(f"failed to apply policies: {exc.strerror or exc}") from None

    async def _request_source_reconcile(self, source: GitSource) -> None:
        """Ask the source controller to fetch the new commit now (requestedAt)."""
        stamp = datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
        patch: Obj = {"metadata": {"annotations": {RECONCILE_REQUEST_ANNOTATION: stamp}}}
        try:
            await self.objects.merge_patch(self.repositories.mapping, source.name, patch,
                                           source.namespace, field_manager=AUTOMATION)
        except KubeError as exc:
            # The push happened; the source will see it at its next interval.
            log.warning("cannot request a reconcile of GitRepository %s/%s: %s",
                        source.namespace, source.name, exc.message)
