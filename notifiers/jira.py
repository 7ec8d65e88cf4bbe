"""Jira Cloud tickets (REST API v3): one issue per finding or group, kept in step both ways.

A ticket is found again by its label ``dialtone-<correlation>`` (so a retry after a crash
finds the issue the first attempt opened instead of opening a second one), opened with an
Atlassian Document Format description, commented, moved through the workflow's transitions to
close and reopen it, and polled: its status category says whether it is closed, and people's
comments since the last one seen are mirrored (the target's own account and ``[Dialtone]``
comments are left out). Authentication is Basic with the account's e-mail and an API token,
as Jira Cloud asks for scripts.

Example (``dialtone.yaml``)::

    notifications:
      targets:
        jira:
          type: jira
          url: https://example.atlassian.net
          project: TEL
          email: dialtone-bot@example.com
          token_env: JIRA_API_TOKEN
          labels: [telecom]
          priority_map: {critical: Highest, high: High}
"""

from __future__ import annotations

import re
import time
import typing as t
from pathlib import Path

from dialtone.engine.notifier_api import (
    DeliveryError,
    Message,
    RemoteComment,
    RemoteTicket,
    Ticket,
    TicketTarget,
)
from dialtone.engine.secrets import read_secret, secret_schema

from .http import TrackerClient, TrackerError, check_base_url

#: Comments this target writes start so; polls skip them (someone may post as the bot's account).
PREFIX = "[Dialtone]"
#: Jira caps a summary at 255 characters.
SUMMARY_LIMIT = 255
#: Jira refuses a description over 32,767 characters; leave room for the ADF around the text.
DESCRIPTION_LIMIT = 30_000
#: Keys per ``key in (...)`` search: keeps the JQL well under Jira's query length limits.
POLL_CHUNK = 50
PAGE_SIZE = 100
SEVERITIES = ("critical", "high", "medium", "low", "info")
_CORRELATION = re.compile(r"^[A-Za-z0-9._:-]+$")
_URL = re.compile(r"https?://[^\s<>\"')\]]+")


