"""What one commit changed, file by file: read from a local checkout, no network.

The UI shows which setter line an ImageUpdateAutomation's push changed in
which file (Flux's push event only names the commit) and which files a
GitRepository's new revision touched. Both already check the commit out
(`client.checkout`, full branch history for a commit ref, so the parent is
there); `read_changes` then diffs ``HEAD`` against its first parent (a
root commit against the empty tree) in that directory.

It is local and short (one tree-to-tree diff), but still libgit2 work, so
it runs where all of Sluice's Git runs: in a pool worker (`client.commit_changes`
sends `read_changes` there); pygit2 is imported only inside it. Output is
bounded (`MAX_FILES`, `MAX_LINES` per file, `MAX_LINE` characters a line) so
a commit that rewrites a vendored tree costs a page, not the UI's memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pygit2

__all__ = ["MAX_FILES", "MAX_LINE", "MAX_LINES", "FileChange", "read_changes"]

MAX_FILES = 200
MAX_LINES = 40
MAX_LINE = 300


@dataclass(frozen=True)
class FileChange:
    """One file of a commit: its path, status letter (A/M/D/R...), counts and changed lines."""

    path: str
    status: str
    added: int
    removed: int
    binary: bool = False
    # ("+" or "-", text) in diff order, at most MAX_LINES of them.
    lines: tuple[tuple[str, str], ...] = ()
    truncated: bool = False  # more lines changed than are kept


def _lines(patch: pygit2.Patch) -> tuple[tuple[tuple[str, str], ...], bool]:
    kept: list[tuple[str, str]] = []
    for hunk in patch.hunks:
        for line in hunk.lines:
            if line.origin not in "+-":
                continue
            if len(kept) == MAX_LINES:
                return tuple(kept), True
            kept.append((line.origin, line.content.rstrip("\r\n")[:MAX_LINE]))
    return tuple(kept), False


def read_changes(workdir: str, timeout: float = 0.0) -> tuple[list[FileChange], bool]:
    """The files ``HEAD`` of the repository in ``workdir`` changed, and whether more did.

    ``timeout`` is the worker's deadline (the pool appends it); a local diff needs none.
    """
    import pygit2  # in the Git worker only: the UI's process never loads libgit2

    repo = pygit2.Repository(workdir)
    commit = repo.head.peel(pygit2.Commit)
    if commit.parents:
        diff = repo.diff(commit.parents[0], commit)
    else:
        diff = commit.tree.diff_to_tree(swap=True)
    out: list[FileChange] = []
    for patch in diff:
        if patch is None:
            continue
        if len(out) == MAX_FILES:
            return out, True
        delta = patch.delta
        _, added, removed = patch.line_stats
        binary = bool(delta.is_binary)
        lines, truncated = ((), False) if binary else _lines(patch)
        out.append(FileChange(delta.new_file.path or delta.old_file.path, delta.status_char(),
                              added, removed, binary, lines, truncated))
    return out, False
