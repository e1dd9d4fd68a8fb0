"""The GitLab API v4 dialect of the forge fixture (`sluice.testing.forge`).

Served below ``/api/v4`` as a self-managed GitLab serves it (what
``--hostname`` addresses). GitHub organisations are GitLab groups here
(nested groups are accounts whose login has slashes, ``acme/platform``);
projects are addressed by numeric id or URL-encoded path
(``/projects/acme%2Ffleet``). GitLab's shapes:

* tokens in ``PRIVATE-TOKEN`` or ``Authorization: Bearer``; a wrong one is
  ``401 {"message": "401 Unauthorized"}``; what the caller may not see is
  ``404 {"message": "404 Project Not Found"}``;
* ``RateLimit-Limit|Observed|Remaining|Reset|ResetTime`` headers, and
  ``429 Retry later`` with ``Retry-After`` once the limit is spent;
* validation errors as ``400 {"message": {"field": ["..."]}}``, an open merge
  request for the same branches as ``409``, a commit status that does not
  change as ``400 Cannot transition status via :run from :running``;
* paging headers ``X-Page``, ``X-Per-Page``, ``X-Total``, ``X-Total-Pages``,
  ``X-Next-Page``, ``X-Prev-Page`` and ``Link`` (``per_page`` default 20).
"""

from __future__ import annotations

import email.utils
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import unquote

from aiohttp import web

from sluice.testing.forge_api import (
    DialectRules,
    endpoint,
    json_response,
    paginate,
)
from sluice.testing.forge_model import (
    PERMISSIONS,
    Account,
    Comment,
    CommitStatus,
    DeployKey,
    ForgeError,
    Json,
    PullRequest,
    Repository,
    key_line,
    now_iso,
)
from sluice.testing.forge_state import ForgeState

__all__ = ["register"]

# GitHub permission -> GitLab access level (reporter, developer, maintainer, owner).
_LEVELS = {"pull": 20, "triage": 20, "push": 30, "maintain": 40, "admin": 50}
_BY_LEVEL = {10: "pull", 20: "pull", 30: "push", 40: "maintain", 50: "admin"}
_STATES = {"pending": "enqueue", "running": "run", "success": "succeed", "failed": "drop",
           "canceled": "cancel", "skipped": "skip"}

Handler = Callable[[web.Request, ForgeState, str | None, list[str]],
                   Awaitable[web.StreamResponse]]


def _token(request: web.Request) -> tuple[bool, str]:
    if "PRIVATE-TOKEN" in request.headers:
        return True, request.headers["PRIVATE-TOKEN"]
    header = request.headers.get("Authorization", "")
    if not header:
        return False, ""
    return True, header.partition(" ")[2].strip()


def _rate_headers(forge: ForgeState) -> dict[str, str]:
    rate = forge.rate_limit
    return {"RateLimit-Limit": str(rate.limit), "RateLimit-Observed": str(rate.used),
            "RateLimit-Remaining": str(rate.remaining), "RateLimit-Reset": str(rate.reset),
            "RateLimit-ResetTime": email.utils.formatdate(rate.reset, usegmt=True)}


def _message(err: ForgeError) -> Json:
    if err.gitlab_message is not None:
        return {"message": err.gitlab_message}
    return {"message": err.message}


def _segments(request: web.Request) -> list[str]:
    """The path below ``/api/v4`` split on raw slashes, each segment URL-decoded."""
    raw = request.rel_url.raw_path.removeprefix("/api/v4").strip("/")
    return [unquote(part) for part in raw.split("/")] if raw else []


_GITLAB = DialectRules(
    "gitlab", _token, _rate_headers,
    error=lambda err: json_response(_message(err), err.status),
    bad_token=lambda: json_response({"message": "401 Unauthorized"}, 401),
    rate_limited=lambda forge, login: web.Response(status=429, text="Retry later\n", headers={
        "Retry-After": str(max(0, forge.rate_limit.reset - _now()))}))


