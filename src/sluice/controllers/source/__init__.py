"""The source controller's building blocks (Flux `source.toolkit.fluxcd.io`).

Pure, async-friendly pieces that the GitRepository reconciler wires to API
objects:

* `git`: check out a `spec.ref` and compute Flux revision strings
  (`remote_revision`, `checkout`), with credentials, host-key pinning and
  scrubbing in `gitauth`;
* `artifacts`: reproducible tar.gz artifacts with `sha256:` digests, the
  `Storage` that names, writes and collects them, and safe `extract`;
* `artifact_server`: the HTTP server behind `status.artifact.url`;
* `errors`: the error tree, each error carrying its Flux condition reason.
"""
