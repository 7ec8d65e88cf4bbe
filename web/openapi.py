"""The OpenAPI 3.1 document of ``/api/v1`` (served at ``/api/v1/openapi.json``)."""

from __future__ import annotations

from importlib.metadata import version

from dialtone.engine.policy.model import CATEGORIES, SEVERITIES
from dialtone.engine.runs import STATUSES as RUN_STATUSES
from dialtone.engine.store import STATUSES
from dialtone.engine.store.disputes import STATUSES as DISPUTE_STATUSES
from dialtone.engine.store.outbox_reads import OUTBOX_STATUSES, TICKET_STATES
from dialtone.engine.store.queries import EXCEPTION_VIEWS, SORTS

from .views.fields import MAX_FILTER_VALUES, MAX_FRAMEWORK, MAX_NAME, MAX_POLICY, MAX_SEARCH, MAX_TEXT


def _list(ref: str) -> dict:
    return {"type": "object", "required": ["items"],
            "properties": {"items": {"type": "array", "items": {"$ref": f"#/components/schemas/{ref}"}}}}


def _ok(schema: dict, description: str = "OK") -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


ERRORS = {code: {"$ref": "#/components/responses/Error"} for code in ("400", "401", "403", "404", "503")}


def _param(name: str, schema: dict, where: str = "query", description: str = "", many: bool = False) -> dict:
    if many:
        schema = {"type": "array", "items": schema, "maxItems": MAX_FILTER_VALUES}
    out = {"name": name, "in": where, "required": where == "path", "schema": schema,
           "description": description}
    if many:
        out.update(style="form", explode=True)
    return out


#: Ids are 64-bit integers in the store.
ID = {"type": "integer", "format": "int64", "minimum": 1, "maximum": 2**63 - 1}
#: A page size: more than 500 is read as 500.
LIMIT = {"type": "integer", "format": "int64", "minimum": 1, "maximum": 2**63 - 1}
#: Something other than white space (the same characters in Python's and ECMAScript's regexes:
#: Python's \s also has U+001C..U+001F and U+0085, ECMAScript's U+FEFF).
HAS_TEXT = r"[^\s\x1c-\x1f\x85\ufeff]"
#: A character of one line of text (no control character: web/views/fields.py), of multi-line
#: text (tabs and line breaks too), and one that is not white space either.
_LINE_CHAR = r"[^\u0000-\u001f\u007f-\u009f]"
_TEXT_CHAR = r"[^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]"
_VISIBLE = r"[^\s\u0000-\u001f\u007f-\u009f\ufeff]"
#: A comment: something other than white space, at most MAX_TEXT characters.
TEXT = {"type": "string", "minLength": 1, "maxLength": MAX_TEXT,
        "pattern": f"^{_TEXT_CHAR}*{_VISIBLE}{_TEXT_CHAR}*$"}
#: An assignee: one line, something other than white space, at most MAX_NAME characters.
NAME = {"type": "string", "minLength": 1, "maxLength": MAX_NAME,
        "pattern": f"^{_LINE_CHAR}*{_VISIBLE}{_LINE_CHAR}*$"}


def _line(limit: int) -> dict:
    """A one-line text parameter of at most ``limit`` characters."""
    return {"type": "string", "maxLength": limit, "pattern": f"^{_LINE_CHAR}*$"}


def _notification() -> dict:
    nullable_str = {"type": ["string", "null"]}
    nullable_int = {"type": ["integer", "null"]}
    props = {"id": {"type": "integer"}, "created_at": {"type": "string"}, "rule": nullable_str,
             "target": {"type": "string"}, "kind": {"type": "string"}, "recipient": nullable_str,
             "finding_id": nullable_int, "ticket_id": nullable_int,
             "status": {"enum": list(OUTBOX_STATUSES)}, "attempts": {"type": "integer"},
             "not_before": {"type": "string"}, "last_error": nullable_str, "sent_at": nullable_str,
             "ref": nullable_str, "findings": {"type": "integer", "description": "how many findings "
                                               "it is about"},
             "ticket_key": nullable_str, "ticket_url": nullable_str}
    return {"type": "object", "required": list(props), "properties": props}


