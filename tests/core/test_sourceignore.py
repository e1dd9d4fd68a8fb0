"""Which files of a checked-out tree end up in a Flux artifact.

Aspects: the built-in excludes, `spec.ignore` adding and re-including,
nested `.sourceignore` files scoped to their directory, later rules
overriding earlier ones, pruned directories, and walk order.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sluice.core.sourceignore import IgnoreRules, load_ignore_rules, walk


def make_tree(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def kept(root: Path, spec_ignore: str | None = None) -> list[str]:
    rules = load_ignore_rules(root, spec_ignore)
    return [rel for rel, entry in walk(root, rules) if not entry.is_dir()]


@pytest.mark.parametrize(
    ("path", "is_dir", "ignored"),
    [
        (".git", True, True),
        ("sub/.git", True, True),
        (".gitignore", False, True),
        ("a/.gitmodules", False, True),
        (".gitattributes", False, True),
        ("logo.png", False, True),
        ("docs/img/shot.JPG", False, False),  # patterns are case-sensitive, as in Flux
        ("docs/img/shot.jpeg", False, True),
        ("release.tar.gz", False, True),
        ("bundle.zip", False, True),
        (".github", True, True),
        ("apps/.github", True, True),
        (".github", False, False),  # `.github/` only matches directories
        (".circleci", True, True),
        (".travis.yml", False, True),
        (".gitlab-ci.yml", False, True),
        ("appveyor.yml", False, True),
        (".drone.yml", False, True),
        ("cloudbuild.yaml", False, True),
        ("codeship-services.yml", False, True),
        ("codeship-steps.yml", False, True),
        ("deep/down/.goreleaser.yml", False, True),
        (".sops.yaml", False, True),
        ("clusters/prod/.flux.yaml", False, True),
        ("apps/deployment.yaml", False, False),
        ("kustomization.yaml", False, False),
        ("README.md", False, False),
    ],
)
def test_default_excludes(path: str, is_dir: bool, ignored: bool) -> None:
    assert IgnoreRules.defaults().is_ignored(path, is_dir) is ignored


def test_spec_ignore_adds_and_reincludes(tmp_path: Path) -> None:
    make_tree(
        tmp_path,
        {
            "apps/app.yaml": "a",
            "apps/logo.png": "png",
            "docs/index.md": "d",
            "secret.env": "s",
            "clusters/prod/flux-system/gotk-sync.yaml": "g",
            "clusters/prod/apps.yaml": "c",
        },
    )
    spec_ignore = "/docs/\n*.env\n!*.png\nclusters/**/flux-system/\n"
    assert kept(tmp_path, spec_ignore) == [
        "apps/app.yaml",
        "apps/logo.png",
        "clusters/prod/apps.yaml",
    ]
    assert kept(tmp_path) == [
        "apps/app.yaml",
        "clusters/prod/apps.yaml",
        "clusters/prod/flux-system/gotk-sync.yaml",
        "docs/index.md",
        "secret.env",
    ]


def test_exclude_everything_but_some_dirs(tmp_path: Path) -> None:
    # The flux2-kustomize-helm-example style: ignore all, then allow-list.
    make_tree(
        tmp_path,
        {
            "apps/base/podinfo.yaml": "p",
            "infrastructure/controllers/cm.yaml": "c",
            "scripts/validate.sh": "s",
            "README.md": "r",
        },
    )
    (tmp_path / ".sourceignore").write_text("/*\n!/apps\n!/infrastructure\n")
    assert kept(tmp_path) == ["apps/base/podinfo.yaml", "infrastructure/controllers/cm.yaml"]


def test_nested_sourceignore_is_scoped_to_its_directory(tmp_path: Path) -> None:
    make_tree(
        tmp_path,
        {
            "a/notes.txt": "1",
            "a/b/notes.txt": "2",
            "c/notes.txt": "3",
            "a/keep.yaml": "4",
            "a/b/drop.yaml": "5",
        },
    )
    (tmp_path / "a" / ".sourceignore").write_text("# only below a/\nnotes.txt\n/b/drop.yaml\n")
    assert kept(tmp_path) == ["a/.sourceignore", "a/keep.yaml", "c/notes.txt"]


def test_later_rules_override_earlier_ones(tmp_path: Path) -> None:
    make_tree(tmp_path, {"x/a.yaml": "1", "x/b.yaml": "2", "top.yaml": "3"})
    (tmp_path / ".sourceignore").write_text("*.yaml\n")
    (tmp_path / "x" / ".sourceignore").write_text("!a.yaml\n")
    assert kept(tmp_path) == [".sourceignore", "x/.sourceignore", "x/a.yaml"]
    # spec.ignore comes last of all
    assert kept(tmp_path, "!top.yaml\nx/\n") == [".sourceignore", "top.yaml"]


def test_files_below_an_excluded_directory_cannot_be_reincluded(tmp_path: Path) -> None:
    make_tree(tmp_path, {"build/keep.yaml": "1", "build/other.yaml": "2", "main.yaml": "3"})
    assert kept(tmp_path, "build/\n!build/keep.yaml\n") == ["main.yaml"]


def test_walk_order_and_symlinks(tmp_path: Path) -> None:
    make_tree(tmp_path, {"b/z.yaml": "1", "b/a.yaml": "2", "a.yaml": "3", "B.yaml": "4"})
    os.symlink("b", tmp_path / "link")
    entries = list(walk(tmp_path, IgnoreRules.defaults()))
    assert [rel for rel, _ in entries] == ["B.yaml", "a.yaml", "b", "b/a.yaml", "b/z.yaml", "link"]
    assert entries[-1][1].is_symlink()  # yielded, not followed


def test_patterns_are_anchored_by_a_slash() -> None:
    rules = IgnoreRules().extend("/root-only.yaml\nany-depth.yaml\nsub/anchored.yaml\n")
    assert rules.is_ignored("root-only.yaml")
    assert not rules.is_ignored("x/root-only.yaml")
    assert rules.is_ignored("x/y/any-depth.yaml")
    assert rules.is_ignored("sub/anchored.yaml")
    assert not rules.is_ignored("x/sub/anchored.yaml")
    assert len(IgnoreRules().extend("# only a comment\n\n")) == 0


def test_fast_path_agrees_with_exact_matching(monkeypatch: pytest.MonkeyPatch) -> None:
    # The per-layer pre-filter is an optimisation: verdicts must not change.
    text = "*.md\n!keep.md\n/docs/\nbuild/\n**/tmp/**\n\\#literal\n!/docs/api/\na/**/b.yaml\n"
    paths = [
        ("README.md", False),
        ("x/keep.md", False),
        ("docs", True),
        ("x/docs", True),
        ("docs/api", True),
        ("src/build", True),
        ("src/build", False),
        ("deep/tmp/x/y.txt", False),
        ("#literal", False),
        ("a/q/r/b.yaml", False),
        ("a/b.yaml", False),
        (".git", True),
        ("img/logo.png", False),
        ("x/.github", True),
        ("plain.yaml", False),
    ]
    fast = IgnoreRules.defaults().extend(text).extend("!README.md\n", "sub")
    monkeypatch.setattr("sluice.core.sourceignore._prefilter", lambda spec: None)
    exact = IgnoreRules.defaults().extend(text).extend("!README.md\n", "sub")
    for path, is_dir in paths + [("sub/" + p, d) for p, d in paths]:
        assert fast.is_ignored(path, is_dir) == exact.is_ignored(path, is_dir), path
