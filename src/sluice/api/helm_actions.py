"""The actions of a ``helm.toolkit.fluxcd.io/v2`` HelmRelease: install, upgrade, test, rollback, uninstall.

``spec.install``, ``spec.upgrade``, ``spec.test``, ``spec.rollback``,
``spec.uninstall`` and ``spec.driftDetection`` of :class:`sluice.api.helm.HelmRelease`,
with Flux's field names, enums and the one CRD default among them
(``uninstall.deletionPropagation: background``): how long each Helm action
may take, what it skips, and how a failed install or upgrade is remediated
(retries, rollback or uninstall, ``RetryOnFailure``).
"""

from __future__ import annotations

from typing import Annotated

from sluice.api.meta import Duration, IgnoreRule
from sluice.api.schema import Model, S

__all__ = [
    "CRDS_POLICIES",
    "SSA_MODES",
    "ActionStrategy",
    "DriftDetection",
    "Filter",
    "Install",
    "InstallRemediation",
    "Rollback",
    "Test",
    "Uninstall",
    "Upgrade",
    "UpgradeRemediation",
]

CRDS_POLICIES = ("Skip", "Create", "CreateReplace")
SSA_MODES = ("enabled", "disabled", "auto")

TIMEOUT = S("Timeout of each Kubernetes operation of the action (spec.timeout when unset).")
DISABLE_WAIT = S("Do not wait for resources to be ready after the action.")
DISABLE_WAIT_FOR_JOBS = S("Do not wait for Jobs to complete after the action.")
DISABLE_HOOKS = S("Do not run hooks during the action.")
DISABLE_OPENAPI = S(
    "Do not validate rendered templates against the OpenAPI schema.",
    name="disableOpenAPIValidation",
)
DISABLE_SCHEMA = S("Do not validate values against the chart's JSON schema.")
DISABLE_TAKE_OWNERSHIP = S("Do not take ownership of existing resources.")


class InstallRemediation(Model):
    """What to do when an install fails."""

    retries: Annotated[int | None, S("Retries before giving up; negative is unlimited.")] = None
    ignore_test_failures: Annotated[
        bool | None, S("Do not remediate failed tests (test.ignoreFailures when unset).")
    ] = None
    remediate_last_failure: Annotated[
        bool | None, S("Remediate the last failure when no retries remain.")
    ] = None


class UpgradeRemediation(InstallRemediation):
    """What to do when an upgrade fails."""

    strategy: Annotated[
        str | None,
        S("Remediation action (rollback when unset).", enum=("rollback", "uninstall")),
    ] = None


class ActionStrategy(Model):
    """How failed actions are retried."""

    name: Annotated[
        str,
        S("Strategy name.", enum=("RemediateOnFailure", "RetryOnFailure")),
    ]
    retry_interval: Annotated[Duration | None, S("Delay before retrying with RetryOnFailure.")] = (
        None
    )


class Install(Model):
    """Configuration of Helm install actions."""

    timeout: Annotated[Duration | None, TIMEOUT] = None
    remediation: Annotated[InstallRemediation | None, S("Install failure remediation.")] = None
    strategy: Annotated[ActionStrategy | None, S("Retry strategy.")] = None
    disable_wait: Annotated[bool | None, DISABLE_WAIT] = None
    disable_wait_for_jobs: Annotated[bool | None, DISABLE_WAIT_FOR_JOBS] = None
    disable_hooks: Annotated[bool | None, DISABLE_HOOKS] = None
    disable_open_api_validation: Annotated[bool | None, DISABLE_OPENAPI] = None
    disable_schema_validation: Annotated[bool | None, DISABLE_SCHEMA] = None
    disable_take_ownership: Annotated[bool | None, DISABLE_TAKE_OWNERSHIP] = None
    replace: Annotated[bool | None, S("Reuse the name of a deleted release kept in history.")] = (
        None
    )
    skip_crds: Annotated[bool | None, S("Deprecated: use crds: Skip.", name="skipCRDs")] = None
    crds: Annotated[str | None, S("CRD policy (Create when unset).", enum=CRDS_POLICIES)] = None
    create_namespace: Annotated[bool | None, S("Create the target namespace if missing.")] = None
    server_side_apply: Annotated[bool | None, S("Apply with server-side apply.")] = None


