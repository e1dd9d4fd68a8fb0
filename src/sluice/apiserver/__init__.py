"""The embedded cluster: a Kubernetes API server in-process, in parts that show what it is.

- ``store/``: where objects live (SQLite storage, the data directory, the
  watch event log, writes admitted off the event loop);
- ``rest/``: REST semantics (the verbs of :class:`rest.registry.Cluster`,
  admission, the HTTP handlers, patches, selectors, request decoding, the
  ``/scale`` subresource, ``meta.k8s.io`` Tables);
- ``apply/``: server-side apply and ``managedFields``;
- ``schemas/``: the types served and their schemas (resource catalogue,
  discovery, OpenAPI v2/v3, built-in and CRD structural schemas, defaults
  and validation, JSONPath);
- ``simulation/``: what a cluster's controllers and kubelet would do
  (workloads, garbage collection, namespace lifecycle, Pod logs);
- ``transport/``: how clients reach it (listener, TLS certificates,
  kubeconfig);
- ``server.py`` puts the parts together (:class:`server.EmbeddedCluster`);
  ``errors.py`` and ``field_errors.py`` are shared by every part.

It stands on ``sluice.api`` and ``sluice.core`` only (import-linter contract).
"""
