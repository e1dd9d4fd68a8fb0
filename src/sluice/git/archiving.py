"""A source artifact straight from a checked-out commit's objects, in a Git worker.

Why: a GitRepository's artifact used to cost a checkout writing every file
of the tree (10,000 files: the bigger half of the time, more on a busy
disk) and then a walk reading them all back, in the controller process,
where the Python part of that work holds the interpreter the embedded API
server also needs. Here a worker (`sluice.git.pool`, op ``archive``) reads
the blobs of ``HEAD``'s tree from the fetched objects and writes the
tar.gz (`sluice.core.tarwriter`) straight to the artifact's temporary
file: nothing is written twice and nothing runs on the controller's
interpreter.

**The same bytes as archiving a checkout.** `archive_directory` on a
checkout is the reference; the tree walk must give identical output, or
an upgrade would publish "new" artifacts. The ignore rules are built as
`load_ignore_rules` does (built-in patterns, then every `.sourceignore`
blob parents first, each below its directory, then `spec.ignore`), names
are walked in the same byte order, modes come from the tree (100755 gives
0755, as a checkout's executable bit does). Whenever a checkout could
write something other than the blobs, the worker checks the tree out and
archives the files instead (`plain_tree` says when; `ops.checkout` has
then written them even without a work tree), which is always exact:

* symlinks (whether one stays inside the tree depends on where it resolves
  on disk) and submodules (gitlinks);
* ``.gitattributes`` anywhere, or config that converts line endings or
  names an attributes file (checkout filters: eol, ident, encodings);
* names a checkout may refuse or change (``.git``, NTFS-protected forms,
  anything outside a plain character set, over 255 bytes) and empty trees;
* a ``spec.ignore`` that re-includes ``.git`` (the checkout's own
  repository would then be in the artifact).

With ``from_disk`` the caller has already changed the work tree (included
artifacts copied in, submodules checked out): it is archived as it is.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import IO, Any

import pygit2

from sluice.core.sourceignore import IGNORE_FILE, IgnoreRules, load_ignore_rules
from sluice.core.tarballs import ArchiveError
from sluice.core.tarwriter import ArchiveSummary, TarGzWriter, archive_directory
from sluice.git.errors import ArchiveFailed

__all__ = ["archive", "plain_tree"]

_TREE = 0o040000
_FILE = 0o100644
_EXECUTABLE = 0o100755
# Names every checkout writes as they are on every platform's rules
# (libgit2 protects NTFS forms by default: trailing dots, `~`, `:` streams).
_PLAIN_NAME = re.compile(r"\.?[A-Za-z0-9_@+=,-](?:[A-Za-z0-9._@+=,-]*[A-Za-z0-9_@+=,-])?")
_NAME_MAX = 255


def archive(workdir: str, out: str, spec_ignore: str | None, from_disk: bool,
            timeout: float) -> ArchiveSummary:
    """Write the artifact of the checkout in `workdir` to the file `out` (see module docs)."""
    path = Path(workdir)
    try:
        with open(out, "wb") as handle:
            summary = _archive(path, handle, spec_ignore, from_disk)
            handle.flush()
            os.fsync(handle.fileno())
    except ArchiveError as err:
        raise ArchiveFailed(str(err)) from None
    except (pygit2.GitError, OSError, KeyError, ValueError) as err:
        raise ArchiveFailed(f"failed to archive '{workdir}': {err}") from None
    return summary


# One directory as the walk needs it, in name order: (name, kind, blob or subdirectory).
_Listing = list[Any]
_KIND_FILE, _KIND_EXECUTABLE, _KIND_DIR = 0, 1, 2


def plain_tree(repo: pygit2.Repository, tree: pygit2.Tree) -> bool:
    """Whether a checkout of `tree` would write exactly its blobs (see the module docs).

    `ops.checkout` without a work tree still writes the files when not, so
    that a tree a checkout refuses (a ``..`` entry) fails the checkout as
    before, and `archive` then finds them on disk.
    """
    return _config_plain(repo) and _scan(tree, "", []) is not None


def _archive(path: Path, out: IO[bytes], spec_ignore: str | None,
             from_disk: bool) -> ArchiveSummary:
    if not from_disk:
        repo = pygit2.Repository(str(path))
        tree = repo.head.peel(pygit2.Commit).tree
        ignore_files: list[tuple[str, str]] = []
        listing = _scan(tree, "", ignore_files) if _config_plain(repo) else None
        if listing is None:
            # Something only a checkout shows exactly: `checkout` wrote the files.
            return archive_directory(path, out, load_ignore_rules(path, spec_ignore))
        rules = IgnoreRules.defaults()
        for domain, text in ignore_files:
            rules = rules.extend(text, domain)
        if spec_ignore:
            rules = rules.extend(spec_ignore)
        if rules.is_ignored(".git", True):
            with TarGzWriter(out) as writer:
                _emit(writer, listing, "", rules)
                return writer.close()
        # `spec.ignore` brings `.git` back: the files and the repository, as on disk.
        repo.checkout_tree(  # type: ignore[no-untyped-call]
            tree, strategy=pygit2.enums.CheckoutStrategy.FORCE)
    return archive_directory(path, out, load_ignore_rules(path, spec_ignore))


def _config_plain(repo: pygit2.Repository) -> bool:
    """Whether checkout filters are off: no line-ending conversion, no attributes file."""
    config = repo.config
    if "core.attributesfile" in config:
        return False
    if "core.autocrlf" in config and str(config["core.autocrlf"]).lower() not in ("false", "input"):
        return False
    return not ("core.eol" in config and str(config["core.eol"]).lower() == "crlf")


def _scan(tree: pygit2.Tree, rel: str, ignore_files: list[tuple[str, str]]) -> _Listing | None:
    """`tree` listed for `_emit`, or None when a checkout would not write exactly its blobs.

    Gathers the `.sourceignore` texts parents first, as `load_ignore_rules`
    reads them (a directory's own file before any of its subdirectories',
    these in name order), so the rule layers stack the same way. Blobs are
    not read here (but for ignore files): `_emit` reads each once.
    """
    listing: _Listing = []
    for entry in tree:
        raw = entry.raw_name or b""
        if len(raw) > _NAME_MAX:
            return None
        name = raw.decode("ascii", "replace")
        if not _PLAIN_NAME.fullmatch(name) or name.lower() in (".git", ".gitattributes"):
            return None
        mode = entry.filemode
        if mode == _TREE:
            listing.append([name, _KIND_DIR, entry])
        elif mode == _FILE or mode == _EXECUTABLE:
            listing.append([name, _KIND_FILE if mode == _FILE else _KIND_EXECUTABLE, entry])
            if name == IGNORE_FILE:
                assert isinstance(entry, pygit2.Blob)
                ignore_files.append((rel, entry.data.decode("utf-8", errors="replace")))
        else:
            return None  # symlink, submodule
    if not listing and rel:
        return None  # a checkout writes no directory for an empty tree
    listing.sort(key=lambda item: item[0])  # byte order (names are ASCII here)
    for item in listing:
        if item[1] == _KIND_DIR:
            sub = _scan(item[2], f"{rel}/{item[0]}" if rel else item[0], ignore_files)
            if sub is None:
                return None
            item[2] = sub
    return listing


def _emit(writer: TarGzWriter, listing: _Listing, rel: str, rules: IgnoreRules) -> None:
    """The kept entries of `listing` into `writer`, in `sourceignore.walk`'s order."""
    for n, (name, kind, value) in enumerate(listing):
        listing[n] = None  # each blob is let go once written
        path = f"{rel}/{name}" if rel else name
        if kind == _KIND_DIR:
            if not rules.is_ignored(path, True):  # else pruned whole, as a walk does
                writer.directory(path)
                _emit(writer, value, path, rules)
        elif not rules.is_ignored(path, False):
            # The blob's own buffer: loaded once by libgit2, never copied into a
            # bytes object (`.size` then `.data` loaded it twice: a quarter of the walk).
            writer.file(path, memoryview(value), kind == _KIND_EXECUTABLE)