class JiraTarget(TicketTarget):
    """Issues in a Jira Cloud project (``type: jira``)."""

    settings_schema: t.ClassVar[dict] = {
        "type": "object",
        "additionalProperties": False,
        "required": ["url", "project", "email"],
        "properties": {
            "url": {"type": "string", "pattern": "^https?://",
                    "description": "The site, e.g. https://example.atlassian.net"},
            "project": {"type": "string", "pattern": "^[A-Z][A-Z0-9_]{0,49}$"},
            "issue_type": {"type": "string", "minLength": 1},
            "email": {"type": "string", "minLength": 3},
            **secret_schema("token", "Jira API token"),
            "labels": {"type": "array", "items": {"type": "string", "pattern": r"^\S{1,255}$"},
                       "uniqueItems": True},
            "priority_map": {"type": "object", "additionalProperties": False,
                             "properties": {s: {"type": "string", "minLength": 1} for s in SEVERITIES}},
            "close_transition": {"type": "string", "minLength": 1},
            "reopen_transition": {"type": "string", "minLength": 1},
            "done_categories": {"type": "array", "items": {"enum": ["new", "indeterminate", "done"]},
                                "minItems": 1, "uniqueItems": True},
            "timeout": {"type": "number", "exclusiveMinimum": 0, "maximum": 300},
        },
    }
    secret_settings = ("token",)

    def __init__(self, name: str, settings: dict, base_dir: Path, *,
                 sleep: t.Callable[[float], None] = time.sleep) -> None:
        super().__init__(name, settings, base_dir)
        self.url = check_base_url(settings["url"], self.where, "url")
        self.project = settings["project"]
        self.issue_type = settings.get("issue_type", "Task")
        self.labels = list(settings.get("labels", ()))
        self.priority_map = dict(settings.get("priority_map", {}))
        self.close_transition = settings.get("close_transition", "Done")
        self.reopen_transition = settings.get("reopen_transition", "To Do")
        self.done_categories = frozenset(settings.get("done_categories", ["done"]))
        token = read_secret(settings, "token", self.where, base_dir)
        assert token is not None
        self.client = TrackerClient(self.url, where=self.where, auth=(settings["email"], token),
                                    secrets=(token,), timeout=settings.get("timeout", 30), sleep=sleep)
        self._account_id: str | None = None

    def close(self) -> None:
        self.client.close()

    # -- the ticket operations ---------------------------------------------------------------
    def find(self, correlation: str) -> Ticket | None:
        label = self.label(correlation)
        jql = f'project = "{self.project}" AND labels = "{label}"'
        found = list(self._search(jql, ["key"], op=f"find ticket {label}"))
        if not found:
            return None
        # Two issues with one label (someone copied it): the first opened is the one we own.
        first = min(found, key=lambda issue: int(issue["id"]))
        return self._ticket(first)

    def create(self, correlation: str, message: Message) -> Ticket:
        fields: dict[str, t.Any] = {
            "project": {"key": self.project},
            "issuetype": {"name": self.issue_type},
            "summary": _one_line(message.subject)[:SUMMARY_LIMIT],
            "description": adf_document(_cut(message.text, DESCRIPTION_LIMIT), message.findings),
            "labels": list(dict.fromkeys(["dialtone", self.label(correlation), *self.labels])),
        }
        severity = message.findings[0].severity if message.findings else None
        if severity in self.priority_map:
            fields["priority"] = {"name": self.priority_map[severity]}
        reply = self.client.post("/rest/api/3/issue", {"fields": fields}, op="create ticket")
        body = reply.body or {}
        if not body.get("key"):
            raise DeliveryError(f"{self.where}: create ticket: Jira answered HTTP {reply.status} "
                                "without an issue key.", retryable=False)
        return self._ticket(body)

    def comment(self, ticket: Ticket, text: str) -> None:
        self.client.post(f"/rest/api/3/issue/{ticket.key}/comment",
                         {"body": adf_document(f"{PREFIX} {text}")}, op=f"comment on {ticket.key}")

    def close_ticket(self, ticket: Ticket, text: str) -> None:
        self._move(ticket, self.close_transition, closing=True)
        self.comment(ticket, text)

    def reopen_ticket(self, ticket: Ticket, text: str) -> None:
        self._move(ticket, self.reopen_transition, closing=False)
        self.comment(ticket, text)

    def poll(self, tickets: list[Ticket], cursors: dict[str, str | None]) -> list[RemoteTicket]:
        keys = [tk.key for tk in tickets]
        statuses: dict[str, dict] = {}
        for start in range(0, len(keys), POLL_CHUNK):
            statuses.update(self._statuses(keys[start:start + POLL_CHUNK]))
        seen = []
        for tk in tickets:
            # An issue moved to another project has a new key; its id stays.
            status = statuses.get(tk.key)
            if status is None:
                status = statuses.get(f"id:{tk.remote_id}")
            if status is None:
                continue            # deleted on the tracker, or moved where we may not look
            key = tk.key
            category = (status.get("statusCategory") or {}).get("key")
            seen.append(RemoteTicket(key=key, closed=category in self.done_categories,
                                     status=status.get("name", ""),
                                     comments=tuple(self._comments(key, cursors.get(key)))))
        return seen

    # -- helpers -----------------------------------------------------------------------------
    @staticmethod
    def label(correlation: str) -> str:
        """The label that ties an issue to its Dialtone ticket: ``dialtone-<correlation>``."""
        if not _CORRELATION.match(correlation):
            raise ValueError(f"correlation {correlation!r}: letters, digits and . _ : - only")
        return correlation if correlation.startswith("dialtone-") else f"dialtone-{correlation}"

    def _ticket(self, issue: dict) -> Ticket:
        return Ticket(key=issue["key"], url=f"{self.url}/browse/{issue['key']}",
                      remote_id=str(issue["id"]) if issue.get("id") is not None else None)

    def _search(self, jql: str, fields: list[str], *, op: str) -> t.Iterator[dict]:
        """Every issue ``jql`` finds, page after page (``nextPageToken``)."""
        body: dict[str, t.Any] = {"jql": jql, "fields": fields, "maxResults": PAGE_SIZE}
        while True:
            # The search is a read: resending it is safe whatever happened to the first try.
            page = self.client.post("/rest/api/3/search/jql", body, op=op, idempotent=True).body or {}
            yield from page.get("issues") or ()
            token = page.get("nextPageToken")
            # The last page may have no token at all, or a null one, or isLast.
            if not token or page.get("isLast") is True:
                return
            body = {**body, "nextPageToken": token}

    def _statuses(self, keys: list[str]) -> dict[str, dict]:
        jql = f"key in ({', '.join(keys)})"
        try:
            found: dict[str, dict] = {}
            for issue in self._search(jql, ["status"], op="poll tickets"):
                status = (issue.get("fields") or {}).get("status") or {}
                found[issue["key"]] = found[f"id:{issue['id']}"] = status
            return found
        except TrackerError as exc:
            if exc.status != 400:
                raise
        # Jira refuses the whole search when one key no longer exists: look at each instead.
        each: dict[str, dict] = {}
        for key in keys:
            try:
                issue = self.client.get(f"/rest/api/3/issue/{key}", {"fields": "status"},
                                        op=f"poll {key}").body or {}
            except TrackerError as exc:
                if exc.status == 404:
                    continue
                raise
            each[key] = each[f"id:{issue.get('id')}"] = (issue.get("fields") or {}).get("status") or {}
        return each

    def _comments(self, key: str, cursor: str | None) -> t.Iterator[RemoteComment]:
        """People's comments on ``key`` after the comment id ``cursor``, oldest first."""
        if cursor is not None and not cursor.isdigit():
            raise ValueError(f"{key}: comment cursor {cursor!r} is not a Jira comment id")
        after = int(cursor) if cursor is not None else -1
        me = self._myself()
        start = 0
        while True:
            page = self.client.get(f"/rest/api/3/issue/{key}/comment",
                                   {"orderBy": "created", "startAt": start, "maxResults": PAGE_SIZE},
                                   op=f"read comments of {key}").body or {}
            comments = page.get("comments") or []
            for c in comments:
                author = c.get("author") or {}
                body = adf_text(c.get("body"))
                if int(c["id"]) <= after or author.get("accountId") == me or body.startswith(PREFIX):
                    continue
                yield RemoteComment(id=str(c["id"]), author=author.get("displayName")
                                    or author.get("accountId") or "", body=body, at=c.get("created"))
            start += len(comments)
            if not comments or start >= int(page.get("total", 0)):
                return

    def _myself(self) -> str | None:
        """The account this target acts as (its own comments are not mirrored back)."""
        if self._account_id is None:
            me = self.client.get("/rest/api/3/myself", op="who am I").body or {}
            self._account_id = me.get("accountId")
        return self._account_id

    def _move(self, ticket: Ticket, wanted: str, *, closing: bool) -> None:
        """Apply the transition called ``wanted`` (or leading to a status so called), unless
        the issue already is where it would lead (a retry after the transition went through)."""
        issue = self.client.get(f"/rest/api/3/issue/{ticket.key}", {"fields": "status"},
                                op=f"read {ticket.key}").body or {}
        status = (issue.get("fields") or {}).get("status") or {}
        category = (status.get("statusCategory") or {}).get("key")
        if (category in self.done_categories) == closing or status.get("name", "").lower() == wanted.lower():
            return
        op = f"{'close' if closing else 'reopen'} {ticket.key}"
        path = f"/rest/api/3/issue/{ticket.key}/transitions"
        transitions = (self.client.get(path, op=op).body or {}).get("transitions") or []
        low = wanted.lower()
        chosen = next((tr for tr in transitions if tr.get("name", "").lower() == low), None) or next(
            (tr for tr in transitions if ((tr.get("to") or {}).get("name") or "").lower() == low), None)
        if chosen is None:
            available = ", ".join(f"'{tr.get('name')}' (to {(tr.get('to') or {}).get('name')})"
                                  for tr in transitions) or "none"
            setting = "close_transition" if closing else "reopen_transition"
            raise DeliveryError(f"{self.where}: {op}: no transition '{wanted}' from status "
                                f"'{status.get('name')}'; available: {available}. Set {self.where}."
                                f"{setting} to one of them.", retryable=False)
        self.client.post(path, {"transition": {"id": chosen["id"]}}, op=op)


