"""GitHub's JSON shapes for the forge fixture's GitHub dialect (`sluice.testing.forge_github`).

Users and organisations, repositories (with the caller's ``permissions``),
deploy keys, commit statuses, pull requests with their ``head``/``base``
branches, and issue comments, as GitHub's REST API v3 writes them: the
``node_id`` encoding, the ``*_url`` links below the API root, ``null`` for
what is unset. Clients (go-git-providers in Flux's bootstrap, the
notification providers) read these fields, so their names and types follow
GitHub's; values are the forge's state.
"""

from __future__ import annotations

import base64

from sluice.testing.forge_model import (
    PERMISSIONS,
    Account,
    Comment,
    CommitStatus,
    DeployKey,
    Json,
    PullRequest,
    Repository,
    now_iso,
)
from sluice.testing.forge_state import ForgeState

__all__ = [
    "account_json",
    "branch_json",
    "comment_json",
    "github_api",
    "key_json",
    "owner_of",
    "pull_json",
    "repo_json",
    "status_json",
]


def github_api(forge: ForgeState) -> str:
    """The API root clients are given: ``<forge>/api/v3``."""
    return forge.api_url("github")


def account_json(forge: ForgeState, account: Account, full: bool = False) -> Json:
    kind = "users" if account.kind == "User" else "orgs"
    body: Json = {"login": account.login, "id": account.id,
                  "node_id": base64.b64encode(f"04:{account.kind}{account.id}".encode()).decode(),
                  "type": account.kind, "site_admin": False,
                  "url": f"{github_api(forge)}/{kind}/{account.login}",
                  "html_url": f"{forge.url}/{account.login}",
                  "repos_url": f"{github_api(forge)}/{kind}/{account.login}/repos",
                  "avatar_url": f"{forge.url}/avatars/u/{account.id}"}
    if full:
        body.update({"name": account.name, "email": account.email or None,
                     "created_at": account.created_at, "updated_at": account.created_at,
                     "public_repos": sum(1 for r in forge.repositories.values()
                                         if r.owner == account.login and not r.private)})
        if account.kind == "Organization":
            body.pop("site_admin")
            body["description"] = ""
    return body


def owner_of(forge: ForgeState, login: str) -> Account:
    account = forge.account(login)
    assert account is not None
    return account


def repo_json(forge: ForgeState, repo: Repository, login: str | None) -> Json:
    permission = forge.permission(repo, login) or "pull"
    level = PERMISSIONS.index(permission)
    api = f"{github_api(forge)}/repos/{repo.full_name}"
    ssh_url = forge.ssh_url(repo.full_name) if forge.ssh is not None else ""
    return {
        "id": repo.id, "node_id": base64.b64encode(f"010:Repository{repo.id}".encode()).decode(),
        "name": repo.name, "full_name": repo.full_name, "private": repo.private,
        "visibility": repo.visibility, "owner": account_json(forge, owner_of(forge, repo.owner)),
        "html_url": f"{forge.url}/{repo.full_name}", "description": repo.description or None,
        "fork": False, "url": api, "clone_url": forge.clone_url(repo.full_name),
        "git_url": f"git://{forge.hostname}/{repo.full_name}.git", "ssh_url": ssh_url,
        "keys_url": f"{api}/keys{{/key_id}}", "pulls_url": f"{api}/pulls{{/number}}",
        "statuses_url": f"{api}/statuses/{{sha}}",
        "default_branch": repo.default_branch, "archived": False, "disabled": False,
        "created_at": repo.created_at, "updated_at": repo.created_at, "pushed_at": now_iso(),
        "permissions": {"admin": level >= 4, "maintain": level >= 3, "push": level >= 2,
                        "triage": level >= 1, "pull": True},
    }


def key_json(forge: ForgeState, repo: Repository, key: DeployKey) -> Json:
    return {"id": key.id, "key": key.key,
            "url": f"{github_api(forge)}/repos/{repo.full_name}/keys/{key.id}",
            "title": key.title, "verified": True, "created_at": key.created_at,
            "read_only": key.read_only, "added_by": repo.owner, "last_used": None,
            "enabled": True}


def status_json(forge: ForgeState, repo: Repository, status: CommitStatus) -> Json:
    creator = forge.account(status.creator)
    return {"url": f"{github_api(forge)}/repos/{repo.full_name}/statuses/{status.sha}",
            "avatar_url": None, "id": status.id,
            "node_id": base64.b64encode(f"011:StatusContext{status.id}".encode()).decode(),
            "state": status.state, "description": status.description or None,
            "target_url": status.target_url or None, "context": status.context,
            "created_at": status.created_at, "updated_at": status.created_at,
            "creator": account_json(forge, creator) if creator else None}


def branch_json(forge: ForgeState, repo: Repository, branch: str, login: str | None) -> Json:
    owner = owner_of(forge, repo.owner)
    return {"label": f"{owner.login}:{branch}", "ref": branch, "sha": repo.head(branch) or "",
            "user": account_json(forge, owner), "repo": repo_json(forge, repo, login)}


def pull_json(forge: ForgeState, repo: Repository, pr: PullRequest, login: str | None) -> Json:
    author = forge.account(pr.author)
    api = f"{github_api(forge)}/repos/{repo.full_name}"
    return {
        "url": f"{api}/pulls/{pr.number}", "id": pr.id,
        "node_id": base64.b64encode(f"011:PullRequest{pr.id}".encode()).decode(),
        "html_url": f"{forge.url}/{repo.full_name}/pull/{pr.number}",
        "diff_url": f"{forge.url}/{repo.full_name}/pull/{pr.number}.diff",
        "issue_url": f"{api}/issues/{pr.number}",
        "comments_url": f"{api}/issues/{pr.number}/comments",
        "number": pr.number, "state": "open" if pr.state == "open" else "closed",
        "locked": False, "title": pr.title, "body": pr.body or None,
        "user": account_json(forge, author) if author else None,
        "created_at": pr.created_at, "updated_at": pr.updated_at,
        "closed_at": None if pr.state == "open" else pr.updated_at,
        "merged_at": pr.updated_at if pr.state == "merged" else None,
        "merged": pr.state == "merged", "draft": pr.draft,
        "head": branch_json(forge, repo, pr.head, login),
        "base": branch_json(forge, repo, pr.base, login),
    }


def comment_json(forge: ForgeState, repo: Repository, comment: Comment) -> Json:
    author = forge.account(comment.author)
    api = f"{github_api(forge)}/repos/{repo.full_name}"
    return {"id": comment.id, "url": f"{api}/issues/comments/{comment.id}",
            "html_url": f"{forge.url}/{repo.full_name}/pull/{comment.number}"
                        f"#issuecomment-{comment.id}",
            "issue_url": f"{api}/issues/{comment.number}", "body": comment.body,
            "user": account_json(forge, author) if author else None,
            "created_at": comment.created_at, "updated_at": comment.created_at}
