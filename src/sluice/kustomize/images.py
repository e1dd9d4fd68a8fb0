"""The ``images:`` transformer: rewrite container images by name.

Like kustomize it visits every ``containers`` and ``initContainers`` list
anywhere in an object (so custom kinds with pod templates work), matches an
image when it is the given name optionally followed by ``:tag`` and/or
``@sha256:digest``, and rebuilds it from the new name, tag and digest. A new
tag drops an old digest and a new digest drops an old tag.
"""

from __future__ import annotations

import re
from typing import Any

from .errors import InvalidKustomization
from .resources import ResMap


def split_image(image: str) -> tuple[str, str, str]:
    """``host:port/repo:tag@digest`` -> (name, tag, digest); the host's port is no tag."""
    slash = image.find("/")
    search = image[slash:] if slash > 0 else image
    offset = slash if slash > 0 else 0
    at, colon = search.find("@"), search.find(":")
    if at < 0 and colon < 0:
        return image, "", ""
    if at >= 0 and (colon < 0 or at < colon):
        return image[: at + offset], "", image[at + offset + 1 :]
    if at >= 0:
        return (
            image[: colon + offset],
            image[colon + offset + 1 : at + offset],
            image[at + offset + 1 :],
        )
    return image[: colon + offset], image[colon + offset + 1 :], ""


def _matches(image: str, name: str) -> bool:
    # kustomize builds this pattern without escaping the name, so a dot in a
    # registry host matches any character, as it does there.
    try:
        pattern = re.compile("^" + name + r"(:[a-zA-Z0-9_.{}-]*)?(@sha256:[a-zA-Z0-9_.{}-]*)?$")
    except re.error:
        return image == name
    return pattern.match(image) is not None


def _update(image: str, entry: dict[str, Any]) -> str:
    name, tag, digest = split_image(image)
    if entry.get("newName"):
        name = str(entry["newName"])
    new_tag, new_digest = str(entry.get("newTag") or ""), str(entry.get("digest") or "")
    if new_tag and new_digest:
        tag, digest = new_tag, new_digest
    elif new_tag:
        tag, digest = new_tag, ""
    elif new_digest:
        tag, digest = "", new_digest
    if tag:
        name += ":" + tag
    if digest:
        name += "@" + digest
    return name


def _visit(node: Any, entry: dict[str, Any]) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("containers", "initContainers") and isinstance(value, list):
                for container in value:
                    if isinstance(container, dict) and isinstance(container.get("image"), str):
                        if _matches(container["image"], str(entry["name"])):
                            container["image"] = _update(container["image"], entry)
            _visit(value, entry)
    elif isinstance(node, list):
        for item in node:
            _visit(item, entry)


def apply_images(resources: ResMap, images: list[dict[str, Any]], source: str) -> None:
    for entry in images:
        if not isinstance(entry, dict) or not entry.get("name"):
            raise InvalidKustomization("images entries need a name", path=source)
        for res in resources:
            _visit(res.obj, entry)
