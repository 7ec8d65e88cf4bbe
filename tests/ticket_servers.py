"""Fake ticket trackers on the loopback interface: real HTTP, with state, speaking the subset of
the Jira Cloud REST v3 and ServiceNow Table API contracts the ticket targets use.

Each server is a WSGI app served by ``werkzeug.serving.make_server`` in a thread. Small pages
(two items) exercise the clients' paging; ``fail(status, times, retry_after)`` makes the next
requests answer 429 or 503 as a throttled or down tracker would; ``log`` records every request
(method, path, query) for assertions. The ``person_*`` helpers change a ticket the way someone
working in the tracker would: close it, reopen it, comment on it.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import itertools
import json
import re
import threading
import typing as t
from collections import deque
from urllib.parse import urlencode

from werkzeug import Request, Response
from werkzeug.serving import make_server


def json_response(body: t.Any, status: int = 200, headers: dict | None = None) -> Response:
    return Response(json.dumps(body), status=status, headers=headers, content_type="application/json")


class FakeTracker:
    """What both fakes share: the HTTP server, Basic auth, injected failures, the request log."""

    page_size = 2

    def __init__(self) -> None:
        #: (method, path, query arguments, JSON body or None) of every request, in order.
        self.log: list[tuple[str, str, dict, t.Any]] = []
        self._faults: deque[tuple[int, str | None]] = deque()
        self._server = make_server("127.0.0.1", 0, self._wsgi, threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    def start(self) -> FakeTracker:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def fail(self, status: int, times: int = 1, retry_after: str | None = None) -> None:
        """The next ``times`` requests answer ``status`` (429 throttled, 503 down…)."""
        self._faults.extend([(status, retry_after)] * times)

    def requests(self, method: str | None = None, path: str | None = None) -> list[tuple]:
        return [r for r in self.log if (method is None or r[0] == method) and (path is None or r[1] == path)]

    def _wsgi(self, environ: dict, start_response: t.Callable) -> t.Iterable[bytes]:
        request = Request(environ)
        with self.lock:
            self.log.append((request.method, request.path, request.args.to_dict(),
                             request.get_json(silent=True)))
            if self._faults:
                status, retry_after = self._faults.popleft()
                response = self.fault(status, retry_after)
            elif not self.authorised(request):
                response = self.unauthorised()
            else:
                try:
                    response = self.handle(request)
                except LookupError:
                    response = self.not_found()
        return response(environ, start_response)

    def basic(self, request: Request) -> tuple[str, str] | None:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return None
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        return user, password

    # Overridden by each tracker.
    def authorised(self, request: Request) -> bool:
        raise NotImplementedError

    def handle(self, request: Request) -> Response:
        raise NotImplementedError

    def fault(self, status: int, retry_after: str | None) -> Response:
        raise NotImplementedError

    def unauthorised(self) -> Response:
        raise NotImplementedError

    def not_found(self) -> Response:
        raise NotImplementedError


# -- Jira Cloud ------------------------------------------------------------------------------
STATUS_CATEGORY = {"To Do": "new", "In Progress": "indeterminate", "Done": "done"}
#: Transitions out of each status: (id, name, to). "Reopen" leads to "To Do", so a target asked
#: for "To Do" must match the transition by its target status, not by its name.
WORKFLOW = {
    "To Do": [("11", "Start progress", "In Progress"), ("31", "Done", "Done")],
    "In Progress": [("21", "Stop progress", "To Do"), ("31", "Done", "Done")],
    "Done": [("41", "Reopen", "To Do")],
}


class FakeJira(FakeTracker):
    """Jira Cloud: project TEL, issues TEL-1…, statuses To Do / In Progress / Done."""

    def __init__(self, email: str = "bot@example.com", token: str = "jira-token-s3cret") -> None:
        super().__init__()
        self.email, self.token = email, token
        self.bot = {"accountId": "5b10a2844c20165700ede21g", "displayName": "Dialtone bot"}
        self.person = {"accountId": "5b10ac8d82e05b22cc7d4ef5", "displayName": "Mia Krystof"}
        self.projects = {"TEL"}
        self.issue_types = {"Task", "Bug"}
        self.priorities = {"Highest", "High", "Medium", "Low", "Lowest"}
        self.workflow = {k: list(v) for k, v in WORKFLOW.items()}
        self.issues: dict[str, dict] = {}
        #: Old key → new key of issues moved to another project (Jira answers to both).
        self.aliases: dict[str, str] = {}
        self._ids = itertools.count(10001)
        self._numbers = itertools.count(1)
        self._comment_ids = itertools.count(10100)
        self._tokens: dict[str, tuple[str, int]] = {}
        self._clock = dt.datetime(2026, 12, 6, 5, 0, tzinfo=dt.UTC)

    def issue(self, key: str) -> dict:
        return self.issues[self.aliases.get(key, key)]

    # -- helpers for tests ---------------------------------------------------------------------
    def person_move(self, key: str, status: str) -> None:
        """Someone moves the issue to ``status`` on the board (no workflow check)."""
        with self.lock:
            self.issues[key]["status"] = status

    def person_comment(self, key: str, text: str) -> str:
        with self.lock:
            return self._add_comment(self.aliases.get(key, key), self.person, _adf(text))["id"]

    def bot_comment(self, key: str, text: str) -> str:
        """A comment by the target's own account, written by hand (no [Dialtone] prefix)."""
        with self.lock:
            return self._add_comment(key, self.bot, _adf(text))["id"]

    def add_issue(self, labels: list[str], summary: str = "copied by hand") -> str:
        """An issue created in Jira by someone (e.g. a copy that kept the labels)."""
        with self.lock:
            return self._create({"project": {"key": "TEL"}, "issuetype": {"name": "Task"},
                                 "summary": summary, "labels": labels})["key"]

    # -- the contract ------------------------------------------------------------------------
    def authorised(self, request: Request) -> bool:
        return self.basic(request) == (self.email, self.token)

    def unauthorised(self) -> Response:
        return json_response({"errorMessages": ["Client must be authenticated to access this resource."],
                              "errors": {}}, 401)

    def not_found(self) -> Response:
        return json_response({"errorMessages": ["Issue does not exist or you do not have permission "
                                                "to see it."], "errors": {}}, 404)

    def fault(self, status: int, retry_after: str | None) -> Response:
        headers = {"Retry-After": retry_after} if retry_after else None
        if status == 429:
            return json_response({"errorMessages": ["Rate limit exceeded."], "errors": {}}, 429, headers)
        return Response("<html><body>Service Unavailable</body></html>", status=status, headers=headers,
                        content_type="text/html")

    def handle(self, request: Request) -> Response:
        m, p = request.method, request.path
        body = request.get_json(silent=True) if m in ("POST", "PUT") else None
        if (m, p) == ("GET", "/rest/api/3/myself"):
            return json_response({**self.bot, "emailAddress": self.email})
        if (m, p) == ("POST", "/rest/api/3/search/jql"):
            return self._search(body or {})
        if (m, p) == ("POST", "/rest/api/3/issue"):
            return self._post_issue(body or {})
        if match := re.fullmatch(r"/rest/api/3/issue/([A-Z]+-\d+)", p):
            issue = self.issue(match[1])
            if m == "GET":
                return json_response(self._issue_json(issue, request.args.get("fields", "").split(",")))
        if match := re.fullmatch(r"/rest/api/3/issue/([A-Z]+-\d+)/transitions", p):
            issue = self.issue(match[1])
            if m == "GET":
                return json_response({"transitions": [self._transition_json(tr)
                                                      for tr in self.workflow[issue["status"]]]})
            if m == "POST":
                return self._transition(issue, body or {})
        if match := re.fullmatch(r"/rest/api/3/issue/([A-Z]+-\d+)/comment", p):
            issue = self.issue(match[1])
            if m == "GET":
                return self._comments(issue, request.args)
            if m == "POST":
                if not _is_adf((body or {}).get("body")):
                    return self._invalid({"comment": "Comment body is not valid!"})
                return json_response(self._add_comment(issue["key"], self.bot, body["body"]), 201)
        return json_response({"errorMessages": [f"No route for {m} {p}"], "errors": {}}, 404)

    def _invalid(self, errors: dict | None = None, messages: list | None = None) -> Response:
        return json_response({"errorMessages": messages or [], "errors": errors or {}}, 400)

    def _post_issue(self, body: dict) -> Response:
        fields = body.get("fields") or {}
        errors = {}
        if (fields.get("project") or {}).get("key") not in self.projects:
            errors["project"] = "valid project is required"
        if (fields.get("issuetype") or {}).get("name") not in self.issue_types:
            errors["issuetype"] = "Specify a valid issue type"
        summary = fields.get("summary") or ""
        if not summary:
            errors["summary"] = "You must specify a summary of the issue."
        elif len(summary) > 255 or "\n" in summary:
            errors["summary"] = "Summary must be less than 255 characters."
        if "description" in fields and not _is_adf(fields["description"]):
            errors["description"] = "Operation value must be an Atlassian Document (see the Atlassian " \
                                    "Document Format)"
        if any(" " in label for label in fields.get("labels", [])):
            errors["labels"] = "The label cannot contain spaces."
        if "priority" in fields and fields["priority"].get("name") not in self.priorities:
            errors["priority"] = f"Priority name '{fields['priority'].get('name')}' is not valid"
        if errors:
            return self._invalid(errors)
        issue = self._create(fields)
        return json_response({"id": issue["id"], "key": issue["key"],
                              "self": f"{self.url}/rest/api/3/issue/{issue['id']}"}, 201)

    def _create(self, fields: dict) -> dict:
        n = next(self._numbers)
        issue = {"id": str(next(self._ids)), "key": f"{fields['project']['key']}-{n}", "status": "To Do",
                 "comments": [], "fields": fields}
        self.issues[issue["key"]] = issue
        return issue

    def _issue_json(self, issue: dict, fields: list[str]) -> dict:
        out: dict[str, t.Any] = {}
        everything = {**issue["fields"], "status": {
            "name": issue["status"], "id": str(list(STATUS_CATEGORY).index(issue["status"]) + 1),
            "statusCategory": {"key": STATUS_CATEGORY[issue["status"]]}}}
        for name in fields:
            if name in everything:
                out[name] = everything[name]
        return {"id": issue["id"], "key": issue["key"], "self": f"{self.url}/rest/api/3/issue/{issue['id']}",
                "fields": out}

    def _transition_json(self, tr: tuple[str, str, str]) -> dict:
        tid, name, to = tr
        return {"id": tid, "name": name, "hasScreen": False, "isAvailable": True,
                "to": {"name": to, "statusCategory": {"key": STATUS_CATEGORY[to]}}}

    def _transition(self, issue: dict, body: dict) -> Response:
        wanted = str((body.get("transition") or {}).get("id"))
        for tid, _name, to in self.workflow[issue["status"]]:
            if tid == wanted:
                issue["status"] = to
                return Response(status=204)
        return self._invalid(messages=[f"Transition id '{wanted}' is not valid for this issue."])

    def _add_comment(self, key: str, author: dict, body: dict) -> dict:
        self._clock += dt.timedelta(minutes=1)
        comment = {"id": str(next(self._comment_ids)), "author": dict(author), "body": body,
                   "created": self._clock.strftime("%Y-%m-%dT%H:%M:%S.000+0000")}
        self.issues[key]["comments"].append(comment)
        return comment

    def _comments(self, issue: dict, args: t.Mapping[str, str]) -> Response:
        start = int(args.get("startAt", 0))
        size = min(int(args.get("maxResults", 50)), self.page_size)
        comments = sorted(issue["comments"], key=lambda c: c["created"],
                          reverse=args.get("orderBy", "created").startswith("-"))
        return json_response({"startAt": start, "maxResults": size, "total": len(comments),
                              "comments": comments[start:start + size]})

    def _search(self, body: dict) -> Response:
        if "nextPageToken" in body:
            jql, start = self._tokens.pop(body["nextPageToken"], (None, 0))
            if jql != body.get("jql"):
                return self._invalid(messages=["The provided next page token is invalid or expired."])
        else:
            start = 0
        try:
            wanted = self._jql(body.get("jql") or "")
        except ValueError as exc:
            return self._invalid(messages=[str(exc)])
        found = sorted((i for i in self.issues.values() if wanted(i)), key=lambda i: int(i["id"]))
        size = min(int(body.get("maxResults", 50)), self.page_size)
        page = found[start:start + size]
        out: dict[str, t.Any] = {"issues": [self._issue_json(i, body.get("fields") or ["key"]) for i in page]}
        if start + size < len(found):
            token = hashlib.sha1(f"{body.get('jql')}{start + size}".encode()).hexdigest()
            self._tokens[token] = (body.get("jql"), start + size)
            out["nextPageToken"] = token
            out["isLast"] = False
        else:
            out["isLast"] = True           # and no nextPageToken at all, as Jira Cloud answers
        return json_response(out)

    def _jql(self, jql: str) -> t.Callable[[dict], bool]:
        """The JQL subset the targets use: ``project = X``, ``labels = "x"``, ``key in (A, B)``
        joined by AND. Unknown keys fail the whole search, as in Jira."""
        tests = []
        for clause in re.split(r"\s+AND\s+", jql.strip(), flags=re.I):
            if m := re.fullmatch(r'project\s*=\s*"?([A-Z0-9_]+)"?', clause, re.I):
                tests.append(lambda i, v=m[1]: i["fields"]["project"]["key"] == v)
            elif m := re.fullmatch(r'labels\s*=\s*"?([^"]+)"?', clause, re.I):
                tests.append(lambda i, v=m[1]: v in i["fields"].get("labels", []))
            elif m := re.fullmatch(r"(?:key|issue)\s+in\s*\(([^)]*)\)", clause, re.I):
                keys = {self.aliases.get(k, k) for k in (k.strip().strip('"') for k in m[1].split(","))
                        if k}
                for k in sorted(keys):
                    if k not in self.issues:
                        raise ValueError(f"An issue with key '{k}' does not exist for field 'key'.")
                tests.append(lambda i, v=frozenset(keys): i["key"] in v)
            else:
                raise ValueError(f"Error in the JQL Query: unsupported clause '{clause}'.")
        return lambda issue: all(test(issue) for test in tests)


