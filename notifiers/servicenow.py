"""ServiceNow tickets (Table API): one record per finding or group, kept in step both ways.

A record (an incident by default) carries ``correlation_id`` = the Dialtone correlation and
``correlation_display`` = "Dialtone", so a retry after a crash finds the record the first
attempt created. Comments are journal entries (PATCH ``comments``); closing and reopening set
``state`` (and the close code and notes ServiceNow requires to resolve an incident); a poll
reads the records' states and, from ``sys_journal_field``, the comments people added since the
last one seen (the target's own user and ``[Dialtone]`` entries are left out).

Authentication: Basic with ``username`` and the secret ``password``, or an OAuth bearer
``token`` (then ``username`` is optional and only tells the target which comments are its own).

Example (``dialtone.yaml``)::

    notifications:
      targets:
        snow:
          type: servicenow
          instance_url: https://example.service-now.com
          username: dialtone.integration
          password_env: SNOW_PASSWORD
          assignment_group: Telecom
"""

from __future__ import annotations

import re
import time
import typing as t
from pathlib import Path
from urllib.parse import quote

from dialtone.engine.errors import ConfigError
from dialtone.engine.notifier_api import (
    DeliveryError,
    Message,
    RemoteComment,
    RemoteTicket,
    Ticket,
    TicketTarget,
)
from dialtone.engine.secrets import read_secret, secret_schema

from .http import TrackerClient, check_base_url

PREFIX = "[Dialtone]"
#: ``short_description`` is a 160-character field on task tables.
SHORT_LIMIT = 160
#: sys_ids per ``sys_idIN`` query: 32 characters each, the URL stays a few kilobytes.
POLL_CHUNK = 100
PAGE_SIZE = 100
#: Urgency and impact (1 high … 3 low) by the first finding's severity.
URGENCY = {"critical": "1", "high": "2"}
_CORRELATION = re.compile(r"^[A-Za-z0-9._:-]+$")
#: A comment's id and cursor: ``<sys_created_on>|<sys_id>`` (UTC, as the Table API gives it).
_CURSOR = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\|[0-9a-f]{32}$")
_STATE = {"type": "string", "pattern": "^-?[0-9]+$"}


