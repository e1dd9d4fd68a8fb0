"""Setters strategy: byte-exact rewrites of ``$imagepolicy`` markers (goldens under golden/setters)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from sluice.api.image import ImageRef
from sluice.controllers.image_automation.errors import UpdateError
from sluice.controllers.image_automation.setters import Change, ObjectId, apply_setters

GOLDEN = Path(__file__).parent / "golden" / "setters"
DIGEST = "sha256:" + "a" * 64
AGNHOST = ImageRef(name="registry.k8s.io/e2e-test-images/agnhost", tag="2.10", digest=DIGEST)


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    shutil.copytree(GOLDEN / "original", root / "apps")
    return root


def test_only_marked_values_change_byte_for_byte(checkout: Path) -> None:
    already = checkout / "apps" / "already.yaml"
    os.utime(already, ns=(1_000_000_000, 1_000_000_000))
    result = apply_setters(checkout, "apps", {("agnhost", "agnhost"): AGNHOST})
    for expected in sorted((GOLDEN / "expected").iterdir()):
        got = (checkout / "apps" / expected.name).read_bytes()
        assert got == expected.read_bytes(), expected.name
    # a file whose values are already right is not rewritten at all
    assert already.stat().st_mtime_ns == 1_000_000_000
    assert result.files() == ["kustomization.yml", "mixed.yaml"]


def test_changes_are_recorded_by_file_and_object(checkout: Path) -> None:
    result = apply_setters(checkout, "apps", {("agnhost", "agnhost"): AGNHOST})
    deployment = ObjectId("apps/v1", "Deployment", "agnhost", "agnhost")
    kustomization = ObjectId("kustomize.config.k8s.io/v1beta1", "Kustomization")
    full = f"{AGNHOST.name}:2.10@{DIGEST}"
    assert result.file_changes["mixed.yaml"][deployment] == [
        Change(f"{AGNHOST.name}:2.39", full, "agnhost:agnhost"),
        Change("2.39", "2.10", "agnhost:agnhost:tag"),
    ]
    assert result.file_changes["kustomization.yml"][kustomization] == [
        Change("ghcr.io/old/agnhost", AGNHOST.name, "agnhost:agnhost:name"),
        Change("2.39", "2.10", "agnhost:agnhost:tag"),
    ]
    plain = result.file_changes["mixed.yaml"][ObjectId()]
    assert Change("", DIGEST, "agnhost:agnhost:digest") in plain
    assert result.images == {s: full for s in (
        "agnhost:agnhost", "agnhost:agnhost:tag", "agnhost:agnhost:name",
        "agnhost:agnhost:digest")}
    assert deployment.go_string() == "{{{apps/v1 Deployment} {agnhost agnhost}}}"


def test_no_policy_in_scope_changes_nothing(checkout: Path) -> None:
    before = {p.name: p.read_bytes() for p in (checkout / "apps").iterdir()}
    result = apply_setters(checkout, "apps", {("agnhost", "other"): AGNHOST})
    assert not result
    assert {p.name: p.read_bytes() for p in (checkout / "apps").iterdir()} == before


def test_update_path_is_clamped_inside_the_checkout_and_must_exist(checkout: Path) -> None:
    # ../../ cannot leave the checkout (Flux's securejoin): it is the root itself
    result = apply_setters(checkout, "../../apps/..", {("agnhost", "agnhost"): AGNHOST})
    assert result.files() == ["apps/kustomization.yml", "apps/mixed.yaml"]
    with pytest.raises(UpdateError, match="update path 'nope' is not a directory"):
        apply_setters(checkout, "nope", {("agnhost", "agnhost"): AGNHOST})


def test_symlinks_are_never_followed(tmp_path: Path, checkout: Path) -> None:
    outside = tmp_path / "outside.yaml"
    outside.write_text('image: a:1 # {"$imagepolicy": "agnhost:agnhost"}\n')
    (checkout / "apps" / "link.yaml").symlink_to(outside)
    (checkout / "linkdir").symlink_to(tmp_path, target_is_directory=True)
    apply_setters(checkout, None, {("agnhost", "agnhost"): AGNHOST})
    assert outside.read_text() == 'image: a:1 # {"$imagepolicy": "agnhost:agnhost"}\n'


@pytest.mark.parametrize(("line", "expected"), [
    ("v: 1.0 # M", 'v: "2.10" # M'),            # plain that would read as a float
    ("v: 'x' # M", "v: '2.10' # M"),
    ('v:  "x"   # M', 'v:  "2.10"   # M'),
    ("v: !!str x # M", 'v: !!str "2.10" # M'),  # the tag stays
    ("- [a, b] # M", "- [a, b] # M"),            # flow sequence: no scalar before the comment
])
def test_value_styles(tmp_path: Path, line: str, expected: str) -> None:
    marker = '# {"$imagepolicy": "ns:p:tag"}'
    (tmp_path / "f.yaml").write_text(line.replace("# M", marker) + "\n")
    apply_setters(tmp_path, None, {("ns", "p"): ImageRef(name="img", tag="2.10")})
    assert (tmp_path / "f.yaml").read_text() == expected.replace("# M", marker) + "\n"


def test_markers_after_tabs_and_odd_spacing(tmp_path: Path) -> None:
    # Go's yaml.v3 takes tabs as separation and kyaml drops every leading '#'
    # then wants a JSON object of strings: these all update, byte for byte.
    original = (
        'a: img:1\t# {"$imagepolicy": "ns:p"}\n'
        'b:\timg:1\t\t#{"$imagepolicy":"ns:p"}\n'
        'c: "img:1"\t # { "$imagepolicy" : "ns:p" }  \n'
        'd: img:1 ##{"$imagepolicy": "ns:p"}\n'
        'e: 1 #\t{"$imagepolicy":\t"ns:p:tag"}\r\n'
        'f:\n  -\timg:1\t# {"$imagepolicy": "ns:p"}\n'
        # not markers: text after the JSON, a non-string value, '#' after a space
        'g: img:1 # {"$imagepolicy": "ns:p"} later\n'
        'h: img:1 # {"$imagepolicy": "ns:p", "n": 1}\n'
        'i: img:1 # #{"$imagepolicy": "ns:p"}\n'
    )
    (tmp_path / "f.yaml").write_bytes(original.encode())
    result = apply_setters(tmp_path, None, {("ns", "p"): ImageRef(name="img", tag="2")})
    expected = (original.replace("img:1\t", "img:2\t").replace("img:1 ##", "img:2 ##")
                .replace("e: 1 ", 'e: "2" ').replace('"img:1"', '"img:2"'))
    assert (tmp_path / "f.yaml").read_bytes() == expected.encode()
    assert len(result.file_changes["f.yaml"][ObjectId()]) == 6
