"""The kubeconfig the embedded cluster writes for its users and for Sluice's controllers.

One cluster, one user (a bearer token), one context named ``sluice`` that is
current: the same file works for kubectl, Helm, the official Python client and
lightkube. The token is generated once per data directory and kept in
``token``, created owner-only like the CA key (see :mod:`datadir`).
"""

from __future__ import annotations

import base64
import secrets
from pathlib import Path

import yaml

from sluice.apiserver.store.datadir import private_file, write_private


def ensure_token(directory: Path) -> str:
    path = directory / "token"
    if path.exists():
        private_file(path)
        return path.read_text().strip()
    token = secrets.token_urlsafe(32)
    write_private(path, (token + "\n").encode())
    return token


def write_kubeconfig(path: Path, server: str, token: str, ca_pem: bytes | None,
                     context: str = "sluice") -> Path:
    cluster: dict[str, object] = {"server": server}
    if ca_pem is not None:
        cluster["certificate-authority-data"] = base64.b64encode(ca_pem).decode()
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": context, "cluster": cluster}],
        "users": [{"name": context, "user": {"token": token}}],
        "contexts": [{"name": context, "context": {"cluster": context, "user": context}}],
        "current-context": context,
        "preferences": {},
    }
    write_private(path, yaml.safe_dump(config, sort_keys=False).encode())
    return path