class ServiceNowTarget(TicketTarget):
    """Records of a ServiceNow table, incidents by default (``type: servicenow``)."""

    settings_schema: t.ClassVar[dict] = {
        "type": "object",
        "additionalProperties": False,
        "required": ["instance_url"],
        "properties": {
            "instance_url": {"type": "string", "pattern": "^https?://",
                             "description": "The instance, e.g. https://example.service-now.com"},
            "table": {"type": "string", "pattern": "^[a-z][a-z0-9_]{0,79}$"},
            "username": {"type": "string", "minLength": 1},
            **secret_schema("password", "ServiceNow password"),
            **secret_schema("token", "ServiceNow OAuth access token"),
            "assignment_group": {"type": "string", "minLength": 1},
            "caller_id": {"type": "string", "minLength": 1},
            "closed_states": {"type": "array", "items": _STATE, "minItems": 1, "uniqueItems": True},
            "close_state": _STATE,
            "close_code": {"type": "string", "minLength": 1},
            "close_notes": {"type": "string", "minLength": 1},
            "reopen_state": _STATE,
            "timeout": {"type": "number", "exclusiveMinimum": 0, "maximum": 300},
        },
    }
    secret_settings = ("password", "token")

    def __init__(self, name: str, settings: dict, base_dir: Path, *,
                 sleep: t.Callable[[float], None] = time.sleep) -> None:
        super().__init__(name, settings, base_dir)
        self.url = check_base_url(settings["instance_url"], self.where, "instance_url")
        self.table = settings.get("table", "incident")
        self.username = settings.get("username")
        self.assignment_group = settings.get("assignment_group")
        self.caller_id = settings.get("caller_id")
        self.closed_states = frozenset(settings.get("closed_states", ["6", "7"]))
        self.close_state = settings.get("close_state", "6")
        self.close_code = settings.get("close_code", "Solved (Permanently)")
        self.close_notes = settings.get("close_notes", "Closed by Dialtone: the finding no longer stands.")
        self.reopen_state = settings.get("reopen_state", "2")
        token = read_secret(settings, "token", self.where, base_dir, required=False)
        auth: tuple[str, str] | str
        if token is not None:
            auth, secret = token, token
        else:
            if not self.username:
                raise ConfigError(f"{self.where}: set 'username' with 'password_env' or "
                                  "'password_file' (Basic), or 'token_env' or 'token_file' (OAuth).")
            password = read_secret(settings, "password", self.where, base_dir)
            assert password is not None
            auth, secret = (self.username, password), password
        self.client = TrackerClient(self.url, where=self.where, auth=auth, secrets=(secret,),
                                    timeout=settings.get("timeout", 30), sleep=sleep)

    def close(self) -> None:
        self.client.close()

    @property
    def _path(self) -> str:
        return f"/api/now/table/{self.table}"

    # -- the ticket operations ---------------------------------------------------------------
    def find(self, correlation: str) -> Ticket | None:
        _check_correlation(correlation)
        rows = self.client.get(self._path, {
            "sysparm_query": f"correlation_id={correlation}^ORDERBYsys_created_on",
            "sysparm_fields": "sys_id,number", "sysparm_limit": 1,
        }, op=f"find ticket {correlation}").body or {}
        found = rows.get("result") or []
        return self._ticket(found[0]) if found else None

    def create(self, correlation: str, message: Message) -> Ticket:
        _check_correlation(correlation)
        severity = message.findings[0].severity if message.findings else None
        level = URGENCY.get(severity or "", "3")
        record = {
            "short_description": " ".join(message.subject.split())[:SHORT_LIMIT],
            "description": message.text,
            "correlation_id": correlation,
            "correlation_display": "Dialtone",
            "urgency": level,
            "impact": level,
        }
        if self.assignment_group:
            record["assignment_group"] = self.assignment_group
        if self.caller_id:
            record["caller_id"] = self.caller_id
        reply = self.client.post(self._path, record, op="create ticket")
        result = (reply.body or {}).get("result") or {}
        if not result.get("sys_id") or not result.get("number"):
            raise DeliveryError(f"{self.where}: create ticket: ServiceNow answered HTTP {reply.status} "
                                "without a sys_id and number.", retryable=False)
        return self._ticket(result)

    def comment(self, ticket: Ticket, text: str) -> None:
        self._update(ticket, {"comments": f"{PREFIX} {text}"}, op=f"comment on {ticket.key}")

    def close_ticket(self, ticket: Ticket, text: str) -> None:
        notes = f"{PREFIX} {text}" if text.strip() else self.close_notes
        self._update(ticket, {"state": self.close_state, "close_code": self.close_code,
                              "close_notes": notes, "comments": f"{PREFIX} {text}"},
                     op=f"close {ticket.key}", state=self.close_state)

    def reopen_ticket(self, ticket: Ticket, text: str) -> None:
        self._update(ticket, {"state": self.reopen_state, "comments": f"{PREFIX} {text}"},
                     op=f"reopen {ticket.key}", state=self.reopen_state)

    def poll(self, tickets: list[Ticket], cursors: dict[str, str | None]) -> list[RemoteTicket]:
        ids = {self._sys_id(tk): tk.key for tk in tickets}
        rows: dict[str, dict] = {}
        keys = list(ids)
        for start in range(0, len(keys), POLL_CHUNK):
            chunk = keys[start:start + POLL_CHUNK]
            for row in self._rows(self._path, {
                    "sysparm_query": f"sys_idIN{','.join(chunk)}",
                    "sysparm_fields": "sys_id,number,state", "sysparm_display_value": "all"},
                    op="poll tickets"):
                rows[_value(row.get("sys_id"))] = row
        seen = []
        for sys_id, key in ids.items():
            row = rows.get(sys_id)
            if row is None:
                continue            # deleted, or no longer readable by this account
            state = row.get("state")
            seen.append(RemoteTicket(key=key, closed=_value(state) in self.closed_states,
                                     status=_display(state),
                                     comments=tuple(self._comments(key, sys_id, cursors.get(key)))))
        return seen

    # -- helpers -----------------------------------------------------------------------------
    def _ticket(self, row: dict) -> Ticket:
        sys_id = _value(row.get("sys_id"))
        page = quote(f"{self.table}.do?sys_id={sys_id}", safe="")
        return Ticket(key=_value(row.get("number")), url=f"{self.url}/nav_to.do?uri={page}",
                      remote_id=sys_id)

    def _sys_id(self, ticket: Ticket) -> str:
        if ticket.remote_id:
            return ticket.remote_id
        rows = self.client.get(self._path, {"sysparm_query": f"number={ticket.key}",
                                            "sysparm_fields": "sys_id", "sysparm_limit": 1},
                               op=f"look up {ticket.key}").body or {}
        found = rows.get("result") or []
        if not found:
            raise DeliveryError(f"{self.where}: no {self.table} record {ticket.key} on {self.url}.",
                                retryable=False)
        return _value(found[0].get("sys_id"))

    def _update(self, ticket: Ticket, fields: dict, *, op: str, state: str | None = None) -> None:
        path = f"{self._path}/{self._sys_id(ticket)}"
        result = (self.client.patch(path, fields, op=op).body or {}).get("result") or {}
        kept = _value(result.get("state")) if "state" in result else None
        if state is not None and kept is not None and kept != state:
            # A business rule or a data policy kept the old state (a Closed incident is final).
            raise DeliveryError(f"{self.where}: {op}: {self.table} {ticket.key} stayed in state "
                                f"{kept}, not {state}; the instance refused the change.", retryable=False)

    def _rows(self, path: str, params: dict, *, op: str) -> t.Iterator[dict]:
        """Every row of a query, page after page (the ``Link: <…>; rel="next"`` header)."""
        reply = self.client.get(path, {**params, "sysparm_limit": PAGE_SIZE}, op=op)
        while True:
            yield from (reply.body or {}).get("result") or ()
            nxt = reply.links.get("next")
            if not nxt or not (reply.body or {}).get("result"):
                return
            reply = self.client.get(nxt, op=op)

    def _comments(self, key: str, sys_id: str, cursor: str | None) -> t.Iterator[RemoteComment]:
        """People's comments on the record after ``cursor`` (``<sys_created_on>|<sys_id>`` of
        the last one seen), oldest first; a comment's id is its cursor."""
        if cursor is not None and not _CURSOR.match(cursor):
            # It goes into an encoded query: anything else could change the query's meaning.
            raise ValueError(f"{key}: comment cursor {cursor!r} is not '<sys_created_on>|<sys_id>'")
        since, _, last = (cursor or "").partition("|")
        query = f"element_id={sys_id}^element=comments"
        if since:
            # ">=": entries written in the same second as the last one seen come back, and are
            # told apart by their sys_id below.
            query += f"^sys_created_on>={since}"
        query += "^ORDERBYsys_created_on^ORDERBYsys_id"
        for row in self._rows("/api/now/table/sys_journal_field", {
                "sysparm_query": query,
                "sysparm_fields": "sys_id,value,sys_created_on,sys_created_by"},
                op=f"read comments of {key}"):
            at, row_id = _value(row.get("sys_created_on")), _value(row.get("sys_id"))
            body = _value(row.get("value")).strip()
            if since and (at, row_id) <= (since, last):
                continue
            own = bool(self.username) and _value(row.get("sys_created_by")) == self.username
            if own or body.startswith(PREFIX):
                continue
            yield RemoteComment(id=f"{at}|{row_id}", author=_value(row.get("sys_created_by")), body=body,
                                at=at)


def _check_correlation(correlation: str) -> None:
    # '^' and ',' would change the meaning of an encoded query.
    if not _CORRELATION.match(correlation):
        raise ValueError(f"correlation {correlation!r}: letters, digits and . _ : - only")


def _value(field: t.Any) -> str:
    """A field's raw value, whether the answer has plain values or ``{value, display_value}``."""
    if isinstance(field, dict):
        field = field.get("value")
    return "" if field is None else str(field)


def _display(field: t.Any) -> str:
    if isinstance(field, dict):
        return str(field.get("display_value") or field.get("value") or "")
    return "" if field is None else str(field)
