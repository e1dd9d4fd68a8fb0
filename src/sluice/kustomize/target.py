"""Building one kustomization folder, recursively, in kustomize's order.

For each folder: accumulate ``resources`` (files and sub-kustomizations,
each fully built on its own), run the generators, apply ``components`` on
the accumulated set, then run the transformers in kustomize's fixed order:
patchesStrategicMerge, patches, namespace, namePrefix, nameSuffix, labels
and commonLabels, commonAnnotations, patchesJson6902, replicas, images,
replacements. Only the top folder then adds hash suffixes to generated
names, fixes name references, and sorts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .errors import BuildError, InvalidKustomization
from .generators import absorb, add_hash_suffixes, make_generated
from .images import apply_images
from .labels import apply_annotations, apply_labels
from .loader import Loader
from .namespace import apply_namespace
from .naming import apply_prefix_suffix, fix_name_references
from .ordering import sort_resources
from .patching import apply_json6902_entries, apply_patch_entry, apply_strategic_merge_entries
from .replacements import apply_replacements
from .replicas import apply_replicas
from .resources import ResMap, Resource

KNOWN_FIELDS = {
    "apiVersion", "kind", "metadata", "resources", "bases", "components", "namespace",
    "namePrefix", "nameSuffix", "commonLabels", "labels", "commonAnnotations", "images",
    "replicas", "patches", "patchesStrategicMerge", "patchesJson6902", "configMapGenerator",
    "secretGenerator", "generatorOptions", "replacements", "sortOptions", "buildMetadata",
}  # fmt: skip
UNSUPPORTED_FIELDS = {
    "crds", "configurations", "generators", "transformers", "validators", "vars", "helmCharts",
    "helmGlobals", "helmChartInflationGenerator", "openapi",
}  # fmt: skip
_LIST_FIELDS = (
    "resources", "bases", "components", "images", "replicas", "patches", "patchesStrategicMerge",
    "patchesJson6902", "configMapGenerator", "secretGenerator", "replacements", "labels",
)  # fmt: skip
_MAP_FIELDS = ("commonLabels", "commonAnnotations", "generatorOptions", "sortOptions")


class Builder:
    def __init__(self, loader: Loader, kustomization_override: dict[str, Any] | None = None):
        self.loader = loader
        self.override = kustomization_override
        self.stack: list[Path] = []

    # --- validation -------------------------------------------------------------
    def check(self, data: dict[str, Any], path: Path, *, component: bool) -> None:
        where = self.loader.display(path)
        kind = data.get("kind") or "Kustomization"
        if component and kind != "Component":
            raise InvalidKustomization(
                f"expected kind 'Component' for path '{path.parent}' but got '{kind}'", path=where
            )
        if not component and kind == "Component":
            raise InvalidKustomization(
                f"expected kind != 'Component' for path '{path.parent}'", path=where
            )
        if kind not in ("Kustomization", "Component"):
            raise InvalidKustomization(f"unknown kind {kind!r}", path=where)
        for key in data:
            if key in UNSUPPORTED_FIELDS:
                raise InvalidKustomization(f"field {key!r} is not supported by sluice", path=where)
            if key not in KNOWN_FIELDS:
                raise InvalidKustomization(
                    f'invalid Kustomization: json: unknown field "{key}"', path=where
                )
        for key in _LIST_FIELDS:
            if data.get(key) is not None and not isinstance(data[key], list):
                raise InvalidKustomization(f"field {key!r} must be a list", path=where)
        for key in _MAP_FIELDS:
            if data.get(key) is not None and not isinstance(data[key], dict):
                raise InvalidKustomization(f"field {key!r} must be a map", path=where)
        self.check_types(data, where)
        build_metadata = data.get("buildMetadata") or []
        for item in build_metadata:
            if item != "managedByLabel":
                raise InvalidKustomization(
                    f"buildMetadata {item!r} is not supported by sluice", path=where
                )

    def check_types(self, data: dict[str, Any], where: str) -> None:
        """Scalars kustomize decodes into Go strings must be strings in YAML too.

        ``newTag: 1.10`` is a float to YAML; kustomize refuses it rather than
        deploying tag ``1.1``, and so do we, with kustomize's words.
        """

        def refuse(value: Any, field: str) -> None:
            kind = "number" if isinstance(value, (int, float)) else type(value).__name__
            if isinstance(value, bool):
                kind = "bool"
            raise InvalidKustomization(
                f"invalid Kustomization: json: cannot unmarshal {kind} into Go struct field "
                f"{field} of type string",
                path=where,
            )

        for key in ("namespace", "namePrefix", "nameSuffix"):
            if data.get(key) is not None and not isinstance(data[key], str):
                refuse(data[key], f"Kustomization.{key}")
        for key in ("commonLabels", "commonAnnotations"):
            for value in (data.get(key) or {}).values():
                if value is not None and not isinstance(value, str):
                    refuse(value, f"Kustomization.{key}")
        for entry in data.get("images") or []:
            if not isinstance(entry, dict):
                raise InvalidKustomization("images entries must be maps", path=where)
            for key in ("name", "newName", "newTag", "digest"):
                if entry.get(key) is not None and not isinstance(entry[key], str):
                    refuse(entry[key], f"Image.images.{key}")
        for entry in data.get("labels") or []:
            if isinstance(entry, dict):
                for value in (entry.get("pairs") or {}).values():
                    if value is not None and not isinstance(value, str):
                        refuse(value, "Label.labels.pairs")

    # --- layers -----------------------------------------------------------------
    def build_dir(self, directory: Path, *, top: bool = False) -> ResMap:
        data, path = self.load(directory, top=top)
        self.check(data, path, component=False)
        if directory in self.stack:
            chain = " -> ".join(self.loader.display(p) for p in [*self.stack, directory])
            raise BuildError(
                f"cycle detected in resources: {chain}", path=self.loader.display(path)
            )
        self.stack.append(directory)
        try:
            return self.accumulate(directory, data, path, ResMap())
        finally:
            self.stack.pop()

    def load(self, directory: Path, *, top: bool) -> tuple[dict[str, Any], Path]:
        if top and self.override is not None:
            return self.override, directory / "kustomization.yaml"
        return self.loader.load_kustomization(directory)

    def accumulate(
        self, directory: Path, data: dict[str, Any], path: Path, resources: ResMap
    ) -> ResMap:
        loader = self.loader
        for entry in [*(data.get("resources") or []), *(data.get("bases") or [])]:
            target = loader.resolve(directory, str(entry), field="resources", source=path)
            if target.is_dir():
                resources.extend(self.build_dir(target))
            else:
                resources.extend(loader.load_objects(target))
        options = data.get("generatorOptions") or {}
        for field, kind in (("configMapGenerator", "ConfigMap"), ("secretGenerator", "Secret")):
            for entry in data.get(field) or []:
                if not isinstance(entry, dict):
                    raise InvalidKustomization(
                        f"{field} entries must be maps", path=loader.display(path)
                    )
                absorb(resources, make_generated(kind, entry, options, loader, directory, path))
        for entry in data.get("components") or []:
            comp_dir = loader.resolve(directory, str(entry), field="components", source=path)
            if not comp_dir.is_dir():
                raise InvalidKustomization(
                    f"components: {entry!r} must be a folder holding a Component",
                    path=loader.display(path),
                )
            comp_data, comp_path = loader.load_kustomization(comp_dir)
            self.check(comp_data, comp_path, component=True)
            self.accumulate(comp_dir, comp_data, comp_path, resources)
        self.transform(directory, data, path, resources)
        return resources

    def transform(
        self, directory: Path, data: dict[str, Any], path: Path, resources: ResMap
    ) -> None:
        loader, where = self.loader, self.loader.display(path)
        apply_strategic_merge_entries(
            resources, data.get("patchesStrategicMerge") or [], loader, directory, path
        )
        for entry in data.get("patches") or []:
            apply_patch_entry(resources, entry, loader, directory, path)
        apply_namespace(resources, str(data.get("namespace") or ""))
        apply_prefix_suffix(
            resources, str(data.get("namePrefix") or ""), str(data.get("nameSuffix") or "")
        )
        apply_labels(resources, data, where)
        apply_annotations(resources, data.get("commonAnnotations") or {})
        apply_json6902_entries(
            resources, data.get("patchesJson6902") or [], loader, directory, path
        )
        apply_replicas(resources, data.get("replicas") or [], where)
        apply_images(resources, data.get("images") or [], where)
        replacements: list[Any] = []
        for entry in data.get("replacements") or []:
            if isinstance(entry, dict) and entry.get("path"):
                file = loader.resolve(
                    directory, str(entry["path"]), field="replacements", source=path
                )
                replacements.extend(
                    r.obj if isinstance(r, Resource) else r for r in _load_plain(loader, file)
                )
            else:
                replacements.append(entry)
        apply_replacements(resources, replacements, where)
        if "managedByLabel" in (data.get("buildMetadata") or []):
            # kubectl's embedded kustomize reports its version as "(devel)".
            for res in resources:
                res.metadata.setdefault("labels", {})
                res.metadata["labels"]["app.kubernetes.io/managed-by"] = "kustomize-(devel)"

    def finish(self, resources: ResMap, data: dict[str, Any]) -> list[Resource]:
        add_hash_suffixes(resources)
        fix_name_references(resources)
        for res in resources:
            # Objects marked local-config (e.g. a replacement's source) never leave the build.
            if res.annotations().get("config.kubernetes.io/local-config") == "true":
                resources.remove(res)
        for res in resources:
            # kustomize keeps its bookkeeping in annotations and drops the map
            # when it is empty afterwards, so an empty or null one never shows.
            meta = res.obj.get("metadata")
            if isinstance(meta, dict) and "annotations" in meta and not meta["annotations"]:
                del meta["annotations"]
        return sort_resources(list(resources), data.get("sortOptions"))


def _load_plain(loader: Loader, path: Path) -> list[Any]:
    from .decode import load_documents

    out: list[Any] = []
    for doc in load_documents(loader.read_text(path)):
        out.extend(doc if isinstance(doc, list) else [doc])
    return out