class Upgrade(Model):
    """Configuration of Helm upgrade actions."""

    timeout: Annotated[Duration | None, TIMEOUT] = None
    remediation: Annotated[UpgradeRemediation | None, S("Upgrade failure remediation.")] = None
    strategy: Annotated[ActionStrategy | None, S("Retry strategy.")] = None
    disable_wait: Annotated[bool | None, DISABLE_WAIT] = None
    disable_wait_for_jobs: Annotated[bool | None, DISABLE_WAIT_FOR_JOBS] = None
    disable_hooks: Annotated[bool | None, DISABLE_HOOKS] = None
    disable_open_api_validation: Annotated[bool | None, DISABLE_OPENAPI] = None
    disable_schema_validation: Annotated[bool | None, DISABLE_SCHEMA] = None
    disable_take_ownership: Annotated[bool | None, DISABLE_TAKE_OWNERSHIP] = None
    force: Annotated[bool | None, S("Force resource updates through replacement.")] = None
    preserve_values: Annotated[
        bool | None, S("Reuse the last release's values and merge overrides.")
    ] = None
    cleanup_on_fail: Annotated[bool | None, S("Delete resources created by a failed upgrade.")] = (
        None
    )
    crds: Annotated[str | None, S("CRD policy (Skip when unset).", enum=CRDS_POLICIES)] = None
    server_side_apply: Annotated[str | None, S("Server-side apply mode.", enum=SSA_MODES)] = None
    chart_name_change_strategy: Annotated[
        str | None,
        S("What to do when the chart name changes.", enum=("InPlaceUpdate", "Reinstall")),
    ] = None


class Filter(Model):
    """A Helm test to run or exclude."""

    name: Annotated[str, S("Name of the test.", min_length=1, max_length=253)]
    exclude: Annotated[bool | None, S("Exclude the test instead of selecting it.")] = None


class Test(Model):
    """Configuration of Helm test actions."""

    __test__ = False  # not a pytest test class, despite the name

    enable: Annotated[bool | None, S("Run Helm tests after install and upgrade.")] = None
    timeout: Annotated[Duration | None, TIMEOUT] = None
    ignore_failures: Annotated[bool | None, S("Do not remediate failed tests.")] = None
    filters: Annotated[list[Filter] | None, S("Tests to run or exclude.")] = None


class Rollback(Model):
    """Configuration of Helm rollback actions."""

    timeout: Annotated[Duration | None, TIMEOUT] = None
    disable_wait: Annotated[bool | None, DISABLE_WAIT] = None
    disable_wait_for_jobs: Annotated[bool | None, DISABLE_WAIT_FOR_JOBS] = None
    disable_hooks: Annotated[bool | None, DISABLE_HOOKS] = None
    recreate: Annotated[bool | None, S("Restart pods of the resources.")] = None
    force: Annotated[bool | None, S("Force resource updates through replacement.")] = None
    cleanup_on_fail: Annotated[bool | None, S("Delete resources created by a failed rollback.")] = (
        None
    )
    server_side_apply: Annotated[str | None, S("Server-side apply mode.", enum=SSA_MODES)] = None


class Uninstall(Model):
    """Configuration of Helm uninstall actions."""

    timeout: Annotated[Duration | None, TIMEOUT] = None
    disable_hooks: Annotated[bool | None, DISABLE_HOOKS] = None
    keep_history: Annotated[bool | None, S("Keep the release history.")] = None
    disable_wait: Annotated[bool | None, S("Do not wait for resources to be deleted.")] = None
    deletion_propagation: Annotated[
        str | None,
        S(
            "Deletion propagation policy.",
            default="background",
            enum=("background", "foreground", "orphan"),
        ),
    ] = None


class DriftDetection(Model):
    """Detection and correction of changes made to the release's objects."""

    mode: Annotated[
        str | None,
        S("Drift handling (disabled when unset).", enum=("enabled", "warn", "disabled")),
    ] = None
    ignore: Annotated[list[IgnoreRule] | None, S("Changes to ignore.")] = None
