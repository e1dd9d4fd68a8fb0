"""The Kustomization controller (Flux `kustomize.toolkit.fluxcd.io`).

* `fetch`: download a source's artifact, verify its digest, extract it safely;
* `building`: merge the spec into the kustomization, build, substitute
  variables, add common metadata;
* `dependencies`: the ``dependsOn`` readiness rules;
* `reconciler`: kustomize-controller's reconcile loop (apply, prune, health,
  status and events) and `setup_kustomization_controller`, which registers
  it on a `sluice.runtime.manager.Manager`.
"""