def _endpoint(handler: Handler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def with_segments(request: web.Request, forge: ForgeState,
                            login: str | None) -> web.StreamResponse:
        return await handler(request, forge, login, _segments(request))

    return endpoint(_GITLAB, with_segments)


def _now() -> int:
    import time

    return int(time.time())


async def _body(request: web.Request) -> Json:
    if not request.can_read_body:
        return dict(request.query)
    if request.content_type == "application/json":
        try:
            data = await request.json()
        except ValueError:
            raise ForgeError(400, "400 Bad request") from None
        if not isinstance(data, dict):
            raise ForgeError(400, "400 Bad request")
        return data
    return dict(await request.post())


def _require(login: str | None) -> str:
    if login is None:
        raise ForgeError(401, "401 Unauthorized")
    return login


def _truthy(value: Any) -> bool:
    return value is True or str(value).lower() in ("true", "1", "yes")


# --- shapes --------------------------------------------------------------------------------

def _user_json(forge: ForgeState, account: Account, full: bool = False) -> Json:
    body: Json = {"id": account.id, "username": account.login, "name": account.name,
                  "state": "active", "locked": False,
                  "avatar_url": f"{forge.url}/uploads/-/system/user/avatar/{account.id}",
                  "web_url": f"{forge.url}/{account.login}"}
    if full:
        body.update({"email": account.email, "created_at": account.created_at,
                     "bot": False, "is_admin": False})
    return body


def _group_json(forge: ForgeState, account: Account) -> Json:
    parent_path, _, path = account.login.rpartition("/")
    parent = forge.account(parent_path) if parent_path else None
    return {"id": account.id, "name": account.name.rpartition("/")[2], "path": path,
            "full_name": account.name.replace("/", " / "), "full_path": account.login,
            "web_url": f"{forge.url}/groups/{account.login}", "visibility": "private",
            "parent_id": parent.id if parent else None, "created_at": account.created_at,
            "description": ""}


def _namespace_json(forge: ForgeState, account: Account) -> Json:
    kind = "user" if account.kind == "User" else "group"
    parent_path, _, path = account.login.rpartition("/")
    parent = forge.account(parent_path) if parent_path else None
    return {"id": account.id, "name": account.name, "path": path, "kind": kind,
            "full_path": account.login, "parent_id": parent.id if parent else None,
            "web_url": f"{forge.url}/{'' if kind == 'user' else 'groups/'}{account.login}"}


def project_json(forge: ForgeState, repo: Repository, login: str | None) -> Json:
    owner = forge.account(repo.owner)
    assert owner is not None
    permission = forge.permission(repo, login)
    access = {"access_level": _LEVELS[permission], "notification_level": 3} \
        if permission and login else None
    return {
        "id": repo.id, "description": repo.description or None, "name": repo.name,
        "name_with_namespace": f"{owner.name.replace('/', ' / ')} / {repo.name}",
        "path": repo.name, "path_with_namespace": repo.full_name,
        "created_at": repo.created_at, "last_activity_at": now_iso(),
        "default_branch": repo.default_branch if repo.head() else None,
        "ssh_url_to_repo": forge.ssh_url(repo.full_name) if forge.ssh is not None else "",
        "http_url_to_repo": forge.clone_url(repo.full_name),
        "web_url": f"{forge.url}/{repo.full_name}", "visibility": repo.visibility,
        "namespace": _namespace_json(forge, owner), "empty_repo": repo.head() is None,
        "archived": False,
        "permissions": {"project_access": access, "group_access": None},
        "shared_with_groups": [{"group_full_path": path, "group_access_level": _LEVELS[perm]}
                               for path, perm in sorted(repo.teams.items())],
    }


def _key_json(key: DeployKey) -> Json:
    return {"id": key.id, "title": key.title, "key": key.key, "created_at": key.created_at,
            "expires_at": None, "can_push": not key.read_only}


def _status_json(forge: ForgeState, status: CommitStatus) -> Json:
    author = forge.account(status.creator)
    return {"id": status.id, "sha": status.sha, "ref": status.ref or None,
            "status": status.state, "name": status.context,
            "target_url": status.target_url or None,
            "description": status.description or None, "created_at": status.created_at,
            "started_at": status.created_at if status.state != "pending" else None,
            "finished_at": status.created_at
            if status.state in ("success", "failed", "canceled") else None,
            "allow_failure": False, "coverage": None,
            "author": _user_json(forge, author) if author else None}


def _mr_json(forge: ForgeState, repo: Repository, pr: PullRequest) -> Json:
    author = forge.account(pr.author)
    state = {"open": "opened", "closed": "closed", "merged": "merged"}[pr.state]
    return {"id": pr.id, "iid": pr.number, "project_id": repo.id, "title": pr.title,
            "description": pr.body or None, "state": state, "created_at": pr.created_at,
            "updated_at": pr.updated_at,
            "closed_at": pr.updated_at if pr.state == "closed" else None,
            "merged_at": pr.updated_at if pr.state == "merged" else None,
            "target_branch": pr.base, "source_branch": pr.head,
            "source_project_id": repo.id, "target_project_id": repo.id,
            "author": _user_json(forge, author) if author else None, "draft": pr.draft,
            "work_in_progress": pr.draft, "merge_status": "can_be_merged",
            "sha": repo.head(pr.head), "web_url": f"{forge.url}/{repo.full_name}/-/"
                                                  f"merge_requests/{pr.number}",
            "references": {"short": f"!{pr.number}", "full": f"{repo.full_name}!{pr.number}"}}


def _note_json(forge: ForgeState, comment: Comment) -> Json:
    author = forge.account(comment.author)
    return {"id": comment.id, "body": comment.body, "type": None,
            "author": _user_json(forge, author) if author else None,
            "created_at": comment.created_at, "updated_at": comment.created_at,
            "system": False, "noteable_type": "MergeRequest", "noteable_iid": comment.number}


def _listing(request: web.Request, items: list[Any]) -> web.Response:
    page, headers, number, per_page, pages = paginate(request, items, default=20)
    headers.update({"X-Page": str(number), "X-Per-Page": str(per_page),
                    "X-Total": str(len(items)), "X-Total-Pages": str(pages),
                    "X-Next-Page": str(number + 1) if number < pages else "",
                    "X-Prev-Page": str(number - 1) if number > 1 else ""})
    return json_response(page, headers=headers)


# --- lookups -------------------------------------------------------------------------------

def _project(forge: ForgeState, ident: str, login: str | None, at_least: str = "pull") -> Repository:
    repo = (forge.repository_by_id(int(ident)) if ident.isdigit()
            else forge.repository(ident))
    permission = forge.permission(repo, login) if repo is not None else None
    if repo is None or permission is None:
        raise ForgeError(404, "404 Project Not Found")
    if PERMISSIONS.index(permission) < PERMISSIONS.index(at_least):
        raise ForgeError(403, "403 Forbidden")
    return repo




# --- handlers ------------------------------------------------------------------------------

async def _user(request: web.Request, forge: ForgeState, login: str | None,
                parts: list[str]) -> web.StreamResponse:
    account = forge.account(_require(login))
    assert account is not None
    return json_response(_user_json(forge, account, full=True))


async def _users(request: web.Request, forge: ForgeState, login: str | None,
                 parts: list[str]) -> web.StreamResponse:
    wanted = request.query.get("username")
    users = [a for a in forge.accounts.values() if a.kind == "User"
             and (wanted is None or a.login.lower() == wanted.lower())]
    return _listing(request, [_user_json(forge, a) for a in users])


async def _group(request: web.Request, forge: ForgeState, login: str | None,
                 parts: list[str]) -> web.StreamResponse:
    ident = "/".join(parts[1:])
    account = (next((a for a in forge.accounts.values() if str(a.id) == ident), None)
               if ident.isdigit() else forge.account(ident))
    if account is None or account.kind != "Organization":
        raise ForgeError(404, "404 Group Not Found")
    return json_response(_group_json(forge, account))


async def _create_project(request: web.Request, forge: ForgeState, login: str | None,
                          parts: list[str]) -> web.StreamResponse:
    who = _require(login)
    body = await _body(request)
    namespace = body.get("namespace_id")
    owner: Account | None
    if namespace in (None, ""):
        owner = forge.account(who)
    else:
        ident = str(namespace)
        owner = (next((a for a in forge.accounts.values() if str(a.id) == ident), None)
                 if ident.isdigit() else forge.account(ident))
    if owner is None or not forge.may_create_in(owner, who):
        raise ForgeError(400, "namespace is not valid",
                         gitlab_message={"namespace": ["is not valid"]})
    name = str(body.get("path") or body.get("name") or "")
    if not name or "/" in name:
        raise ForgeError(400, "name can't be blank", gitlab_message={
            "name": ["can't be blank"]})
    if forge.repository(owner.login, name) is not None:
        raise ForgeError(400, "has already been taken", gitlab_message={
            "project_namespace.name": ["has already been taken"],
            "name": ["has already been taken"], "path": ["has already been taken"]})
    visibility = str(body.get("visibility") or "private")
    if visibility not in ("public", "private", "internal"):
        raise ForgeError(400, "visibility does not have a valid value",
                         gitlab_message=None)
    description = str(body.get("description") or "")
    branch = str(body.get("default_branch") or forge.default_branch)
    files = None
    if _truthy(body.get("initialize_with_readme")):
        files = {"README.md": f"# {name}\n\n{description}\n" if description else f"# {name}\n"}
    repo = forge.create_repository(owner.login, name, visibility=visibility, files=files,
                                   default_branch=branch, description=description)
    return json_response(project_json(forge, repo, who), 201)


async def _project_routes(request: web.Request, forge: ForgeState, login: str | None,
                          parts: list[str]) -> web.StreamResponse:
    """Everything below ``/projects/:id``, where the id may be an encoded path."""
    if len(parts) < 2:
        if request.method == "POST":
            return await _create_project(request, forge, login, parts)
        raise ForgeError(404, "404 Not Found")
    ident, rest = parts[1], parts[2:]
    method = request.method
    if not rest:
        if method == "GET":
            return json_response(project_json(forge, _project(forge, ident, login), login))
        if method == "PUT":
            return await _update_project(request, forge, login, ident)
    elif rest[0] == "deploy_keys":
        return await _deploy_keys(request, forge, login, ident, rest[1:])
    elif rest[0] == "statuses" and len(rest) == 2 and method == "POST":
        return await _create_status(request, forge, login, ident, rest[1])
    elif rest[:2] == ["repository", "commits"] and len(rest) == 4 and rest[3] == "statuses":
        return _list_statuses(request, forge, login, ident, rest[2])
    elif rest[:2] == ["repository", "branches"] and len(rest) >= 3 and method == "GET":
        repo = _project(forge, ident, login)
        name = "/".join(rest[2:])
        sha = repo.head(name)
        if sha is None:
            raise ForgeError(404, "404 Branch Not Found")
        return json_response({"name": name, "commit": {"id": sha}, "merged": False,
                              "protected": False, "default": name == repo.default_branch})
    elif rest[0] == "merge_requests":
        return await _merge_requests(request, forge, login, ident, rest[1:])
    elif rest == ["share"] and method == "POST":
        return await _share(request, forge, login, ident)
    raise ForgeError(404, "404 Not Found")


async def _update_project(request: web.Request, forge: ForgeState, login: str | None,
                          ident: str) -> web.StreamResponse:
    repo = _project(forge, ident, _require(login), "maintain")
    body = await _body(request)
    if "description" in body:
        repo.description = str(body["description"] or "")
    if body.get("visibility") in ("public", "private", "internal"):
        repo.visibility = body["visibility"]
    if body.get("default_branch"):
        repo.default_branch = str(body["default_branch"])
    return json_response(project_json(forge, repo, login))


async def _deploy_keys(request: web.Request, forge: ForgeState, login: str | None, ident: str,
                       rest: list[str]) -> web.StreamResponse:
    repo = _project(forge, ident, _require(login), "maintain")
    if not rest and request.method == "GET":
        return _listing(request, [_key_json(k) for k in repo.deploy_keys])
    if not rest and request.method == "POST":
        body = await _body(request)
        text = key_line(str(body.get("key") or ""))
        if len(text.split()) != 2:
            raise ForgeError(400, "key is invalid", gitlab_message={
                "key": ["is invalid"], "fingerprint_sha256": ["cannot be generated"]})
        if not body.get("title"):
            raise ForgeError(400, "title is missing")
        if any(k.key == text for k in repo.deploy_keys):
            raise ForgeError(400, "has already been taken", gitlab_message={
                "deploy_keys_projects.deploy_key_id": ["has already been taken"]})
        key = DeployKey(forge.next_id(), str(body["title"]), text,
                        not _truthy(body.get("can_push", False)))
        repo.deploy_keys.append(key)
        return json_response(_key_json(key), 201)
    if len(rest) == 1:
        found = next((k for k in repo.deploy_keys if str(k.id) == rest[0]), None)
        if found is None:
            raise ForgeError(404, "404 Deploy Key Not Found")
        if request.method == "GET":
            return json_response(_key_json(found))
        if request.method == "DELETE":
            repo.deploy_keys.remove(found)
            return web.Response(status=204)
    raise ForgeError(404, "404 Not Found")


async def _create_status(request: web.Request, forge: ForgeState, login: str | None, ident: str,
                         sha: str) -> web.StreamResponse:
    repo = _project(forge, ident, _require(login), "push")
    commit = repo.commit_of(sha)
    if commit is None:
        raise ForgeError(404, "404 Commit Not Found")
    body = await _body(request)
    state = str(body.get("state") or "")
    if state not in _STATES:
        raise ForgeError(400, "state does not have a valid value",
                         gitlab_message=None)
    name = str(body.get("name") or body.get("context") or "default")
    ref = str(body.get("ref") or "")
    previous = [s for s in repo.statuses_for(commit) if s.context == name
                and (not ref or s.ref == ref)]
    if previous and previous[-1].state == state:
        raise ForgeError(400, f"Cannot transition status via :{_STATES[state]} from :{state}")
    status = CommitStatus(forge.next_id(), commit, state, name,
                          str(body.get("description") or ""), str(body.get("target_url") or ""),
                          _require(login), "gitlab", ref=ref)
    repo.statuses.append(status)
    return json_response(_status_json(forge, status), 201)


def _list_statuses(request: web.Request, forge: ForgeState, login: str | None, ident: str,
                   sha: str) -> web.Response:
    repo = _project(forge, ident, login)
    commit = repo.commit_of(sha)
    if commit is None:
        raise ForgeError(404, "404 Commit Not Found")
    statuses = repo.statuses_for(commit)
    if "name" in request.query:
        statuses = [s for s in statuses if s.context == request.query["name"]]
    if "ref" in request.query:
        statuses = [s for s in statuses if s.ref == request.query["ref"]]
    if not _truthy(request.query.get("all", False)):
        latest: dict[str, CommitStatus] = {}
        for status in statuses:
            latest[status.context] = status
        statuses = list(latest.values())
    return _listing(request, [_status_json(forge, s) for s in statuses])


async def _merge_requests(request: web.Request, forge: ForgeState, login: str | None, ident: str,
                          rest: list[str]) -> web.StreamResponse:
    method = request.method
    if not rest and method == "GET":
        repo = _project(forge, ident, login)
        state = request.query.get("state", "all")
        wanted = {"opened": "open", "closed": "closed", "merged": "merged"}.get(state)
        mrs = [p for p in repo.pulls if wanted is None or p.state == wanted]
        for param, attr in (("source_branch", "head"), ("target_branch", "base")):
            if param in request.query:
                mrs = [p for p in mrs if getattr(p, attr) == request.query[param]]
        mrs.sort(key=lambda p: -p.number)
        return _listing(request, [_mr_json(forge, repo, p) for p in mrs])
    if not rest and method == "POST":
        return await _create_mr(request, forge, login, ident)
    if not rest:
        raise ForgeError(404, "404 Not Found")
    repo = _project(forge, ident, login)
    pr = next((p for p in repo.pulls if str(p.number) == rest[0]), None)
    if pr is None:
        raise ForgeError(404, "404 Not found")
    if len(rest) == 1 and method == "GET":
        return json_response(_mr_json(forge, repo, pr))
    if len(rest) == 1 and method == "PUT":
        _project(forge, ident, _require(login), "push")
        body = await _body(request)
        if "title" in body:
            pr.title = str(body["title"])
        if "description" in body:
            pr.body = str(body["description"] or "")
        if body.get("target_branch"):
            pr.base = str(body["target_branch"])
        event = body.get("state_event")
        if event == "close" and pr.state == "open":
            pr.state = "closed"
        elif event == "reopen" and pr.state == "closed":
            pr.state = "open"
        pr.updated_at = now_iso()
        return json_response(_mr_json(forge, repo, pr))
    if rest[1:] == ["notes"] and method == "GET":
        return _listing(request, [_note_json(forge, c) for c in repo.comments
                                  if c.number == pr.number])
    if rest[1:] == ["notes"] and method == "POST":
        body = await _body(request)
        if not body.get("body"):
            raise ForgeError(400, "400 Bad request - body is missing")
        comment = Comment(forge.next_id(), pr.number, str(body["body"]), _require(login))
        repo.comments.append(comment)
        return json_response(_note_json(forge, comment), 201)
    raise ForgeError(404, "404 Not Found")


async def _create_mr(request: web.Request, forge: ForgeState, login: str | None,
                     ident: str) -> web.StreamResponse:
    repo = _project(forge, ident, _require(login), "push")
    body = await _body(request)
    head = str(body.get("source_branch") or "")
    base = str(body.get("target_branch") or "")
    title = str(body.get("title") or "")
    missing = [n for n, v in (("source_branch", head), ("target_branch", base),
                              ("title", title)) if not v]
    if missing:
        raise ForgeError(400, f"{missing[0]} is missing")
    for label, branch in (("Source", head), ("Target", base)):
        if repo.head(branch) is None:
            raise ForgeError(400, f"{label} branch does not exist", gitlab_message=[
                f"{label} branch \"{branch}\" does not exist"])
    existing = next((p for p in repo.pulls if p.state == "open" and p.head == head
                     and p.base == base), None)
    if existing is not None:
        raise ForgeError(409, "exists", gitlab_message=[
            f"Another open merge request already exists for this source branch: "
            f"!{existing.number}"])
    number = 1 + max([p.number for p in repo.pulls], default=0)
    pr = PullRequest(forge.next_id(), number, title, str(body.get("description") or ""), head,
                     base, _require(login))
    repo.pulls.append(pr)
    return json_response(_mr_json(forge, repo, pr), 201)


async def _share(request: web.Request, forge: ForgeState, login: str | None,
                 ident: str) -> web.StreamResponse:
    repo = _project(forge, ident, _require(login), "admin")
    body = await _body(request)
    group_id = str(body.get("group_id") or "")
    group = next((a for a in forge.accounts.values()
                  if str(a.id) == group_id and a.kind == "Organization"), None)
    if group is None:
        raise ForgeError(404, "404 Group Not Found")
    try:
        level = int(body.get("group_access") or 30)
    except ValueError:
        raise ForgeError(400, "group_access does not have a valid value") from None
    repo.teams[group.login] = _BY_LEVEL.get(level, "push")
    return json_response({"id": forge.next_id(), "project_id": repo.id,
                          "group_id": group.id, "group_access": level, "expires_at": None},
                         201)


async def _not_found(request: web.Request, forge: ForgeState, login: str | None,
                     parts: list[str]) -> web.StreamResponse:
    raise ForgeError(404, "404 Not Found")


def register(router: web.UrlDispatcher, forge: ForgeState) -> None:
    """Add the GitLab routes below ``/api/v4`` to the forge's application."""
    router.add_route("GET", "/api/v4/user", _endpoint(_user))
    router.add_route("GET", "/api/v4/users", _endpoint(_users))
    router.add_route("GET", "/api/v4/groups/{tail:.+}", _endpoint(_group))
    router.add_route("*", "/api/v4/projects", _endpoint(_project_routes))
    router.add_route("*", "/api/v4/projects/{tail:.+}", _endpoint(_project_routes))
    router.add_route("*", "/api/v4/{tail:.*}", _endpoint(_not_found))