# -- Atlassian Document Format ---------------------------------------------------------------
def adf_document(text: str, findings: t.Iterable = ()) -> dict:
    """Plain text as an ADF document: blank lines part paragraphs, line breaks stay, links are
    link marks; the findings' pages not already linked in the text are listed after it."""
    content: list[dict] = []
    for block in re.split(r"\n\s*\n", text.strip()):
        inline: list[dict] = []
        for i, line in enumerate(block.splitlines()):
            if i:
                inline.append({"type": "hardBreak"})
            inline += _inline(line)
        if inline:
            content.append({"type": "paragraph", "content": inline})
    items = []
    for f in findings:
        if f.url and f.url not in text:
            label = f"{f.policy_title}: {f.resource_type} {f.resource_id}"
            items.append({"type": "listItem", "content": [{"type": "paragraph", "content": [
                {"type": "text", "text": label, "marks": [{"type": "link", "attrs": {"href": f.url}}]}]}]})
    if items:
        content.append({"type": "bulletList", "content": items})
    return {"type": "doc", "version": 1, "content": content or [{"type": "paragraph", "content": []}]}


def _inline(line: str) -> list[dict]:
    nodes: list[dict] = []
    at = 0
    for m in _URL.finditer(line):
        if m.start() > at:
            nodes.append({"type": "text", "text": line[at:m.start()]})
        nodes.append({"type": "text", "text": m.group(),
                      "marks": [{"type": "link", "attrs": {"href": m.group()}}]})
        at = m.end()
    if at < len(line):
        nodes.append({"type": "text", "text": line[at:]})
    return nodes


def adf_text(node: t.Any) -> str:
    """An ADF document as plain text (what people wrote in a comment)."""
    return _adf_text(node).strip() if isinstance(node, dict) else str(node or "").strip()


_BLOCKS = frozenset({"paragraph", "heading", "blockquote", "codeBlock", "listItem", "panel", "rule"})


def _adf_text(node: dict) -> str:
    kind = node.get("type")
    attrs = node.get("attrs") or {}
    if kind == "text":
        return node.get("text", "")
    if kind == "hardBreak":
        return "\n"
    if kind in ("mention", "emoji"):
        return attrs.get("text") or attrs.get("shortName") or ""
    if kind in ("inlineCard", "blockCard"):
        return attrs.get("url", "")
    inner = "".join(_adf_text(c) for c in node.get("content") or () if isinstance(c, dict))
    if kind == "listItem":
        return f"- {inner.strip()}\n"
    if kind in _BLOCKS:
        return inner.rstrip("\n") + "\n\n"
    return inner


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"

