"""Builds of untrusted folders fail clearly: the file and field at fault are named,
paths may not leave the build root, and remote bases are refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from sluice.kustomize import build, build_yaml
from sluice.kustomize.errors import (
    BuildError,
    IdConflict,
    InvalidKustomization,
    InvalidYAML,
    PatchError,
    PathEscape,
    RemoteBaseRefused,
    ResourceNotFound,
)

CM = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\ndata:\n  a: b\n"


def write(folder: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return folder


def test_resource_outside_the_root_is_refused(tmp_path: Path) -> None:
    (tmp_path / "secret.yaml").write_text(CM)
    app = write(tmp_path / "app", {"kustomization.yaml": "resources:\n- ../secret.yaml\n"})
    with pytest.raises(PathEscape) as err:
        build(app)
    assert "../secret.yaml" in str(err.value)
    assert "kustomization.yaml" in str(err.value)
    # The same file is fine when the caller widens the root to include it.
    assert build(app, root=tmp_path)[0]["metadata"]["name"] == "cm"


def test_absolute_path_and_symlink_escapes_are_refused(tmp_path: Path) -> None:
    outside = write(tmp_path / "outside", {"cm.yaml": CM})
    app = write(tmp_path / "app", {"kustomization.yaml": f"resources:\n- {outside / 'cm.yaml'}\n"})
    with pytest.raises(PathEscape):
        build(app)
    linked = write(tmp_path / "linked", {"kustomization.yaml": "resources:\n- cm.yaml\n"})
    (linked / "cm.yaml").symlink_to(outside / "cm.yaml")
    with pytest.raises(PathEscape):
        build(linked)


def test_patch_and_generator_files_cannot_escape_either(tmp_path: Path) -> None:
    write(tmp_path, {"passwd": "root:x:0:0\n"})
    app = write(
        tmp_path / "app",
        {"kustomization.yaml": "configMapGenerator:\n- name: leak\n  files:\n  - ../passwd\n"},
    )
    with pytest.raises(PathEscape):
        build(app)


@pytest.mark.parametrize(
    "url",
    [
        "https://github.com/org/repo//deploy?ref=v1.0.0",
        "github.com/org/repo/deploy?ref=main",
        "git@github.com:org/repo.git",
        "ssh://git@example.com/repo.git",
    ],
)
def test_remote_bases_are_refused(tmp_path: Path, url: str) -> None:
    app = write(tmp_path, {"kustomization.yaml": f"resources:\n- {url}\n"})
    with pytest.raises(RemoteBaseRefused) as err:
        build(app)
    assert url in str(err.value)


def test_missing_resource_names_the_entry_and_file(tmp_path: Path) -> None:
    app = write(tmp_path, {"kustomization.yaml": "resources:\n- nope.yaml\n"})
    with pytest.raises(ResourceNotFound) as err:
        build(app)
    assert "nope.yaml" in str(err.value)
    assert err.value.path == "kustomization.yaml"


def test_folder_resource_without_kustomization(tmp_path: Path) -> None:
    app = write(tmp_path, {"kustomization.yaml": "resources:\n- sub\n", "sub/cm.yaml": CM})
    with pytest.raises(ResourceNotFound) as err:
        build(app)
    assert "unable to find one of 'kustomization.yaml'" in str(err.value)


def test_invalid_yaml_resource_names_the_file(tmp_path: Path) -> None:
    app = write(
        tmp_path,
        {"kustomization.yaml": "resources:\n- bad.yaml\n", "bad.yaml": "kind: [unclosed\n"},
    )
    with pytest.raises(InvalidYAML) as err:
        build(app)
    assert err.value.path == "bad.yaml"


def test_yaml_syntax_error_is_one_line_naming_the_file(tmp_path: Path) -> None:
    # As go-yaml words it through kustomize: no PyYAML context lines or
    # '<unicode string>' marks in a Kustomization's Ready message.
    bad = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  k: [a, b\n  j: c\n"
    app = write(
        tmp_path,
        {"kustomization.yaml": "resources:\n- app/cm.yaml\n", "app/cm.yaml": bad},
    )
    with pytest.raises(InvalidYAML) as err:
        build(app)
    assert str(err.value) == (
        "failed to parse app/cm.yaml: yaml: line 5: did not find expected ',' or ']'"
    )


def test_object_without_name_is_rejected(tmp_path: Path) -> None:
    app = write(
        tmp_path,
        {
            "kustomization.yaml": "resources:\n- x.yaml\n",
            "x.yaml": "apiVersion: v1\nkind: ConfigMap\n",
        },
    )
    with pytest.raises(InvalidYAML, match=r"metadata\.name"):
        build(app)


def test_unknown_field_and_wrong_types(tmp_path: Path) -> None:
    app = write(tmp_path / "a", {"kustomization.yaml": "resourcez:\n- x.yaml\n"})
    with pytest.raises(InvalidKustomization, match='unknown field "resourcez"'):
        build(app)
    app = write(
        tmp_path / "b",
        {"kustomization.yaml": "images:\n- name: nginx\n  newTag: 1.10\n"},
    )
    with pytest.raises(InvalidKustomization, match=r"Image\.images\.newTag"):
        build(app)


def test_multiple_kustomization_files(tmp_path: Path) -> None:
    app = write(tmp_path, {"kustomization.yaml": "resources: []\n", "kustomization.yml": ""})
    with pytest.raises(InvalidKustomization, match="multiple kustomization files"):
        build(app)


def test_duplicate_ids(tmp_path: Path) -> None:
    app = write(
        tmp_path,
        {"kustomization.yaml": "resources:\n- a.yaml\n- b.yaml\n", "a.yaml": CM, "b.yaml": CM},
    )
    with pytest.raises(IdConflict, match=r"ConfigMap\.v1\.\[noGrp\]/cm\.\[noNs\]"):
        build(app)


def test_patch_without_target_object(tmp_path: Path) -> None:
    app = write(
        tmp_path,
        {
            "kustomization.yaml": "resources:\n- cm.yaml\npatches:\n- path: p.yaml\n",
            "cm.yaml": CM,
            "p.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: other\n",
        },
    )
    with pytest.raises(PatchError, match="no resource matches strategic merge patch") as err:
        build(app)
    assert err.value.path == "p.yaml"


def test_failing_json_patch(tmp_path: Path) -> None:
    app = write(
        tmp_path,
        {
            "kustomization.yaml": (
                "resources:\n- cm.yaml\npatches:\n- target: {kind: ConfigMap}\n"
                '  patch: \'[{"op": "remove", "path": "/data/missing"}]\'\n'
            ),
            "cm.yaml": CM,
        },
    )
    with pytest.raises(PatchError, match="unable to apply JSON patch"):
        build(app)


def test_resource_cycle_is_reported(tmp_path: Path) -> None:
    app = write(
        tmp_path,
        {
            "a/kustomization.yaml": "resources:\n- ../b\n",
            "b/kustomization.yaml": "resources:\n- ../a\n",
        },
    )
    with pytest.raises(BuildError, match="cycle"):
        build(app / "a", root=tmp_path)


def test_component_and_kustomization_kinds_are_checked(tmp_path: Path) -> None:
    app = write(
        tmp_path,
        {
            "app/kustomization.yaml": "components:\n- ../comp\n",
            "comp/kustomization.yaml": "kind: Kustomization\n",
        },
    )
    with pytest.raises(InvalidKustomization, match="expected kind 'Component'"):
        build(app / "app", root=tmp_path)


def test_every_error_is_a_build_error() -> None:
    for cls in (
        IdConflict,
        InvalidKustomization,
        InvalidYAML,
        PatchError,
        PathEscape,
        RemoteBaseRefused,
        ResourceNotFound,
    ):
        assert issubclass(cls, BuildError)


def test_build_yaml_of_empty_kustomization_is_empty(tmp_path: Path) -> None:
    app = write(tmp_path, {"kustomization.yaml": "resources: []\n"})
    assert build_yaml(app) == ""