def _adf(text: str) -> dict:
    return {"type": "doc", "version": 1, "content": [
        {"type": "paragraph", "content": [{"type": "text", "text": line}]} for line in text.split("\n\n")]}


def _is_adf(node: t.Any) -> bool:
    return isinstance(node, dict) and node.get("type") == "doc" and node.get("version") == 1 \
        and isinstance(node.get("content"), list)


# -- ServiceNow ------------------------------------------------------------------------------
INCIDENT_STATES = {"1": "New", "2": "In Progress", "3": "On Hold", "6": "Resolved", "7": "Closed",
                   "8": "Canceled"}


class FakeServiceNow(FakeTracker):
    """A ServiceNow instance's Table API: the incident table and sys_journal_field."""

    def __init__(self, username: str = "dialtone.integration", password: str = "snow-pass-s3cret",
                 token: str | None = None) -> None:
        super().__init__()
        self.username, self.password, self.token = username, password, token
        self.incidents: dict[str, dict] = {}
        self.journal: list[dict] = []
        self._numbers = itertools.count(10001)
        self._clock = dt.datetime(2026, 12, 6, 5, 0, 0)
        #: Seconds the instance's clock moves per write (0: entries share a second).
        self.step = 1

    # -- helpers for tests ---------------------------------------------------------------------
    def number(self, sys_id: str) -> str:
        return self.incidents[sys_id]["number"]

    def by_number(self, number: str) -> dict:
        return next(row for row in self.incidents.values() if row["number"] == number)

    def person_set_state(self, number: str, state: str) -> None:
        with self.lock:
            self.by_number(number)["state"] = state

    def person_comment(self, number: str, text: str, user: str = "beth.anglin") -> str:
        with self.lock:
            return self._journal(self.by_number(number)["sys_id"], "comments", text, user)["sys_id"]

    # -- the contract ------------------------------------------------------------------------
    def authorised(self, request: Request) -> bool:
        if self.token and request.headers.get("Authorization") == f"Bearer {self.token}":
            return True
        return self.basic(request) == (self.username, self.password)

    def _user(self, request: Request) -> str:
        basic = self.basic(request)
        return basic[0] if basic else "oauth.integration"

    @staticmethod
    def _error(status: int, message: str, detail: str | None = None) -> Response:
        return json_response({"error": {"message": message, "detail": detail}, "status": "failure"}, status)

    def unauthorised(self) -> Response:
        return self._error(401, "User Not Authenticated", "Required to provide Auth information")

    def not_found(self) -> Response:
        return self._error(404, "No Record found",
                           "Record doesn't exist or ACL restricts the record retrieval")

    def fault(self, status: int, retry_after: str | None) -> Response:
        headers = {"Retry-After": retry_after} if retry_after else None
        if status == 429:
            return json_response({"error": {"message": "Rate limit exceeded", "detail": None},
                                  "status": "failure"}, 429, headers)
        return Response("<html><body>Instance unavailable</body></html>", status=status, headers=headers,
                        content_type="text/html")

    def handle(self, request: Request) -> Response:
        m, p = request.method, request.path
        if (m, p) == ("GET", "/api/now/table/incident"):
            return self._query(request, list(self.incidents.values()), display=INCIDENT_STATES)
        if (m, p) == ("GET", "/api/now/table/sys_journal_field"):
            return self._query(request, self.journal)
        if (m, p) == ("POST", "/api/now/table/incident"):
            return self._insert(request)
        if match := re.fullmatch(r"/api/now/table/incident/([0-9a-f]{32})", p):
            row = self.incidents[match[1]]
            if m == "GET":
                return json_response({"result": row})
            if m in ("PATCH", "PUT"):
                return self._update(request, row)
        return self._error(400, "Invalid table or path", f"{m} {p}")

    def _now(self) -> str:
        self._clock += dt.timedelta(seconds=self.step)
        return self._clock.strftime("%Y-%m-%d %H:%M:%S")

    def _insert(self, request: Request) -> Response:
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return self._error(400, "Exception while reading request", "The payload is not valid JSON.")
        number = f"INC{next(self._numbers):07d}"
        sys_id = hashlib.md5(number.encode()).hexdigest()
        comments = body.pop("comments", None)
        row = {"sys_id": sys_id, "number": number, "state": "1", "sys_created_on": self._now(),
               "sys_created_by": self._user(request), **{k: str(v) for k, v in body.items()}}
        self.incidents[sys_id] = row
        if comments:
            self._journal(sys_id, "comments", comments, self._user(request))
        where = f"{self.url}/api/now/table/incident/{sys_id}"
        return json_response({"result": row}, 201, {"Location": where})

    def _update(self, request: Request, row: dict) -> Response:
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return self._error(400, "Exception while reading request", "The payload is not valid JSON.")
        if row["state"] == "7":
            return self._error(403, "Operation Failed",
                               "ACL Exception Update Failed due to security constraints")
        if body.get("state") == "6" and not (body.get("close_code") or row.get("close_code")):
            return self._error(403, "Operation Failed",
                               "Data Policy Exception: the following fields are mandatory: Resolution code")
        for element in ("comments", "work_notes"):
            if body.get(element):
                self._journal(row["sys_id"], element, body.pop(element), self._user(request))
        row.update({k: str(v) for k, v in body.items()})
        return json_response({"result": row})

    def _journal(self, sys_id: str, element: str, value: str, user: str) -> dict:
        entry = {"sys_id": hashlib.md5(f"j{len(self.journal)}".encode()).hexdigest(), "element_id": sys_id,
                 "element": element, "name": "incident", "value": value, "sys_created_on": self._now(),
                 "sys_created_by": user}
        self.journal.append(entry)
        return entry

    def _query(self, request: Request, rows: list[dict], display: dict | None = None) -> Response:
        args = request.args
        keep, order = _encoded_query(args.get("sysparm_query", ""))
        found = [row for row in rows if keep(row)]
        for name, desc in reversed(order):
            found.sort(key=lambda row, n=name: row.get(n, ""), reverse=desc)
        limit = min(int(args.get("sysparm_limit", 10000)), self.page_size)
        offset = int(args.get("sysparm_offset", 0))
        page = found[offset:offset + limit]
        fields = [f for f in args.get("sysparm_fields", "").split(",") if f]
        shown = []
        for row in page:
            out = {f: row.get(f, "") for f in fields} if fields else dict(row)
            if args.get("sysparm_display_value") == "all":
                out = {f: {"value": v, "display_value": (display or {}).get(v, v) if f == "state" else v}
                       for f, v in out.items()}
            shown.append(out)
        links = []
        base = {k: v for k, v in args.items() if k != "sysparm_offset"}

        def link(at: int, rel: str) -> str:
            return f'<{self.url}{request.path}?{urlencode({**base, "sysparm_offset": at})}>;rel="{rel}"'

        links.append(link(0, "first"))
        if offset + limit < len(found):
            links.append(link(offset + limit, "next"))
        links.append(link(max(0, (len(found) - 1) // limit * limit), "last"))
        return json_response({"result": shown}, headers={"Link": ",".join(links),
                                                         "X-Total-Count": str(len(found))})


def _encoded_query(query: str) -> tuple[t.Callable[[dict], bool], list[tuple[str, bool]]]:
    """The encoded-query subset the target uses: ``f=v``, ``f!=v``, ``f>=v``, ``f>v``,
    ``f<=v``, ``f<v``, ``fINa,b`` joined by ``^`` (AND), and ``ORDERBY[DESC]f``."""
    tests: list[t.Callable[[dict], bool]] = []
    order: list[tuple[str, bool]] = []
    for clause in filter(None, query.split("^")):
        if clause.startswith("ORDERBYDESC"):
            order.append((clause[11:], True))
            continue
        if clause.startswith("ORDERBY"):
            order.append((clause[7:], False))
            continue
        m = re.fullmatch(r"([a-z0-9_.]+?)(IN|>=|<=|!=|=|>|<)(.*)", clause)
        if not m:
            raise ValueError(clause)
        name, op, value = m.groups()
        compare = {
            "IN": lambda v, ref: v in ref.split(","), "=": lambda v, ref: v == ref,
            "!=": lambda v, ref: v != ref, ">=": lambda v, ref: v >= ref, ">": lambda v, ref: v > ref,
            "<=": lambda v, ref: v <= ref, "<": lambda v, ref: v < ref,
        }[op]
        tests.append(lambda row, n=name, c=compare, ref=value: c(str(row.get(n, "")), ref))
    return (lambda row: all(test(row) for test in tests)), order
