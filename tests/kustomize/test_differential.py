"""Sluice's kustomize engine against ``kubectl kustomize``, byte for byte.

Each case in ``cases.py`` is laid out as a folder (``main/`` is built, with
siblings such as ``base/`` reachable through ``../``); kubectl runs once per
case, two at a time, and its output must equal ``build_yaml``'s exactly.
"""

from __future__ import annotations

import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from sluice.kustomize import build_yaml

from .cases import CASES

KUBECTL = shutil.which("kubectl")
pytestmark = pytest.mark.skipif(KUBECTL is None, reason="kubectl not installed")

_BINARY = b"\x00\x01\xfe\xffbinary"


def lay_out(base: Path, files: dict[str, str]) -> Path:
    main = base / "main"
    main.mkdir(parents=True)
    for rel, text in files.items():
        path = (main / rel).resolve()
        path.parent.mkdir(parents=True, exist_ok=True)
        if text == "BINARY_PLACEHOLDER":
            path.write_bytes(_BINARY)
        else:
            path.write_text(text)
    return main


def run_kubectl(folder: Path) -> tuple[int, str, str]:
    assert KUBECTL is not None
    proc = subprocess.run(
        [KUBECTL, "kustomize", str(folder)], capture_output=True, text=True, timeout=60
    )
    return proc.returncode, proc.stdout, proc.stderr


@pytest.fixture(scope="module")
def oracle(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, str]]:
    """Lays out every case and runs kubectl on all of them, two at a time."""
    root = tmp_path_factory.mktemp("kustomize-cases")
    folders = {name: lay_out(root / name, files) for name, files in CASES.items()}
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = dict(zip(folders, pool.map(run_kubectl, folders.values()), strict=True))
    out = {}
    for name, (code, stdout, stderr) in results.items():
        assert code == 0, f"kubectl failed on case {name}: {stderr}"
        out[name] = (folders[name], stdout)
    return out


@pytest.mark.parametrize("case", sorted(CASES))
def test_build_matches_kubectl(case: str, oracle: dict[str, tuple[Path, str]]) -> None:
    folder, expected = oracle[case]
    assert build_yaml(folder, root=folder.parent) == expected
