"""The commit behind a source's revision: subject, full message, author and date.

A GitRepository's status names its revision (``main@sha1:<hash>``) but not
the commit's message or author. source-controller says the subject once, in
its ``NewArtifact`` Event (``stored artifact for commit '<subject>'``), and
Events expire. So the page asks for this fragment, which:

1. looks the hash up in a small cache (a commit never changes);
2. otherwise checks the commit out from the GitRepository's own URL with its
   own Secret (`sluice.git.checkout`, run in sluice.git's killable worker
   pool under a deadline, never on the event loop), into a temporary
   directory removed at once. Concurrent pages asking for the same commit
   share one checkout;
3. if that fails (the UI's machine cannot reach the remote, the Secret is
   not readable from here), shows the subject from the NewArtifact Event
   when the live state holds one, and says why the rest is missing.

An ImageUpdateAutomation's ``status.lastPushCommit`` is read the same way,
from its GitRepository's remote: the page shows the pushed commit's message
(Flux's event only says ``pushed commit '<short>' to branch '<b>'``).

While the checkout is there, the commit's changes against its parent are
read too (`sluice.git.commit_changes`, in a Git worker): for an automation,
the setter lines it rewrote in each file (``- image: app:1.0 # {"$imagepolicy":
...}`` then ``+ ...:1.1``); for a GitRepository only the files and their
line counts, never their lines (a commit to a source may hold a Secret).

The commit links to its page on the forge when the GitRepository's URL names
a known one (`forge_commit_url`: GitHub, GitLab, Gitea/Forgejo/Codeberg,
Bitbucket, Azure DevOps; ``ssh://`` and scp-like URLs turned into ``https://``,
credentials dropped). An unknown host gets no link rather than a guessed one.

An OCIRepository's artifact carries its own metadata (the OCI annotations
``org.opencontainers.image.revision``/``source``/``created``, set by
``flux push artifact``); `oci_facts` reads them from the live object.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import dataclasses
import re
import shutil
import tempfile
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from sluice.git import FileChange, GitAuth, GitError, GitRef, checkout, commit_changes
from sluice.kube.errors import KubeError
from sluice.kube.objects import Objects

__all__ = ["CommitInfo", "CommitLookup", "artifact_subject", "commit_hash", "forge_commit_url",
           "oci_facts"]

CHECKOUT_TIMEOUT = 30.0
CACHED = 256
_HEX40 = re.compile(r"^[0-9a-f]{40}$")
_SHA1 = re.compile(r"(?:^|@)sha1:([0-9a-f]{40})$")
_SUBJECT = re.compile(r"^stored artifact for commit '(.*)'$", re.DOTALL)
OCI_ANNOTATIONS = (("Revision", "org.opencontainers.image.revision"),
                   ("Source", "org.opencontainers.image.source"),
                   ("Created", "org.opencontainers.image.created"),
                   ("Authors", "org.opencontainers.image.authors"),
                   ("Description", "org.opencontainers.image.description"))


@dataclass(frozen=True)
class CommitInfo:
    hash: str
    subject: str = ""
    message: str = ""
    author: str = ""
    date: str = ""
    problem: str = ""  # why the full commit could not be read
    files: tuple[FileChange, ...] = ()  # what it changed against its parent
    more_files: bool = False  # more files changed than `files` lists
    files_problem: str = ""
    url: str = ""  # the commit's page on its forge, when known


def commit_hash(revision: str) -> str:
    """The SHA-1 of a Flux Git revision (``<ref>@sha1:<hash>`` or ``sha1:<hash>``)."""
    found = _SHA1.search(revision.strip())
    return found.group(1) if found else ""


_SCP_LIKE = re.compile(r"^(?:[\w.-]+@)?([\w.-]+):(?!//)(.+)$")
# (host test, path of a commit below the repository's web address)
_FORGES: tuple[tuple[str, str], ...] = (
    ("gitlab", "/-/commit/"),
    ("bitbucket", "/commits/"),
    ("github", "/commit/"),
    ("gitea", "/commit/"),
    ("forgejo", "/commit/"),
    ("codeberg", "/commit/"),
)


def forge_commit_url(repo_url: str, sha: str) -> str:
    """The forge's web page of commit ``sha`` of ``repo_url``, "" when the forge is unknown."""
    if not _HEX40.match(sha):
        return ""
    url = repo_url.strip()
    scp = _SCP_LIKE.match(url)
    if scp and "://" not in url:
        host, path = scp.group(1), scp.group(2)
    else:
        try:
            parts = urlsplit(url)
        except ValueError:
            return ""
        if parts.scheme not in ("http", "https", "ssh"):
            return ""
        # A web address keeps its port; an SSH port says nothing about the web one.
        host = (parts.netloc.rpartition("@")[2] if parts.scheme != "ssh"
                else parts.hostname or "")
        path = parts.path
    host = host.lower()
    path = "/" + path.strip("/").removesuffix(".git")
    if host in ("ssh.dev.azure.com", "vs-ssh.visualstudio.com") and path.startswith("/v3/"):
        org, _, rest = path.removeprefix("/v3/").partition("/")
        project, _, repo = rest.partition("/")
        return f"https://dev.azure.com/{org}/{project}/_git/{repo}/commit/{sha}" \
            if org and project and repo else ""
    if host == "dev.azure.com" and "/_git/" in path:
        return f"https://dev.azure.com{path}/commit/{sha}"
    if path.count("/") < 2:
        return ""
    for marker, commit_path in _FORGES:
        if marker in host:
            return f"https://{host}{path}{commit_path}{sha}"
    return ""


