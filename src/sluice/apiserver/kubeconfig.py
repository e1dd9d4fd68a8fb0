"""The kubeconfig the embedded cluster writes for its users and for Sluice's controllers.

One cluster, one user (a bearer token), one context named ``sluice`` that is
current: the same file works for kubectl, Helm, the official Python client and
lightkube. The token is generated once per data directory and kept in
``token`` with owner-only permissions, like the CA key.
"""

from __future__ import annotations

import base64
import secrets
from pathlib import Path

import yaml


def ensure_token(directory: Path) -> str:
    path = directory / "token"
    if path.exists():
        return path.read_text().strip()
    token = secrets.token_urlsafe(32)
    path.write_text(token + "\n")
    path.chmod(0o600)
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
    tmp = path.with_suffix(".tmp")
    tmp.write_text(yaml.safe_dump(config, sort_keys=False))
    tmp.chmod(0o600)
    tmp.replace(path)
    return path
