"""The GitHub REST API v3 dialect of the forge fixture (`sluice.testing.forge`).

Served below ``/api/v3`` as GitHub Enterprise Server serves it, which is
where clients go when given ``--hostname``. What is here is what Flux's
bootstrap (go-git-providers), image automation's pull requests and the
``github``/``githubdispatch``/``githubpullrequestcomment`` notification
providers call, with GitHub's shapes:

* tokens in ``Authorization: token|Bearer <t>`` (or basic with the token as
  password); a wrong one is ``401 {"message": "Bad credentials"}``; a
  repository the caller may not see is ``404 {"message": "Not Found"}``;
* ``X-RateLimit-Limit|Remaining|Reset|Used|Resource`` on every answer, and
  ``403 API rate limit exceeded`` once `ForgeState.rate_limit.remaining` is 0;
* ``422 Validation Failed`` bodies with their ``errors[]`` for duplicates,
  unknown branches and bad states;
* ``Link`` paging (``per_page`` default 30, max 100).
"""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from sluice.testing.forge_api import (
    DialectRules,
    Handler,
    endpoint,
    json_response,
    paginate,
)
from sluice.testing.forge_github_shapes import (
    account_json,
    comment_json,
    github_api,
    key_json,
    owner_of,
    pull_json,
    repo_json,
    status_json,
)
from sluice.testing.forge_model import (
    PERMISSIONS,
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

_DOCS = "https://docs.github.com/rest"
_STATES = ("error", "failure", "pending", "success")



def _token(request: web.Request) -> tuple[bool, str]:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if not header:
        return False, ""
    if scheme.lower() == "basic":
        try:
            return True, base64.b64decode(value).decode().partition(":")[2]
        except ValueError:
            return True, ""
    return True, value.strip()


def _rate_headers(forge: ForgeState) -> dict[str, str]:
    rate = forge.rate_limit
    return {"X-RateLimit-Limit": str(rate.limit), "X-RateLimit-Remaining": str(rate.remaining),
            "X-RateLimit-Reset": str(rate.reset), "X-RateLimit-Used": str(rate.used),
            "X-RateLimit-Resource": "core", "X-GitHub-Media-Type": "github.v3; format=json"}


def _error(status: int, message: str, errors: list[Json] | None = None) -> Json:
    body: Json = {"message": message, "documentation_url": _DOCS, "status": str(status)}
    if errors:
        body["errors"] = errors
    return body


def _rate_limited(forge: ForgeState, login: str | None) -> web.StreamResponse:
    account = forge.account(login) if login else None
    who = f"user ID {account.id}" if account else "127.0.0.1"
    return json_response(_error(403, f"API rate limit exceeded for {who}. If you reach out "
                                     "to GitHub Support for help, please include the "
                                     "request ID."), 403)


_GITHUB = DialectRules(
    "github", _token, _rate_headers,
    error=lambda err: json_response(_error(err.status, err.message, err.errors), err.status),
    bad_token=lambda: json_response(_error(401, "Bad credentials"), 401),
    rate_limited=_rate_limited)


def _endpoint(handler: Handler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    return endpoint(_GITHUB, handler)


async def _body(request: web.Request) -> Json:
    if not request.can_read_body:
        return {}
    try:
        data = await request.json()
    except ValueError:
        raise ForgeError(400, "Problems parsing JSON") from None
    if not isinstance(data, dict):
        raise ForgeError(400, "Problems parsing JSON")
    return data


def _require(login: str | None) -> str:
    if login is None:
        raise ForgeError(401, "Requires authentication")
    return login


# --- lookups -------------------------------------------------------------------------------

def _repo(request: web.Request, forge: ForgeState, login: str | None,
          at_least: str = "pull") -> Repository:
    repo = forge.repository(request.match_info["owner"], request.match_info["repo"])
    permission = forge.permission(repo, login) if repo is not None else None
    if repo is None or permission is None:
        raise ForgeError(404, "Not Found")
    if PERMISSIONS.index(permission) < PERMISSIONS.index(at_least):
        if at_least == "admin":
            raise ForgeError(404, "Not Found")  # GitHub hides admin endpoints
        raise ForgeError(403, "Resource not accessible by personal access token")
    return repo


def _listing(request: web.Request, items: list[Any]) -> web.Response:
    page, headers, *_ = paginate(request, items, default=30)
    return json_response(page, headers=headers)




# --- handlers ------------------------------------------------------------------------------

async def _user(request: web.Request, forge: ForgeState, login: str | None) -> web.StreamResponse:
    return json_response(account_json(forge, owner_of(forge, _require(login)), full=True))


async def _users(request: web.Request, forge: ForgeState, login: str | None) -> web.StreamResponse:
    account = forge.account(request.match_info["login"])
    if account is None:
        raise ForgeError(404, "Not Found")
    return json_response(account_json(forge, account, full=True))


async def _org(request: web.Request, forge: ForgeState, login: str | None) -> web.StreamResponse:
    account = forge.account(request.match_info["org"])
    if account is None or account.kind != "Organization":
        raise ForgeError(404, "Not Found")
    return json_response(account_json(forge, account, full=True))


async def _create_repo(request: web.Request, forge: ForgeState,
                       login: str | None) -> web.StreamResponse:
    who = _require(login)
    if "org" in request.match_info:
        owner = forge.account(request.match_info["org"])
        if owner is None or owner.kind != "Organization":
            raise ForgeError(404, "Not Found")
        if not forge.may_create_in(owner, who):
            raise ForgeError(403, "You need admin access to the organization before adding a "
                                  "repository to it.")
    else:
        owner = owner_of(forge, who)
    body = await _body(request)
    name = str(body.get("name") or "")
    if not name or "/" in name or name.startswith("."):
        raise ForgeError(422, "Repository creation failed.", [
            {"resource": "Repository", "code": "custom", "field": "name",
             "message": "name is invalid"}])
    if forge.repository(owner.login, name) is not None:
        raise ForgeError(422, "Repository creation failed.", [
            {"resource": "Repository", "code": "custom", "field": "name",
             "message": "name already exists on this account"}])
    visibility = str(body.get("visibility") or ("private" if body.get("private") else "public"))
    if visibility not in ("public", "private", "internal"):
        raise ForgeError(422, "Validation Failed", [
            {"resource": "Repository", "code": "invalid", "field": "visibility"}])
    description = str(body.get("description") or "")
    files = None
    if body.get("auto_init"):
        files = {"README.md": f"# {name}\n" + (f"{description}\n" if description else "")}
    repo = forge.create_repository(owner.login, name, visibility=visibility, files=files,
                                   description=description)
    return json_response(repo_json(forge, repo, who), 201)


async def _get_repo(request: web.Request, forge: ForgeState,
                    login: str | None) -> web.StreamResponse:
    return json_response(repo_json(forge, _repo(request, forge, login), login))


async def _update_repo(request: web.Request, forge: ForgeState,
                       login: str | None) -> web.StreamResponse:
    repo = _repo(request, forge, _require(login), "admin")
    body = await _body(request)
    if "description" in body:
        repo.description = str(body["description"] or "")
    if "private" in body:
        repo.visibility = "private" if body["private"] else "public"
    if body.get("visibility") in ("public", "private", "internal"):
        repo.visibility = body["visibility"]
    if "default_branch" in body:
        branch = str(body["default_branch"])
        if repo.head(branch) is None:
            raise ForgeError(422, "Validation Failed", [
                {"resource": "Repository", "code": "invalid", "field": "default_branch"}])
        repo.default_branch = branch
    return json_response(repo_json(forge, repo, login))


async def _branch(request: web.Request, forge: ForgeState, login: str | None) -> web.StreamResponse:
    repo = _repo(request, forge, login)
    name = request.match_info["branch"]
    sha = repo.head(name)
    if sha is None:
        raise ForgeError(404, "Branch not found")
    return json_response({"name": name, "commit": {"sha": sha,
                                                   "url": f"{github_api(forge)}/repos/"
                                                          f"{repo.full_name}/commits/{sha}"},
                          "protected": False})


async def _list_keys(request: web.Request, forge: ForgeState,
                     login: str | None) -> web.StreamResponse:
    repo = _repo(request, forge, _require(login), "admin")
    return _listing(request, [key_json(forge, repo, k) for k in repo.deploy_keys])


async def _add_key(request: web.Request, forge: ForgeState, login: str | None) -> web.StreamResponse:
    repo = _repo(request, forge, _require(login), "admin")
    body = await _body(request)
    text = key_line(str(body.get("key") or ""))
    if len(text.split()) != 2 or not text.startswith(("ssh-", "ecdsa-", "sk-")):
        raise ForgeError(422, "Validation Failed", [
            {"resource": "PublicKey", "code": "custom", "field": "key",
             "message": "key is invalid. You must supply a key in OpenSSH public key format"}])
    if forge.key_owner(text) is not None:
        raise ForgeError(422, "Validation Failed", [
            {"resource": "PublicKey", "code": "custom", "field": "key",
             "message": "key is already in use"}])
    read_only = body.get("read_only")
    key = DeployKey(forge.next_id(), str(body.get("title") or ""), text,
                    True if read_only is None else bool(read_only))
    repo.deploy_keys.append(key)
    return json_response(key_json(forge, repo, key), 201)


def _find_key(request: web.Request, repo: Repository) -> DeployKey:
    key_id = request.match_info["key_id"]
    key = next((k for k in repo.deploy_keys if str(k.id) == key_id), None)
    if key is None:
        raise ForgeError(404, "Not Found")
    return key


async def _get_key(request: web.Request, forge: ForgeState, login: str | None) -> web.StreamResponse:
    repo = _repo(request, forge, _require(login), "admin")
    return json_response(key_json(forge, repo, _find_key(request, repo)))


async def _delete_key(request: web.Request, forge: ForgeState,
                      login: str | None) -> web.StreamResponse:
    repo = _repo(request, forge, _require(login), "admin")
    repo.deploy_keys.remove(_find_key(request, repo))
    return web.Response(status=204)


async def _create_status(request: web.Request, forge: ForgeState,
                         login: str | None) -> web.StreamResponse:
    repo = _repo(request, forge, _require(login), "push")
    sha = request.match_info["sha"]
    commit = repo.commit_of(sha)
    if commit is None:
        raise ForgeError(422, f"No commit found for SHA: {sha}")
    body = await _body(request)
    state = body.get("state")
    if state not in _STATES:
        raise ForgeError(422, "Validation Failed", [
            {"resource": "Status", "code": "custom", "field": "state",
             "message": "state is not included in the list"}])
    status = CommitStatus(forge.next_id(), commit, str(state),
                          str(body.get("context") or "default"),
                          str(body.get("description") or ""), str(body.get("target_url") or ""),
                          _require(login), "github")
    repo.statuses.append(status)
    return json_response(status_json(forge, repo, status), 201)


def _statuses_of(request: web.Request, forge: ForgeState, login: str | None
                 ) -> tuple[Repository, str, list[CommitStatus]]:
    repo = _repo(request, forge, login)
    ref = request.match_info["ref"]
    commit = repo.commit_of(ref)
    if commit is None:
        raise ForgeError(422, f"No commit found for SHA: {ref}")
    return repo, commit, sorted(repo.statuses_for(commit), key=lambda s: -s.id)


async def _list_statuses(request: web.Request, forge: ForgeState,
                         login: str | None) -> web.StreamResponse:
    repo, _, statuses = _statuses_of(request, forge, login)
    return _listing(request, [status_json(forge, repo, s) for s in statuses])


async def _combined_status(request: web.Request, forge: ForgeState,
                           login: str | None) -> web.StreamResponse:
    repo, commit, statuses = _statuses_of(request, forge, login)
    latest: dict[str, CommitStatus] = {}
    for status in statuses:
        latest.setdefault(status.context, status)
    states = {s.state for s in latest.values()}
    state = ("failure" if states & {"failure", "error"} else
             "pending" if "pending" in states or not states else "success")
    return json_response({
        "state": state, "sha": commit, "total_count": len(latest),
        "statuses": [status_json(forge, repo, s) for s in latest.values()],
        "repository": repo_json(forge, repo, login),
        "commit_url": f"{github_api(forge)}/repos/{repo.full_name}/commits/{commit}",
        "url": f"{github_api(forge)}/repos/{repo.full_name}/commits/{commit}/status"})


def _branch_name(repo: Repository, forge: ForgeState, spec: str) -> str:
    """``head`` as ``owner:branch`` or ``branch`` (same-repository pull requests only)."""
    owner, sep, branch = spec.rpartition(":")
    if sep and owner.lower() != repo.owner.lower():
        raise ForgeError(422, "Validation Failed", [
            {"resource": "PullRequest", "field": "head", "code": "invalid"}])
    return branch


async def _list_pulls(request: web.Request, forge: ForgeState,
                      login: str | None) -> web.StreamResponse:
    repo = _repo(request, forge, login)
    state = request.query.get("state", "open")
    pulls = [p for p in repo.pulls
             if state == "all" or (p.state == "open") == (state == "open")]
    if "head" in request.query:
        owner, _, branch = request.query["head"].rpartition(":")
        pulls = [p for p in pulls if p.head == branch
                 and (not owner or owner.lower() == repo.owner.lower())]
    if "base" in request.query:
        pulls = [p for p in pulls if p.base == request.query["base"]]
    pulls.sort(key=lambda p: -p.number)
    return _listing(request, [pull_json(forge, repo, p, login) for p in pulls])


async def _create_pull(request: web.Request, forge: ForgeState,
                       login: str | None) -> web.StreamResponse:
    repo = _repo(request, forge, _require(login), "push")
    body = await _body(request)
    head = _branch_name(repo, forge, str(body.get("head") or ""))
    base = str(body.get("base") or "")
    title = str(body.get("title") or "")
    for name, value in (("head", head), ("base", base)):
        if not value or repo.head(value) is None:
            raise ForgeError(422, "Validation Failed", [
                {"resource": "PullRequest", "field": name, "code": "invalid"}])
    if not title:
        raise ForgeError(422, "Validation Failed", [
            {"resource": "PullRequest", "field": "title", "code": "missing_field"}])
    if any(p.state == "open" and p.head == head and p.base == base for p in repo.pulls):
        raise ForgeError(422, "Validation Failed", [
            {"resource": "PullRequest", "code": "custom",
             "message": f"A pull request already exists for {repo.owner}:{head}."}])
    if repo.head(head) == repo.head(base):
        raise ForgeError(422, "Validation Failed", [
            {"resource": "PullRequest", "code": "custom",
             "message": f"No commits between {base} and {head}"}])
    number = 1 + max([p.number for p in repo.pulls], default=0)
    pr = PullRequest(forge.next_id(), number, title, str(body.get("body") or ""), head, base,
                     _require(login), draft=bool(body.get("draft")))
    repo.pulls.append(pr)
    return json_response(pull_json(forge, repo, pr, login), 201)


def _find_pull(request: web.Request, repo: Repository) -> PullRequest:
    number = request.match_info["number"]
    pr = next((p for p in repo.pulls if str(p.number) == number), None)
    if pr is None:
        raise ForgeError(404, "Not Found")
    return pr


async def _get_pull(request: web.Request, forge: ForgeState, login: str | None) -> web.StreamResponse:
    repo = _repo(request, forge, login)
    return json_response(pull_json(forge, repo, _find_pull(request, repo), login))


async def _update_pull(request: web.Request, forge: ForgeState,
                       login: str | None) -> web.StreamResponse:
    repo = _repo(request, forge, _require(login), "push")
    pr = _find_pull(request, repo)
    body = await _body(request)
    if "title" in body:
        pr.title = str(body["title"])
    if "body" in body:
        pr.body = str(body["body"] or "")
    if "base" in body:
        if repo.head(str(body["base"])) is None:
            raise ForgeError(422, "Validation Failed", [
                {"resource": "PullRequest", "field": "base", "code": "invalid"}])
        pr.base = str(body["base"])
    if body.get("state") in ("open", "closed") and pr.state != "merged":
        pr.state = body["state"]
    pr.updated_at = now_iso()
    return json_response(pull_json(forge, repo, pr, login))


async def _list_comments(request: web.Request, forge: ForgeState,
                         login: str | None) -> web.StreamResponse:
    repo = _repo(request, forge, login)
    number = int(request.match_info["number"])
    return _listing(request, [comment_json(forge, repo, c) for c in repo.comments
                              if c.number == number])


async def _create_comment(request: web.Request, forge: ForgeState,
                          login: str | None) -> web.StreamResponse:
    repo = _repo(request, forge, _require(login))
    _find_pull(request, repo)
    body = await _body(request)
    if not body.get("body"):
        raise ForgeError(422, "Validation Failed", [
            {"resource": "IssueComment", "field": "body", "code": "missing_field"}])
    comment = Comment(forge.next_id(), int(request.match_info["number"]), str(body["body"]),
                      _require(login))
    repo.comments.append(comment)
    return json_response(comment_json(forge, repo, comment), 201)


async def _dispatch(request: web.Request, forge: ForgeState, login: str | None) -> web.StreamResponse:
    repo = _repo(request, forge, _require(login), "push")
    body = await _body(request)
    if not body.get("event_type"):
        raise ForgeError(422, "Invalid request.\n\n\"event_type\" wasn't supplied.")
    repo.dispatches.append(body)
    return web.Response(status=204)


async def _list_teams(request: web.Request, forge: ForgeState,
                      login: str | None) -> web.StreamResponse:
    repo = _repo(request, forge, _require(login), "admin")
    return _listing(request, [{"name": slug, "slug": slug, "permission": perm}
                              for slug, perm in sorted(repo.teams.items())])


async def _team_repo(request: web.Request, forge: ForgeState,
                     login: str | None) -> web.StreamResponse:
    org = forge.account(request.match_info["org"])
    slug = request.match_info["team"]
    if org is None or org.kind != "Organization" or slug not in org.teams:
        raise ForgeError(404, "Not Found")
    repo = _repo(request, forge, _require(login), "admin")
    if request.method == "GET":
        if slug not in repo.teams:
            raise ForgeError(404, "Not Found")
        return json_response(repo_json(forge, repo, login))
    body = await _body(request)
    permission = str(body.get("permission") or "push")
    if permission not in PERMISSIONS:
        raise ForgeError(422, "Validation Failed", [
            {"resource": "TeamRepository", "field": "permission", "code": "invalid"}])
    repo.teams[slug] = permission
    return web.Response(status=204)


async def _rate(request: web.Request, forge: ForgeState, login: str | None) -> web.StreamResponse:
    rate = forge.rate_limit
    core = {"limit": rate.limit, "remaining": rate.remaining, "reset": rate.reset,
            "used": rate.used}
    return json_response({"resources": {"core": core}, "rate": core})


def register(router: web.UrlDispatcher, forge: ForgeState) -> None:
    """Add the GitHub routes below ``/api/v3`` to the forge's application."""
    app_routes: list[tuple[str, str, Handler]] = [
        ("GET", "/user", _user),
        ("GET", "/users/{login}", _users),
        ("GET", "/orgs/{org}", _org),
        ("POST", "/user/repos", _create_repo),
        ("POST", "/orgs/{org}/repos", _create_repo),
        ("GET", "/repos/{owner}/{repo}", _get_repo),
        ("PATCH", "/repos/{owner}/{repo}", _update_repo),
        ("GET", "/repos/{owner}/{repo}/branches/{branch}", _branch),
        ("GET", "/repos/{owner}/{repo}/keys", _list_keys),
        ("POST", "/repos/{owner}/{repo}/keys", _add_key),
        ("GET", "/repos/{owner}/{repo}/keys/{key_id}", _get_key),
        ("DELETE", "/repos/{owner}/{repo}/keys/{key_id}", _delete_key),
        ("POST", "/repos/{owner}/{repo}/statuses/{sha}", _create_status),
        ("GET", "/repos/{owner}/{repo}/statuses/{ref}", _list_statuses),
        ("GET", "/repos/{owner}/{repo}/commits/{ref}/statuses", _list_statuses),
        ("GET", "/repos/{owner}/{repo}/commits/{ref}/status", _combined_status),
        ("GET", "/repos/{owner}/{repo}/pulls", _list_pulls),
        ("POST", "/repos/{owner}/{repo}/pulls", _create_pull),
        ("GET", "/repos/{owner}/{repo}/pulls/{number}", _get_pull),
        ("PATCH", "/repos/{owner}/{repo}/pulls/{number}", _update_pull),
        ("GET", "/repos/{owner}/{repo}/issues/{number}/comments", _list_comments),
        ("POST", "/repos/{owner}/{repo}/issues/{number}/comments", _create_comment),
        ("POST", "/repos/{owner}/{repo}/dispatches", _dispatch),
        ("GET", "/repos/{owner}/{repo}/teams", _list_teams),
        ("GET", "/orgs/{org}/teams/{team}/repos/{owner}/{repo}", _team_repo),
        ("PUT", "/orgs/{org}/teams/{team}/repos/{owner}/{repo}", _team_repo),
        ("GET", "/rate_limit", _rate),
    ]
    for method, path, handler in app_routes:
        router.add_route(method, f"/api/v3{path}", _endpoint(handler))
    router.add_route("*", "/api/v3/{tail:.*}", _endpoint(_not_found))


async def _not_found(request: web.Request, forge: ForgeState,
                     login: str | None) -> web.StreamResponse:
    raise ForgeError(404, "Not Found")
