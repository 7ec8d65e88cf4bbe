"""The operational store's tables (SQLAlchemy Core).

Times are ISO-8601 UTC strings (``2026-11-26T09:30:00.000000Z``) and dates
``YYYY-MM-DD`` strings: they compare correctly as text on every database and
hash to the same bytes wherever they are read, which the event chain needs.
Schema changes go through the Alembic migrations beside this module.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

metadata = MetaData()

TS = String(32)
DATE = String(10)
ID = String(300)

evaluations = Table(
    "evaluations", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("snapshot_id", String(64), nullable=False),
    Column("snapshot_sha256", String(80)),
    Column("snapshot_as_of", DATE, nullable=False),
    Column("policies_version", String(100), nullable=False),
    Column("policies_source", String(10), nullable=False),   # git | content
    Column("policies_dirty", Boolean),
    Column("engine", String(20), nullable=False),
    Column("started_at", TS, nullable=False),
    Column("finished_at", TS),
    Column("actor", String(200), nullable=False),
    Column("summary", Text),                                 # JSON: counts by change kind
)

policy_runs = Table(
    "policy_runs", metadata,
    Column("evaluation_id", Integer, ForeignKey("evaluations.id"), primary_key=True),
    Column("policy_id", String(200), primary_key=True),
    Column("policy_hash", String(80)),
    Column("status", String(10), nullable=False),
    Column("evaluated", Integer, nullable=False, default=0),
    Column("finding_count", Integer, nullable=False, default=0),
    Column("error", Text),
    Column("skip_reason", Text),
    Column("params", Text),
    Column("sql", Text),
    Column("policy_blob", String(40)),      # git blob id of the policy file's text
    Column("result_sha256", String(64)),    # digest of the findings, compared by replay
    # JSON list: inputs partly carried from a failed source, so silence was not a fix (0008).
    Column("incomplete_inputs", Text),
    # Resources in scope the policy could not decide for: the data to decide was missing (0008).
    Column("undecidable", Integer),
)

policies = Table(
    "policies", metadata,
    Column("id", String(200), primary_key=True),
    Column("title", Text, nullable=False),
    Column("category", String(20), nullable=False),
    Column("severity", String(10), nullable=False),
    Column("resource_type", String(50), nullable=False),
    Column("policy_hash", String(80)),
    Column("in_set", Boolean, nullable=False, default=True),
    Column("last_run_evaluation", Integer),
    Column("last_ok_evaluation", Integer),
)

policy_requirements = Table(
    "policy_requirements", metadata,
    Column("policy_id", String(200), primary_key=True),
    Column("framework", String(100), primary_key=True),
    Column("requirement", String(100), primary_key=True),
)

findings = Table(
    "findings", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("policy_id", String(200), nullable=False),
    Column("resource_type", String(50), nullable=False),
    Column("resource_id", ID, nullable=False),
    Column("status", String(20), nullable=False),
    Column("reason", Text),
    Column("evidence", Text),
    Column("savings", Float),
    Column("first_seen_evaluation", Integer, nullable=False),
    Column("last_seen_evaluation", Integer, nullable=False),
    Column("first_seen_at", TS, nullable=False),
    Column("last_seen_at", TS, nullable=False),
    Column("opened_at", TS, nullable=False),
    Column("due_on", DATE),
    Column("resolved_at", TS),
    Column("resolved_evaluation", Integer),
    Column("assignee", String(200)),
    Column("exception_id", Integer),
    Column("review_note", Text),
    Column("reopen_count", Integer, nullable=False, default=0),
    Column("updated_at", TS, nullable=False),
    # Why the latest evaluation could not re-check it, until one does (0008).
    Column("recheck_note", Text),
    # The billable object the saving claims (one object's money counts once) and its currency (0008).
    Column("savings_key", String(400)),
    Column("currency", String(3)),
    # The resource's legal entity and cost centre as the evaluation that last saw it read them:
    # what a scoped reader's filter tests (engine/access.py; NULL: outside every restricted scope) (0013).
    Column("legal_entity", String(200)),
    Column("cost_center", String(200)),
    UniqueConstraint("policy_id", "resource_type", "resource_id", name="uq_findings_identity"),
    Index("ix_findings_legal_entity", "legal_entity", "id"),
    Index("ix_findings_cost_center", "cost_center", "id"),
    Index("ix_findings_status_due", "status", "due_on"),
    # A page of findings: one ordered range per (policy, status) after the last id (0004).
    Index("ix_findings_policy_status_id", "policy_id", "status", "id"),
    Index("ix_findings_assignee", "assignee", "id", sqlite_where=text("assignee IS NOT NULL"),
          postgresql_where=text("assignee IS NOT NULL")),
    Index("ix_findings_resource", "resource_type", "resource_id"),
    # The overdue findings of one policy and status: one range, due_on < today (0006).
    Index("ix_findings_policy_status_due", "policy_id", "status", "due_on", "id"),
    # The list sorted by savings or first seen: one ordered range per (policy, status) (0009); by
    # due date, ix_findings_policy_status_due. One evaluation's new findings (opened_in, 0009).
    Index("ix_findings_policy_status_savings", "policy_id", "status", "savings", "id"),
    Index("ix_findings_policy_status_first_seen", "policy_id", "status", "first_seen_at", "id"),
    Index("ix_findings_first_seen_evaluation", "first_seen_evaluation", "id"),
    # Text search (queries.search_clause) on PostgreSQL: trigram GIN indexes, where pg_trgm could
    # be created (0006; evidence 0009). On SQLite the same search uses ``findings_fts`` (below).
    Index("ix_findings_resource_id_trgm", "resource_id", postgresql_using="gin",
          postgresql_ops={"resource_id": "gin_trgm_ops"}).ddl_if(dialect="postgresql"),
    Index("ix_findings_reason_trgm", "reason", postgresql_using="gin",
          postgresql_ops={"reason": "gin_trgm_ops"}).ddl_if(dialect="postgresql"),
    Index("ix_findings_evidence_trgm", "evidence", postgresql_using="gin",
          postgresql_ops={"evidence": "gin_trgm_ops"}).ddl_if(dialect="postgresql"),
)

#: The dashboard's counts of findings (and their savings) per policy and status, as the
#: evaluation that recorded them left the findings, with the event chain head at that point:
#: the web application starts from them after an evaluation instead of counting a million
#: findings again (dashboard.py). One row, the latest evaluation's.
posture_counts = Table(
    "posture_counts", metadata,
    Column("evaluation_id", Integer, ForeignKey("evaluations.id"), primary_key=True, autoincrement=False),
    Column("seq", Integer, nullable=False),
    Column("hash", String(64), nullable=False),
    Column("counts", Text, nullable=False),        # JSON: {policy: {status: [findings, savings]}}
)

#: SQLite only, not described here (SQLAlchemy has no virtual tables): ``findings_fts``, an
#: FTS5 table with the case-sensitive trigram tokenizer over each finding's resource_id and
#: reason (rowid = findings.id, its own copy of the text), and ``findings_fts_state``, the
#: evaluation it reflects; brought up to date after each evaluation (search_index.py; 0006,
#: skipped where SQLite lacks FTS5 trigrams).

events = Table(
    "events", metadata,
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("at", TS, nullable=False),
    Column("actor", String(200), nullable=False),
    Column("kind", String(40), nullable=False),
    Column("finding_id", Integer),
    Column("exception_id", Integer),
    Column("evaluation_id", Integer),
    Column("data", Text, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Index("ix_events_finding", "finding_id"),
    Index("ix_events_exception", "exception_id"),
)

#: One row: the last event's sequence number and hash. Appenders lock it, which
#: serialises writers of the chain on every database.
chain_head = Table(
    "chain_head", metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("seq", Integer, nullable=False),
    Column("hash", String(64), nullable=False),
)

audit_log = Table(
    "audit_log", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", TS, nullable=False),
    Column("actor", String(200), nullable=False),
    Column("action", String(40), nullable=False),
    Column("target", String(300), nullable=False),
    Column("origin", String(200), nullable=False),
    Column("data", Text, nullable=False),
)

exceptions = Table(
    "exceptions", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key", String(400), nullable=False, unique=True),
    Column("source", String(12), nullable=False),          # repository | product
    Column("policy_id", String(200), nullable=False),
    Column("selector", Text, nullable=False),              # JSON
    Column("justification", Text, nullable=False),
    Column("ticket", String(200)),
    Column("requested_by", String(200), nullable=False),
    Column("requested_at", TS, nullable=False),
    Column("approver", String(200)),
    Column("decided_at", TS),
    Column("decision_note", Text),
    Column("status", String(12), nullable=False),          # requested approved rejected revoked expired
    Column("expires_on", DATE, nullable=False),
    Column("content_hash", String(64)),
    Index("ix_exceptions_policy_status", "policy_id", "status"),
)

#: What an exception covers, one row per exact resource id or per LIKE pattern.
exception_targets = Table(
    "exception_targets", metadata,
    Column("exception_id", Integer, ForeignKey("exceptions.id"), nullable=False),
    Column("resource_id", ID),
    Column("pattern", ID),
    Index("ix_exception_targets", "exception_id"),
)

users = Table(
    "users", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("username", String(200), nullable=False, unique=True),
    Column("role", String(20), nullable=False),               # admin | officer | auditor
    Column("password_hash", String(200), nullable=False),     # argon2id
    Column("disabled", Boolean, nullable=False, default=False),
    Column("failed_logins", Integer, nullable=False, default=0),
    Column("locked_until", TS),
    Column("created_at", TS, nullable=False),
    Column("last_login_at", TS),
    # local (a password) | oidc (provisioned at an OpenID sign-in: no usable password) (0012).
    Column("auth_source", String(10), nullable=False, server_default="local"),
    # oidc: "<issuer> <sub>", the provider's own name for the person, unique (0012).
    Column("external_subject", String(600)),
    # When the OpenID provider last confirmed the account (a sign-in or a group re-read): its
    # API tokens stop working oidc.token_confirmation after it.
    Column("oidc_confirmed_at", TS),
    Index("ux_users_external_subject", "external_subject", unique=True),
    # The access.scopes entry limiting what this account reads; NULL: everything (0013).
    Column("scope", String(100)),
)

#: API tokens are stored as SHA-256 digests: the token itself is shown once, when created.
api_tokens = Table(
    "api_tokens", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("user_id", Integer, ForeignKey("users.id"), nullable=False),
    Column("token_sha256", String(64), nullable=False, unique=True),
    Column("label", String(200)),
    Column("created_at", TS, nullable=False),
    Column("revoked", Boolean, nullable=False, default=False),
    Column("expires_at", TS, nullable=False),                 # refused from then on (0007)
    Column("revoked_at", TS),
    # When and from which address it was last used: written at most once a minute (0007).
    Column("last_used_at", TS),
    Column("last_used_from", String(200)),
    # Read-only: refused on anything but GET and HEAD (0012).
    Column("read_only", Boolean, nullable=False, server_default=text("false")),
    # A narrower scope than its user's, or NULL: its user's (0013).
    Column("scope", String(100)),
)

#: Sessions of the web pages, so that the server can end them (logout, password change,
#: disable, role change): the cookie carries a random session token, stored here as SHA-256 (0007).
web_sessions = Table(
    "web_sessions", metadata,
    Column("id", String(64), primary_key=True),               # SHA-256 of the cookie's token
    Column("user_id", Integer, ForeignKey("users.id"), nullable=False),
    Column("created_at", TS, nullable=False),
    Column("expires_at", TS, nullable=False),
    Column("ended_at", TS),
    Column("origin", String(200), nullable=False),            # the address it was started from
    # The last request's time, written at most once a minute: the idle timeout counts from it (0012).
    Column("last_seen_at", TS),
    # OpenID sessions: when the person's groups were last re-read from the provider, and the
    # provider's tokens (access, refresh, ID) encrypted with a key derived from the application's
    # secret key, to re-read them (0012).
    Column("refreshed_at", TS),
    Column("oidc_tokens", Text),
    Index("ix_web_sessions_user", "user_id"),
)

#: One row per `dialtone run` or scheduled run: collect + evaluate + record (engine/runs.py).
runs = Table(
    "runs", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("trigger", String(20), nullable=False),            # manual | scheduler
    Column("actor", String(200), nullable=False),
    Column("holder", String(300), nullable=False),            # host:pid that ran it
    Column("started_at", TS, nullable=False),
    Column("finished_at", TS),
    # running | succeeded | degraded | failed | skipped
    Column("status", String(20), nullable=False),
    Column("snapshot_id", String(64)),
    Column("evaluation_id", Integer, ForeignKey("evaluations.id")),
    Column("error", Text),
    Column("summary", Text),                                  # JSON: policies and findings counts
    Index("ix_runs_started", "started_at"),
)

#: Per run and source: what the collect got from it.
run_sources = Table(
    "run_sources", metadata,
    Column("run_id", Integer, ForeignKey("runs.id"), primary_key=True),
    Column("source", String(200), primary_key=True),
    Column("collector", String(100), nullable=False),
    Column("status", String(20), nullable=False),             # collected | stale | failed | carried
    Column("rows", Integer, nullable=False, default=0),
    Column("rejects", Integer, nullable=False, default=0),
    Column("unresolved", Integer, nullable=False, default=0),
    Column("ambiguous", Integer, nullable=False, default=0),
    Column("seconds", Float),
    Column("collected_at", TS),                               # the data's age: last good collect
    Column("error", Text),
)

#: At most one row: the run in progress. Two schedulers, or a scheduler and a manual run,
#: cannot both insert it, so runs never overlap.
run_lock = Table(
    "run_lock", metadata,
    Column("name", String(20), primary_key=True),
    Column("run_id", Integer, nullable=False),
    Column("holder", String(300), nullable=False),
    Column("acquired_at", TS, nullable=False),
    Column("heartbeat_at", TS, nullable=False),
)

#: Notifications (engine/notify, store/outbox.py). One row per message to send: written by
#: routing in the transaction that reads the events (or the clock) that cause it, sent in ``id``
#: order per target, retried with backoff, ``dead`` after the configured attempts. ``dedupe_key``
#: makes routing idempotent: the same event, rule, target and recipient never give two rows (0010).
notify_outbox = Table(
    "notify_outbox", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("created_at", TS, nullable=False),
    Column("rule", String(200)),                              # None: ticket upkeep, a test message
    Column("target", String(200), nullable=False),
    # new reopened due_soon overdue exception_expiring run_failed source_stale digest test
    # ticket_open ticket_comment ticket_close ticket_reopen
    Column("kind", String(30), nullable=False),
    Column("recipient", String(320)),
    Column("dedupe_key", String(600), nullable=False, unique=True),
    Column("finding_id", Integer),
    Column("ticket_id", Integer),
    Column("payload", Text, nullable=False),                  # JSON: what the message is about
    Column("status", String(12), nullable=False),             # pending | sent | dead
    Column("attempts", Integer, nullable=False, default=0),
    Column("not_before", TS, nullable=False),                 # next attempt; a digest's period end
    Column("last_error", Text),
    Column("sent_at", TS),
    Column("ref", String(400)),                               # what the target answered
    Index("ix_notify_outbox_due", "status", "target", "id"),
    Index("ix_notify_outbox_finding", "finding_id"),
)

#: The findings a digest message lists (one message per rule, target, recipient and period).
notify_items = Table(
    "notify_items", metadata,
    Column("message_id", Integer, ForeignKey("notify_outbox.id"), primary_key=True),
    Column("finding_id", Integer, primary_key=True),
    Column("kind", String(30), primary_key=True),
    # The messages about one finding (its page).
    Index("ix_notify_items_finding", "finding_id", "message_id"),
)

#: Tickets on trackers, one per finding or per group of findings (a rule's ``ticket_per``).
#: ``state``: ``open``; ``claimed`` (closed on the tracker while its findings stand: the next
#: evaluation confirms the fix or reopens it); ``closed`` (its findings resolved, excepted or
#: closed by review, or the fix confirmed).
notify_tickets = Table(
    "notify_tickets", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("target", String(200), nullable=False),
    Column("group_key", String(600), nullable=False),
    Column("rule", String(200), nullable=False),
    Column("key", String(200)),                               # TEL-12; None until created
    Column("url", Text),
    Column("remote_id", String(200)),
    Column("state", String(12), nullable=False),
    Column("remote_status", String(100)),
    Column("opened_at", TS, nullable=False),
    Column("claimed_at", TS),
    Column("closed_at", TS),
    Column("polled_at", TS),
    Column("comment_cursor", String(200)),                    # the last tracker comment mirrored
    UniqueConstraint("target", "group_key", name="uq_notify_tickets_group"),
    Index("ix_notify_tickets_state", "target", "state"),
)

notify_ticket_findings = Table(
    "notify_ticket_findings", metadata,
    Column("ticket_id", Integer, ForeignKey("notify_tickets.id"), primary_key=True),
    Column("finding_id", Integer, primary_key=True),
    Index("ix_notify_ticket_findings_finding", "finding_id"),
)

#: Named cursors: ``routed`` is the last event of the history routing has read.
notify_state = Table(
    "notify_state", metadata,
    Column("name", String(40), primary_key=True),
    Column("seq", Integer, nullable=False),
)

#: Billing disputes with carriers (engine/store/disputes.py, docs/disputes.md), opened from
#: findings: ``draft`` → ``filed`` → ``acknowledged`` → ``credited`` | ``partially_credited`` |
#: ``denied`` | ``withdrawn``. Every change is an event in the history of each disputed finding.
#: A decision that writes money off (denied, withdrawn once filed, a partial credit accepted) is
#: requested by one person and approved by another (``writeoff_*``) (0011).
disputes = Table(
    "disputes", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("reference", String(40), nullable=False, unique=True),   # DSP-000001
    Column("account_id", ID, nullable=False),
    Column("vendor", String(200)),
    Column("currency", String(3)),
    Column("status", String(20), nullable=False),
    Column("claimed_total", Float, nullable=False),
    Column("credited_total", Float, nullable=False, default=0.0),
    Column("bill_date", DATE),                  # the earliest disputed bill
    Column("window_days", Integer, nullable=False),
    Column("deadline", DATE),                   # bill_date + window_days: the last day to file
    Column("carrier_reference", String(200)),
    Column("note", Text),
    Column("snapshot_id", String(64)),          # the snapshot its charges were read from
    Column("created_at", TS, nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("updated_at", TS, nullable=False),
    Column("filed_at", TS),
    Column("acknowledged_at", TS),
    Column("closed_at", TS),
    Column("writeoff_action", String(20)),      # a pending request: deny | withdraw | accept
    Column("writeoff_note", Text),
    Column("writeoff_requested_by", String(200)),
    Column("writeoff_requested_at", TS),
    Column("writeoff_approved_by", String(200)),
    Index("ix_disputes_status", "status", "id"),
    Index("ix_disputes_account", "account_id", "status"),
)

#: The disputed charges: one per finding and charge, with the amounts claimed and credited.
dispute_items = Table(
    "dispute_items", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("dispute_id", Integer, ForeignKey("disputes.id"), nullable=False),
    Column("finding_id", Integer),
    Column("policy_id", String(200)),
    Column("charge_id", ID),
    Column("invoice_id", ID),
    Column("invoice_number", String(200)),
    Column("bill_date", DATE),
    Column("line_id", ID),
    Column("charge_code", String(200)),
    Column("description", Text),
    Column("billed_amount", Float),
    Column("contracted_amount", Float),
    Column("claimed_amount", Float, nullable=False),
    Column("credited_amount", Float, nullable=False, default=0.0),
    Column("reason", Text),
    Index("ix_dispute_items_dispute", "dispute_id", "id"),
    Index("ix_dispute_items_finding", "finding_id"),
    Index("ix_dispute_items_charge", "charge_id"),
)

#: Credits on later bills matched to a dispute (``basis``: ``reference`` where the carrier echoed
#: the dispute's reference, else ``account_code_amount``); a credit line matches once.
dispute_credits = Table(
    "dispute_credits", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("dispute_id", Integer, ForeignKey("disputes.id"), nullable=False),
    Column("item_id", Integer),
    Column("snapshot_id", String(64), nullable=False),
    Column("charge_id", ID, nullable=False, unique=True),
    Column("invoice_id", ID),
    Column("invoice_number", String(200)),
    Column("bill_date", DATE),
    Column("amount", Float, nullable=False),            # positive: the money credited
    Column("currency", String(3)),
    Column("basis", String(30), nullable=False),
    Column("matched_at", TS, nullable=False),
    Index("ix_dispute_credits_dispute", "dispute_id", "id"),
)