def _notification_detail() -> dict:
    base = _notification()
    props = {k: v for k, v in base["properties"].items() if k not in ("ticket_key", "ticket_url")}
    props |= {"subject": {"type": ["string", "null"]},
              "ticket": {"anyOf": [{"type": "null"}, {
                  "type": "object", "required": ["key", "url", "state"],
                  "properties": {"key": {"type": ["string", "null"]}, "url": {"type": ["string", "null"]},
                                 "state": {"enum": list(TICKET_STATES)}}}]},
              "finding_list": {"type": "array", "maxItems": 200, "items": {
                  "type": "object", "required": ["id", "policy_id", "resource_type", "resource_id", "status"],
                  "properties": {"id": {"type": "integer"}, "policy_id": {"type": "string"},
                                 "resource_type": {"type": "string"}, "resource_id": {"type": "string"},
                                 "status": {"enum": list(STATUSES)}}}}}
    return {"type": "object", "required": list(props), "properties": props}


#: A dispute's reference in a path: DSP-000012 or 12.
DISPUTE_REF = {"type": "string", "pattern": "^(DSP-[0-9]{1,19}|[0-9]{1,19})$",
               "description": "the dispute's reference (DSP-000012) or its number"}
#: A note: multi-line text, possibly empty, or null.
NOTE = {"type": ["string", "null"], "maxLength": MAX_TEXT, "pattern": f"^{_TEXT_CHAR}*$"}
DISPUTE_ACTIONS = ("file", "acknowledge", "reference", "withdraw", "deny", "accept", "approve", "reject")


def _dispute() -> dict:
    text = {"type": ["string", "null"]}
    money = {"type": "number"}
    props = {"id": {"type": "integer"}, "reference": {"type": "string"}, "account_id": {"type": "string"},
             "vendor": text, "currency": text, "status": {"enum": list(DISPUTE_STATUSES)},
             "claimed_total": money, "credited_total": money,
             "bill_date": {**text, "description": "the earliest disputed bill (YYYY-MM-DD)"},
             "window_days": {"type": "integer"},
             "deadline": {**text, "description": "the last day to file it with the carrier"},
             "carrier_reference": text, "note": text, "snapshot_id": text,
             "created_at": {"type": "string"}, "created_by": {"type": "string"},
             "updated_at": {"type": "string"}, "filed_at": text, "acknowledged_at": text, "closed_at": text,
             "writeoff_action": {"enum": [None, "deny", "withdraw", "accept"],
                                 "description": "a write-off awaiting another person's approval"},
             "writeoff_note": text, "writeoff_requested_by": text, "writeoff_requested_at": text,
             "writeoff_approved_by": text}
    return {"type": "object", "required": list(props), "properties": props}


def _dispute_detail() -> dict:
    base = _dispute()
    number = {"type": ["number", "null"]}
    text = {"type": ["string", "null"]}
    item = {"type": "object", "required": ["id", "finding_id", "claimed_amount", "credited_amount"],
            "properties": {"id": {"type": "integer"}, "dispute_id": {"type": "integer"},
                           "finding_id": {"type": ["integer", "null"]}, "policy_id": text,
                           "charge_id": text, "invoice_id": text, "invoice_number": text, "bill_date": text,
                           "line_id": text, "charge_code": text, "description": text,
                           "billed_amount": number, "contracted_amount": number,
                           "claimed_amount": {"type": "number"}, "credited_amount": {"type": "number"},
                           "reason": text}}
    credit = {"type": "object", "required": ["charge_id", "amount", "basis"],
              "properties": {"id": {"type": "integer"}, "dispute_id": {"type": "integer"},
                             "item_id": {"type": ["integer", "null"]}, "snapshot_id": {"type": "string"},
                             "charge_id": {"type": "string"}, "invoice_id": text, "invoice_number": text,
                             "bill_date": text, "amount": {"type": "number"}, "currency": text,
                             "basis": {"type": "string", "description": "reference (the carrier echoed "
                                       "the dispute's reference) or account_code_amount"},
                             "matched_at": {"type": "string"}}}
    event = {"type": "object", "required": ["seq", "at", "actor", "kind", "data"],
             "properties": {"seq": {"type": "integer"}, "at": {"type": "string"},
                            "actor": {"type": "string"}, "kind": {"type": "string"},
                            "data": {"type": "object"}}}
    props = {**base["properties"], "items": {"type": "array", "items": item},
             "credits": {"type": "array", "items": credit}, "history": {"type": "array", "items": event}}
    return {"type": "object", "required": [*base["required"], "items", "credits", "history"],
            "properties": props}


