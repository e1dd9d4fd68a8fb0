"""Sluice: GitOps continuous delivery that speaks the Flux APIs.

The package is layered (see README): ``cli``/``ui`` over ``controllers`` over
``runtime`` over ``kube`` over ``api``/``core``; ``apiserver`` (the embedded
cluster) and ``kustomize`` stand on ``api``/``core`` only.
"""

__version__ = "0.1.0"
