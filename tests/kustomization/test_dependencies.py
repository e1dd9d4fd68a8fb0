"""dependsOn rules, and what makes a Kustomization reconcile early (source and dependency watches)."""

from __future__ import annotations

from typing import Any

import pytest

from sluice.api.kustomize import Kustomization
from sluice.controllers.kustomization.dependencies import (
    DependencyNotReady,
    check_dependencies,
    dependency_keys,
)
from sluice.controllers.kustomization.watches import (
    DEPENDS_INDEX,
    SOURCE_INDEX,
    requests_for_dependents,
    requests_for_source,
    source_keys,
)
from sluice.runtime.reconciler import Request

REV = "main@sha1:" + "a" * 40
OLD = "main@sha1:" + "b" * 40


def ks(name: str, namespace: str = "apps", *, source: str = "fleet",
       source_ns: str | None = None, depends: list[dict[str, str]] | None = None,
       ready: str | None = "True", generation: int = 1, observed: int = 1,
       applied: str | None = REV, attempted: str | None = None) -> dict[str, Any]:
    ref: dict[str, str] = {"kind": "GitRepository", "name": source}
    if source_ns:
        ref["namespace"] = source_ns
    obj: dict[str, Any] = {
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
        "metadata": {"name": name, "namespace": namespace, "generation": generation},
        "spec": {"interval": "5m", "prune": True, "sourceRef": ref},
        "status": {"observedGeneration": observed},
    }
    if depends:
        obj["spec"]["dependsOn"] = depends
    if ready is not None:
        obj["status"]["conditions"] = [{"type": "Ready", "status": ready, "reason": "x",
                                        "message": "", "lastTransitionTime":
                                        "2024-01-01T00:00:00Z"}]
    if applied:
        obj["status"]["lastAppliedRevision"] = applied
    if attempted:
        obj["status"]["lastAttemptedRevision"] = attempted
    return obj


def lookup(*objects: dict[str, Any]) -> Any:
    table = {(o["metadata"]["namespace"], o["metadata"]["name"]): o for o in objects}
    return lambda ns, name: table.get((ns, name))


def check(obj: dict[str, Any], *deps: dict[str, Any], revision: str = REV) -> None:
    check_dependencies(Kustomization.from_dict(obj), lookup(*deps), revision)


def test_ready_dependencies_pass() -> None:
    app = ks("app", depends=[{"name": "infra"}, {"name": "crds", "namespace": "system"}])
    check(app, ks("infra"), ks("crds", "system", source="other"))


@pytest.mark.parametrize(("dep", "message"), [
    (None, "unable to get 'apps/infra' dependency: kustomizations.kustomize.toolkit.fluxcd.io "
           '"infra" not found'),
    (ks("infra", ready=None), "dependency 'apps/infra' is not ready"),
    (ks("infra", ready="False"), "dependency 'apps/infra' is not ready"),
    (ks("infra", ready="Unknown"), "dependency 'apps/infra' is not ready"),
    (ks("infra", generation=2, observed=1), "dependency 'apps/infra' is not ready"),
    # Same source: the dependency must have applied the revision about to be applied.
    (ks("infra", applied=OLD), "dependency 'apps/infra' revision is not up to date"),
])
def test_dependency_not_ready(dep: dict[str, Any] | None, message: str) -> None:
    app = ks("app", depends=[{"name": "infra"}])
    with pytest.raises(DependencyNotReady) as err:
        check(app, *([dep] if dep else []))
    assert str(err.value) == message


def test_revision_rule_only_applies_to_the_same_source() -> None:
    app = ks("app", depends=[{"name": "infra"}])
    check(app, ks("infra", source="other", applied=OLD))
    # Same name but another namespace is another source.
    check(app, ks("infra", source_ns="elsewhere", applied=OLD))
    # An explicit namespace equal to the default is the same source.
    with pytest.raises(DependencyNotReady):
        check(app, ks("infra", source_ns="apps", applied=OLD))


def test_index_values() -> None:
    app = ks("app", depends=[{"name": "infra"}, {"name": "crds", "namespace": "system"}],
             source_ns="flux-system")
    assert list(dependency_keys(app)) == ["apps/infra", "system/crds"]
    assert list(source_keys(app)) == ["GitRepository/flux-system/fleet"]
    assert list(source_keys(ks("b"))) == ["GitRepository/apps/fleet"]


class FakeInformer:
    """The index lookups the watch functions use."""

    def __init__(self, *objects: dict[str, Any]) -> None:
        self.objects = objects

    def by_index(self, index: str, value: str) -> list[dict[str, Any]]:
        fn = source_keys if index == SOURCE_INDEX else dependency_keys
        assert index in (SOURCE_INDEX, DEPENDS_INDEX)
        return [o for o in self.objects if value in list(fn(o))]


def source(revision: str | None, digest: str = "sha256:1") -> dict[str, Any]:
    status = {"artifact": {"revision": revision, "digest": digest}} if revision else {}
    return {"metadata": {"name": "fleet", "namespace": "apps"}, "status": status}


def test_new_artifact_enqueues_kustomizations_of_that_source() -> None:
    informer = FakeInformer(
        ks("behind", applied=OLD, attempted=OLD),
        ks("failed", ready="False", attempted=REV),
        ks("current", attempted=REV),  # ready at this revision already
        ks("other", source="another", attempted=OLD))
    map_fn = requests_for_source(informer, "GitRepository")  # type: ignore[arg-type]
    assert map_fn("MODIFIED", source(OLD), source(REV)) == [Request("apps", "behind"),
                                                           Request("apps", "failed")]
    # Same revision and digest (a status rewrite): nothing to do.
    assert map_fn("MODIFIED", source(REV), source(REV)) == []
    # A rebuilt artifact for the same revision counts.
    assert map_fn("MODIFIED", source(REV), source(REV, "sha256:2")) != []
    assert map_fn("MODIFIED", source(None), source(REV)) != []
    assert map_fn("ADDED", None, source(REV)) == []
    assert requests_for_source(informer, "OCIRepository")(  # type: ignore[arg-type]
        "MODIFIED", source(OLD), source(REV)) == []


def test_dependency_turning_ready_enqueues_dependents() -> None:
    informer = FakeInformer(ks("app", depends=[{"name": "infra"}]), ks("unrelated"))
    map_fn = requests_for_dependents(informer)  # type: ignore[arg-type]
    assert map_fn("MODIFIED", ks("infra", ready="False"), ks("infra")) == [Request("apps", "app")]
    assert map_fn("MODIFIED", ks("infra", applied=OLD), ks("infra")) == [Request("apps", "app")]
    assert map_fn("MODIFIED", ks("infra"), ks("infra")) == []
    assert map_fn("MODIFIED", ks("infra"), ks("infra", ready="False")) == []