def _dispute_paths() -> dict:
    detail = {"$ref": "#/components/schemas/DisputeDetail"}
    ref_param = _param("ref", DISPUTE_REF, "path")
    conflict = {"$ref": "#/components/responses/Error",
                "description": "the dispute's state, or the rule that a write-off is approved by "
                               "someone other than who asked, refuses it (code conflict)"}
    return {
        "/disputes": {
            "get": {
                "summary": "Billing disputes, newest first (keyset paging with `after`)",
                "parameters": [
                    _param("status", {"enum": list(DISPUTE_STATUSES)}, many=True),
                    _param("account", _line(MAX_NAME), description="the billing account's id"),
                    _param("limit", LIMIT, description="page size (default 100); at most 500 are returned"),
                    _param("after", {"type": "integer", "format": "int64", "minimum": -(2**63 - 1),
                                    "maximum": 2**63 - 1},
                           description="the previous page's `next_after`: disputes older than it"),
                ],
                "responses": {"200": _ok({"type": "object", "required": ["items", "next_after"],
                                          "properties": {"items": {"type": "array", "items": {
                                              "$ref": "#/components/schemas/Dispute"}},
                                              "next_after": {"type": ["integer", "null"]}}}),
                              **ERRORS}},
            "post": {
                "summary": "Open draft disputes from findings on charges or invoices, one per billing "
                           "account and currency; all or nothing (officer, admin)",
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "type": "object", "required": ["findings"],
                    "properties": {"findings": {"type": "array", "minItems": 1, "maxItems": 500,
                                                "items": ID},
                                   "note": NOTE}}}}},
                "responses": {"201": _ok({"type": "object", "required": ["items"], "properties": {
                    "items": {"type": "array", "items": detail}}}, "Created"), **ERRORS,
                    "409": {"$ref": "#/components/responses/Error",
                            "description": "the findings cannot be disputed as things stand: not a "
                                           "billing error on a charge, not open or in "
                                           "progress, already claimed in a live dispute, or no snapshot "
                                           "with their bills (code not_disputable)"}}},
        },
        "/disputes/{ref}": {"get": {
            "summary": "One dispute with its charges, credits and history", "parameters": [ref_param],
            "responses": {"200": _ok(detail), **ERRORS}}},
        "/disputes/{ref}/{action}": {"post": {
            "summary": "Act on a dispute (officer, admin): file, acknowledge, reference (set the "
                       "carrier's reference), withdraw / deny / accept (a write-off: needs a note, and "
                       "another person's approval once filed), approve / reject (a pending write-off, "
                       "not your own)",
            "parameters": [ref_param, _param("action", {"enum": list(DISPUTE_ACTIONS)}, "path")],
            "requestBody": {"required": False, "content": {"application/json": {"schema": {
                "type": "object", "properties": {
                    "note": NOTE,
                    "carrier_reference": {**_line(MAX_NAME), "type": ["string", "null"]}}}}}},
            "responses": {"200": _ok({"type": "object", "required": ["message", "dispute"],
                                      "properties": {"message": {"type": "string"}, "dispute": detail}}),
                          **ERRORS, "409": conflict}}},
    }