def artifact_subject(events: Iterable[Mapping[str, Any]]) -> str:
    """The commit subject from the newest NewArtifact Event, if the live state holds one."""
    for event in events:  # newest first
        if event.get("reason") == "NewArtifact":
            found = _SUBJECT.match(str(event.get("message") or ""))
            if found:
                return found.group(1)
    return ""


def oci_facts(obj: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(label, value) of the OCI annotations an OCIRepository's artifact carries."""
    metadata = ((obj.get("status") or {}).get("artifact") or {}).get("metadata") or {}
    return [(label, str(metadata[key])) for label, key in OCI_ANNOTATIONS
            if metadata.get(key)]


class CommitLookup:
    """Commits read from their remotes, cached by (url, hash), one checkout at a time each."""

    def __init__(self, objects: Objects) -> None:
        self.objects = objects
        self._cache: OrderedDict[tuple[str, str], CommitInfo] = OrderedDict()
        self._running: dict[tuple[str, str], asyncio.Task[CommitInfo]] = {}

    async def for_git_repository(self, obj: Mapping[str, Any], subject: str) -> CommitInfo:
        """The commit of the GitRepository's artifact."""
        artifact = (obj.get("status") or {}).get("artifact") or {}
        sha = commit_hash(str(artifact.get("revision") or ""))
        if not sha:
            return CommitInfo("", subject, problem="no artifact with a commit yet")
        branch = str(((obj.get("spec") or {}).get("ref") or {}).get("branch") or "")
        return await self.read(obj, sha, branch, subject)

    async def for_automation(self, auto: Mapping[str, Any],
                             repo: Mapping[str, Any] | None) -> CommitInfo:
        """The commit an ImageUpdateAutomation last pushed, read from its GitRepository."""
        status = auto.get("status") or {}
        sha = str(status.get("lastPushCommit") or "")
        if not _HEX40.match(sha):
            return CommitInfo("", problem="nothing pushed yet")
        if repo is None:
            return CommitInfo(sha, problem="its GitRepository is not found")
        git = (auto.get("spec") or {}).get("git") or {}
        branch = str((git.get("push") or {}).get("branch")
                     or ((git.get("checkout") or {}).get("ref") or {}).get("branch")
                     or ((repo.get("spec") or {}).get("ref") or {}).get("branch") or "")
        return await self.read(repo, sha, branch, "")

    async def read(self, repo: Mapping[str, Any], sha: str, branch: str,
                   subject: str) -> CommitInfo:
        """Commit `sha` of `repo`'s remote (on `branch`), from the cache or a checkout."""
        url = str((repo.get("spec") or {}).get("url") or "")
        key = (url, sha)
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        task = self._running.get(key)
        if task is None:
            task = asyncio.create_task(self._read(repo, url, sha, branch))
            self._running[key] = task
            task.add_done_callback(lambda _: self._running.pop(key, None))
        info = await asyncio.shield(task)
        link = forge_commit_url(url, sha)  # also when the remote is out of reach from here
        if info.problem:
            return CommitInfo(sha, subject, problem=info.problem, url=link)
        info = dataclasses.replace(info, url=link)
        self._cache[key] = info
        while len(self._cache) > CACHED:
            self._cache.popitem(last=False)
        return info

    async def _auth(self, obj: Mapping[str, Any]) -> GitAuth:
        name = str(((obj.get("spec") or {}).get("secretRef") or {}).get("name") or "")
        if not name:
            return GitAuth()
        namespace = str((obj.get("metadata") or {}).get("namespace") or "")
        mapping = await self.objects.mapping("v1", "Secret")
        secret = await self.objects.get(mapping, name, namespace)
        data: dict[str, bytes] = {}
        for key, value in (secret.get("data") or {}).items():
            try:
                data[str(key)] = base64.b64decode(str(value), validate=True)
            except (binascii.Error, ValueError):
                continue  # the controller reports a broken Secret; here it only costs auth
        return GitAuth.from_secret(data)

    async def _read(self, obj: Mapping[str, Any], url: str, sha: str,
                    branch: str) -> CommitInfo:
        meta = obj.get("metadata") or {}
        # The work tree is written and removed off the event loop (it may be large).
        tmp = await asyncio.to_thread(tempfile.mkdtemp, prefix="sluice-ui-commit-")
        try:
            auth = await self._auth(obj)
            key = f"ui/{meta.get('namespace')}/{meta.get('name')}"
            commit = await checkout(url, GitRef(branch=branch, commit=sha), auth, tmp,
                                    timeout=CHECKOUT_TIMEOUT, key=key)
            files: list[FileChange] = []
            more, files_problem = False, ""
            try:
                files, more = await commit_changes(tmp, timeout=CHECKOUT_TIMEOUT, key=key)
            except GitError as exc:  # the commit is still worth showing
                files_problem = f"cannot read its changes: {exc}"
        except GitError as exc:
            return CommitInfo(sha, problem=f"cannot read the commit from here: {exc}")
        except KubeError as exc:
            return CommitInfo(sha, problem=f"cannot read the Git credentials: {exc}")
        finally:
            await asyncio.to_thread(shutil.rmtree, tmp, True)
        author = commit.author
        return CommitInfo(sha, commit.short_message, commit.message.strip(),
                          f"{author.name} <{author.email}>",
                          author.when.isoformat(sep=" ", timespec="seconds"),
                          files=tuple(files), more_files=more, files_problem=files_problem)
