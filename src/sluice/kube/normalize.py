"""Flux's pre-apply normalisation of native kinds, done on every manifest before its dry run."""

from __future__ import annotations

import base64
from typing import Any

Obj = dict[str, Any]

def normalize(obj: Obj) -> None:
    """Flux's pre-apply normalisation of native kinds.

    A Secret's ``stringData`` is written as ``data`` (base64): the API server
    folds ``stringData`` into ``data`` and never returns it, so applying it as
    is would report drift, and leave stale keys, on every run. A CRD's
    conversion webhook ``caBundle`` is dropped: it is injected in the cluster
    (cert-manager's CA injector), and applying Git's copy would undo that.
    """
    if obj.get("kind") == "CustomResourceDefinition":
        webhook = ((obj.get("spec") or {}).get("conversion") or {}).get("webhook")
        client = webhook.get("clientConfig") if isinstance(webhook, dict) else None
        if isinstance(client, dict):
            client.pop("caBundle", None)
    if obj.get("kind") == "Secret" and obj.get("apiVersion") == "v1":
        string_data = obj.pop("stringData", None)
        if isinstance(string_data, dict) and string_data:
            data = obj.get("data")
            data = dict(data) if isinstance(data, dict) else {}
            for k, v in string_data.items():
                data[k] = base64.b64encode(str(v).encode()).decode()
            obj["data"] = data

