"""Git for every controller: fetch, check out, commit and push, in killable workers.

This is the one place Sluice talks Git (libgit2 through pygit2). It sits
below the controllers and imports only `sluice.api` and `sluice.core`, so
the source controller (GitRepository), the image-automation controller
(ImageUpdateAutomation) and the CLI share one implementation::

    from sluice.git import Author, GitAuth, GitRef, checkout, commit_and_push

    auth = GitAuth.from_secret(decoded_secret_data)
    commit = await checkout(url, GitRef(branch="main"), auth, workdir, timeout=60,
                            key="ImageUpdateAutomation/flux-system/apps")
    ...edit files under workdir...
    result = await commit_and_push(workdir, url, auth, branch="main",
                                   message="Update from image update automation",
                                   author=Author("fluxcdbot", "fluxcdbot@users.noreply.github.com"),
                                   key="ImageUpdateAutomation/flux-system/apps")
    result.pushed, result.commit   # False when nothing changed (no commit, no push)

Modules:

* `client`: the async API (`remote_revision`, `checkout`, `archive`, `commit_and_push`);
* `pool`: runs each operation in a worker process under its deadline,
  sharing workers fairly between callers (`key`);
* `ops`: the blocking libgit2 work itself, run inside a worker;
* `archiving`: a checkout's artifact (tar.gz) from its commit's objects, in a worker;
* `session`: libgit2 callbacks: credentials, SSH host-key pinning, CA;
* `auth`: `GitAuth` (a Flux Git Secret), validation, secret scrubbing;
* `refs`: `GitRef`, `Commit`, `PushResult`, Flux revision strings;
* `signing`: commit signatures, OpenPGP through GnuPG (`OpenPGPKey`, `check_key`) and
  SSH through ssh-keygen (`SSHKey`, `load_ssh_key`);
* `changes`: what one checked-out commit changed, file by file (local, no network);
* `errors`: the error tree, each error carrying its Flux reason.
"""

from sluice.git.auth import GitAuth, Scrubber, safe_url
from sluice.git.changes import FileChange
from sluice.git.client import (
    DEFAULT_TIMEOUT,
    archive,
    checkout,
    commit_and_push,
    commit_changes,
    remote_revision,
)
from sluice.git.errors import (
    ArchiveFailed,
    AuthenticationFailed,
    GitError,
    GitOperationFailed,
    GitTimeout,
    InvalidURL,
    PushRejected,
    RefNotFound,
    SigningKeyError,
    WorkerCrashed,
)
from sluice.git.refs import DEFAULT_BRANCH, Author, Commit, GitRef, PushResult, Signature
from sluice.git.signing import CommitSigner, OpenPGPKey, SSHKey, check_key, load_ssh_key

__all__ = [
    "DEFAULT_BRANCH",
    "DEFAULT_TIMEOUT",
    "ArchiveFailed",
    "AuthenticationFailed",
    "Author",
    "Commit",
    "CommitSigner",
    "FileChange",
    "GitAuth",
    "GitError",
    "GitOperationFailed",
    "GitRef",
    "GitTimeout",
    "InvalidURL",
    "OpenPGPKey",
    "PushRejected",
    "PushResult",
    "RefNotFound",
    "SSHKey",
    "Scrubber",
    "Signature",
    "SigningKeyError",
    "WorkerCrashed",
    "archive",
    "check_key",
    "checkout",
    "commit_and_push",
    "commit_changes",
    "load_ssh_key",
    "remote_revision",
    "safe_url",
]
