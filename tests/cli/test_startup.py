"""The CLI starts fast because subcommands are imported only when they run.

`sluice --help` lists every command from recorded help lines; these tests keep
those lines true to the commands and check that the listing, and `version`,
import none of the heavy parts (the API server, aiohttp, the controllers).
"""

from __future__ import annotations

import json
import subprocess
import sys

import click

from sluice.cli.main import _COMMANDS, cli
from sluice.testing.sshgit import GitSSHServer

HEAVY = ("sluice.apiserver", "sluice.controllers", "aiohttp", "lightkube", "sluice.cli.get")


def _modules_loaded_by(*args: str) -> set[str]:
    code = ("import sys, json\n"
            "from sluice.cli.main import cli\n"
            "try:\n"
            f"    cli.main({list(args)!r}, standalone_mode=False)\n"
            "except SystemExit:\n"
            "    pass\n"
            "print(json.dumps(sorted(sys.modules)))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    return set(json.loads(out.strip().splitlines()[-1]))


def test_help_lines_match_the_commands_they_stand_for() -> None:
    ctx = click.Context(cli)
    for name, (_, short) in _COMMANDS.items():
        command = cli.get_command(ctx, name)
        assert command is not None, name
        assert command.name == name
        assert command.get_short_help_str(limit=200) == short, name


def test_help_and_version_import_no_command_module() -> None:
    for args in (["--help"], ["version"]):
        loaded = _modules_loaded_by(*args)
        heavy = sorted(m for m in loaded if m.startswith(HEAVY))
        assert heavy == [], (args, heavy)


def test_get_imports_only_what_it_needs() -> None:
    loaded = _modules_loaded_by("get", "--help")
    assert "sluice.cli.get" in loaded
    assert not [m for m in loaded if m.startswith(("sluice.apiserver", "sluice.controllers"))]


def test_no_dependency_warning_reaches_users(ssh_server: GitSSHServer) -> None:
    # `create secret git` with an SSH URL scans the host key with asyncssh, whose DSA names
    # made cryptography print five deprecation warnings.
    ssh_server.create_repo("apps.git", {"README.md": "apps\n"})
    r = subprocess.run([sys.executable, "-m", "sluice.cli.main", "create", "secret", "git",
                        "demo", f"--url={ssh_server.repo_url('apps.git')}", "--export"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "kind: Secret" in r.stdout
    assert "Warning" not in r.stderr, r.stderr
