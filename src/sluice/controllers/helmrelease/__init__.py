"""The HelmRelease controller: charts released with Helm's own actions, as helm-controller does.

`controller` wires it on a manager, `reconciler` runs helm-controller's
outer loop, `atomic` its release state machine; the other modules are one
step each (see their docstrings).
"""
