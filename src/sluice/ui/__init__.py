"""Sluice's web UI: live status, graphs, trees and actions for every Flux kind.

A layer beside the CLI (`sluice.cli` and `sluice.ui` never import each other).
It reads the cluster like any client, through `sluice.kube` and the shared
informers of `sluice.runtime`, so it works against the embedded cluster and any
real one. Pages are rendered on the server with Jinja2; htmx (vendored, no CDN,
no Node) swaps fragments, and one server-sent-events stream per tab carries
changes as they arrive from the watches.

    live.py      shared watches on every Flux kind and Events, fan-out to tabs
    summary.py   what a row shows: state, message, revision, staleness
    panels.py    kind-specific facts (Alert, Provider, Receiver) at the top of a page
    redact.py    webhook addresses, proxies, Receiver paths: masked and scrubbed
    graph.py     sources -> appliers -> dependsOn, laid out and drawn as SVG
    tree.py      a Kustomization's or HelmRelease's inventory down to Pods
    actions.py   reconcile / suspend / resume, recorded as Events
    security.py  login token -> cookie, Host allowlist, CSRF, CSP, read-only
    server.py    the aiohttp application and its routes
"""