def spec() -> dict:
    ref = {"$ref": "#/components/schemas/Finding"}
    id_param = _param("finding_id", ID, "path")
    nullable_str = {"type": ["string", "null"]}
    return {
        "openapi": "3.1.0",
        "info": {"title": "Dialtone API", "version": version("dialtone"),
                 "description": "Findings, their remediation history, exceptions, policies, evaluations, "
                                "snapshots, runs and billing disputes. Authenticate with "
                                "`Authorization: Bearer <token>` "
                                "(`dialtone tokens create USERNAME`)."},
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearer": []}],
        "paths": {
            "/findings": {"get": {
                "summary": "Findings, filtered and sorted (keyset paging with `after` and `after_key`)",
                "parameters": [
                    _param("status", {"enum": list(STATUSES)}, many=True),
                    _param("severity", {"enum": list(SEVERITIES)}, many=True),
                    _param("category", {"enum": list(CATEGORIES)}, many=True),
                    _param("policy", _line(MAX_POLICY), many=True),
                    _param("framework", _line(MAX_FRAMEWORK)),
                    _param("overdue", {"enum": ["1", "true", "0", "false"]}),
                    _param("assignee", _line(MAX_NAME)),
                    _param("q", _line(MAX_SEARCH), description="text in the resource id, reason or "
                           "evidence: any case (A-Z), from the start of a word when it starts with a "
                           "letter or digit, every character literal"),
                    _param("opened_in", ID, description="findings first seen by this evaluation"),
                    _param("sort", {"enum": list(SORTS)}, description="the order (default id); ties by "
                           "id; empty due dates and savings last"),
                    _param("dir", {"enum": ["asc", "desc"]}, description="the direction (default asc)"),
                    _param("after_key", _line(MAX_POLICY), description="with `after`, for a sort other "
                           "than id: the previous page's `next_after_key`"),
                    _param("limit", LIMIT, description="page size (default 100); at most 500 are returned"),
                    _param("after", {"type": "integer", "format": "int64", "minimum": -(2**63 - 1),
                                    "maximum": 2**63 - 1}, description="the last id of the previous page "
                           "(with a sort other than id and no `after_key`: after that finding's place in "
                           "the order; nothing when there is no such finding)"),
                ],
                "responses": {"200": _ok({"type": "object", "required": ["items", "next_after"],
                                          "properties": {"items": {"type": "array", "items": ref},
                                                         "next_after": {"type": ["integer", "null"]},
                                                         "next_after_key": {
                                                             "type": ["string", "number", "null"]}}}),
                              **ERRORS}}},
            "/findings/{finding_id}": {"get": {
                "summary": "One finding", "parameters": [id_param],
                "responses": {"200": _ok(ref), **ERRORS}}},
            "/findings/{finding_id}/events": {"get": {
                "summary": "A finding's hash-chained remediation history", "parameters": [id_param],
                "responses": {"200": _ok(_list("Event")), **ERRORS}}},
            "/findings/{finding_id}/comments": {"post": {
                "summary": "Comment on a finding (officer, admin)", "parameters": [id_param],
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "type": "object", "required": ["text"], "properties": {"text": TEXT}}}}},
                "responses": {"201": _ok({"type": "object"}, "Created"), **ERRORS}}},
            "/findings/{finding_id}/assignment": {"post": {
                "summary": "Assign a finding (officer, admin)", "parameters": [id_param],
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "type": "object", "required": ["assignee"],
                    "properties": {"assignee": NAME}}}}},
                "responses": {"200": _ok({"type": "object"}), **ERRORS,
                              "409": {"$ref": "#/components/responses/Error",
                                      "description": "the assignee is not an active officer or admin "
                                                     "account (code not_assignable)"}}}},
            "/exceptions": {"get": {
                "summary": "Exceptions", "parameters": [_param("view", {"enum": list(EXCEPTION_VIEWS)})],
                "responses": {"200": _ok(_list("Exception")), **ERRORS}}},
            "/policies": {"get": {"summary": "Policies with their last result",
                                  "responses": {"200": _ok(_list("Policy")), **ERRORS}}},
            "/evaluations": {"get": {"summary": "Recorded evaluations, newest first",
                                     "responses": {"200": _ok(_list("Evaluation")), **ERRORS}}},
            "/evaluations/{evaluation_id}": {"get": {
                "summary": "One evaluation with its policy runs",
                "parameters": [_param("evaluation_id", ID, "path")],
                "responses": {"200": _ok({"$ref": "#/components/schemas/Evaluation"}), **ERRORS}}},
            "/snapshots": {"get": {"summary": "Snapshots with their manifests",
                                   "responses": {"200": _ok({"type": "object"}), **ERRORS}}},
            "/runs": {"get": {
                "summary": "Runs (collect, evaluate, record), newest first, each with its sources; "
                           "and the run in progress, if any",
                "parameters": [_param("limit", LIMIT,
                                      description="how many (default 50); at most 500 are returned")],
                "responses": {"200": _ok({
                    "type": "object", "required": ["items", "in_progress"],
                    "properties": {"items": {"type": "array", "items": {"$ref": "#/components/schemas/Run"}},
                                   "in_progress": {"anyOf": [{"type": "null"},
                                                             {"$ref": "#/components/schemas/RunLock"}]}}}),
                              **ERRORS}}},
            "/runs/{run_id}": {"get": {
                "summary": "One run with what it collected from each source",
                "parameters": [_param("run_id", ID, "path")],
                "responses": {"200": _ok({"$ref": "#/components/schemas/Run"}), **ERRORS}}},
            "/notifications": {"get": {
                "summary": "The notifications outbox, newest first (officer, admin; keyset paging with "
                           "`after`)",
                "parameters": [
                    _param("status", {"enum": list(OUTBOX_STATUSES)}),
                    _param("target", _line(MAX_NAME), description="the target's name in dialtone.yaml"),
                    _param("limit", LIMIT, description="page size (default 100); at most 500 are returned"),
                    _param("after", {"type": "integer", "format": "int64", "minimum": -(2**63 - 1),
                                    "maximum": 2**63 - 1},
                           description="the previous page's `next_after`: messages older than it"),
                ],
                "responses": {"200": _ok({"type": "object", "required": ["items", "next_after"],
                                          "properties": {"items": {"type": "array", "items": {
                                              "$ref": "#/components/schemas/Notification"}},
                                              "next_after": {"type": ["integer", "null"]}}}),
                              **ERRORS}}},
            "/notifications/{message_id}": {"get": {
                "summary": "One message with its findings (the first 200 by id; officer, admin)",
                "parameters": [_param("message_id", ID, "path")],
                "responses": {"200": _ok({"$ref": "#/components/schemas/NotificationDetail"}), **ERRORS}}},
            **_dispute_paths(),
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "responses": {"Error": {"description": "An error", "content": {"application/json": {"schema": {
                "type": "object", "required": ["error"], "properties": {"error": {
                    "type": "object", "required": ["status", "code", "message"],
                    "properties": {"status": {"type": "integer"}, "code": {"type": "string"},
                                   "message": {"type": "string"}}}}}}}}},
            "schemas": {
                "Finding": {"type": "object", "required": ["id", "policy_id", "resource_type", "resource_id",
                                                           "status", "severity", "overdue"],
                            "properties": {"id": {"type": "integer"}, "policy_id": {"type": "string"},
                                           "resource_type": {"type": "string"},
                                           "resource_id": {"type": "string"},
                                           "status": {"enum": list(STATUSES)},
                                           "severity": {"enum": list(SEVERITIES)},
                                           "category": {"enum": list(CATEGORIES)},
                                           "reason": nullable_str, "evidence": {"type": "object"},
                                           "savings": {"type": ["number", "null"]},
                                           # The billable object the saving claims (counted
                                           # once across policies) and its ISO 4217 currency.
                                           "savings_key": nullable_str, "currency": nullable_str,
                                           "recheck_note": nullable_str,
                                           "due_on": nullable_str, "overdue": {"type": "boolean"},
                                           "assignee": nullable_str,
                                           "tickets": {"type": "array", "items": {
                                               "$ref": "#/components/schemas/TicketRef"}},
                                           "disputes": {"type": "array", "items": {"type": "string"},
                                                        "description": "references of the billing "
                                                        "disputes the finding is in"}}},
                "TicketRef": {"type": "object", "required": ["target", "key", "url", "state"],
                              "description": "A ticket on a tracker about the finding; `key` is null "
                                             "until the tracker gave one; `claimed`: closed on the "
                                             "tracker while the finding still stands",
                              "properties": {"target": {"type": "string"}, "key": nullable_str,
                                             "url": nullable_str, "state": {"enum": list(TICKET_STATES)}}},
                "Notification": _notification(),
                "Dispute": _dispute(),
                "DisputeDetail": _dispute_detail(),
                "NotificationDetail": _notification_detail(),
                "Event": {"type": "object", "required": ["seq", "at", "actor", "kind", "data", "hash"],
                          "properties": {"seq": {"type": "integer"}, "at": {"type": "string"},
                                         "actor": {"type": "string"}, "kind": {"type": "string"},
                                         "data": {"type": "object"}, "hash": {"type": "string"}}},
                "Exception": {"type": "object", "required": ["id", "status", "policy_id", "expires_on"],
                              "properties": {"id": {"type": "integer"}, "status": {"type": "string"},
                                             "policy_id": {"type": "string"},
                                             "expires_on": {"type": "string"},
                                             "resources_hidden": {
                                                 "type": "integer",
                                                 "description": "How many of the resources its selector "
                                                                "names are left out of selector.resources "
                                                                "for a scoped caller: outside the scope, or "
                                                                "with no finding yet (docs/access.md)."}}},
                "Policy": {"type": "object", "required": ["id", "severity", "category"],
                           "properties": {"id": {"type": "string"}, "severity": {"enum": list(SEVERITIES)},
                                          "category": {"enum": list(CATEGORIES)}}},
                "Run": {"type": "object",
                        "required": ["id", "trigger", "actor", "holder", "started_at", "finished_at",
                                     "status", "snapshot_id", "evaluation_id", "error", "summary",
                                     "sources"],
                        "properties": {"id": {"type": "integer"}, "trigger": {"type": "string"},
                                       "actor": {"type": "string"}, "holder": {"type": "string"},
                                       "started_at": {"type": "string"}, "finished_at": nullable_str,
                                       "status": {"enum": list(RUN_STATUSES)},
                                       "snapshot_id": nullable_str,
                                       "evaluation_id": {"type": ["integer", "null"]},
                                       "error": nullable_str,
                                       "summary": {"type": "object", "description": "policies (counts by "
                                                   "status), findings, changes, rows per entity, "
                                                   "warnings (what a source could not give, "
                                                   "unknown params entries)"},
                                       "sources": {"type": "array",
                                                   "items": {"$ref": "#/components/schemas/RunSource"}}}},
                "RunSource": {"type": "object",
                              "required": ["source", "collector", "status", "rows", "rejects", "unresolved",
                                           "ambiguous", "seconds", "collected_at", "error"],
                              "properties": {"source": {"type": "string"}, "collector": {"type": "string"},
                                             "status": {"enum": ["collected", "carried", "stale", "failed"]},
                                             "rows": {"type": "integer"}, "rejects": {"type": "integer"},
                                             "unresolved": {"type": "integer"},
                                             "ambiguous": {"type": "integer"},
                                             "seconds": {"type": ["number", "null"]},
                                             "collected_at": {**nullable_str, "description":
                                                              "when the data was last collected"},
                                             "error": nullable_str}},
                "RunLock": {"type": "object", "required": ["run_id", "holder", "acquired_at", "heartbeat_at"],
                            "properties": {"run_id": {"type": "integer"}, "holder": {"type": "string"},
                                           "acquired_at": {"type": "string"},
                                           "heartbeat_at": {"type": "string"}}},
                "Evaluation": {"type": "object", "required": ["id", "snapshot_id", "policies_version"],
                               "properties": {"id": {"type": "integer"}, "snapshot_id": {"type": "string"},
                                              "policies_version": {"type": "string"}}},
            },
        },
    }
