"""An outbox row → the :class:`Message` a target sends: subject, text, HTML, webhook JSON.

Rendered when sent (not when routed), from the store as it is then: a finding's latest
evidence and status. The templates are the stack's own (Jinja, ``templates/``), HTML
autoescaped. Evidence is shown as the target's ``evidence`` setting allows: ``masked`` (the
default) replaces people's names, e-mail addresses and phone numbers with the evidence
package's stable tokens; ``none`` leaves evidence out; ``full`` shows it as recorded.
"""

from __future__ import annotations

import json
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from sqlalchemy import Connection, text

from ..evidence.masking import Masker
from ..notifier_api import FindingRef, Message
from ..notify_settings import NotifySettings, TargetSettings

SCHEMA_ID = "dialtone.notification/1"
#: Findings listed in one message (a digest's others are counted and linked).
LIST_LIMIT = 200
#: Findings whose recent history a message carries (larger lists carry none).
HISTORY_LIMIT = 20

_ENV = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"),
                   autoescape=select_autoescape(["html"]), undefined=StrictUndefined,
                   keep_trailing_newline=True)

_EVENT_WORDS = {"new": "new", "reopened": "reopened", "due_soon": "due soon", "overdue": "overdue"}


class Renderer:
    def __init__(self, settings: NotifySettings, masker: Masker | None) -> None:
        self.settings = settings
        self.masker = masker

    def message(self, conn: Connection, row, target: TargetSettings) -> Message:
        payload = json.loads(row.payload or "{}")
        ids, total = self._finding_ids(conn, row, payload)
        findings = self._findings(conn, ids, target.evidence, payload.get("trigger") or row.kind)
        context = {"rule": row.rule, "findings": findings, "more": max(total - len(findings), 0),
                   "list_url": self._url("/findings") if total > len(findings) else None, "details": []}
        extra: dict = {}
        subject, intro = self._words(conn, row, payload, findings, total, context["details"], extra)
        context.update(intro=intro, subject=subject)
        body = {
            "schema": SCHEMA_ID, "id": row.id, "kind": row.kind, "rule": row.rule,
            "created_at": row.created_at, "subject": subject, "dialtone_url": self.settings.base_url,
            "findings": [_finding_json(f) for f in findings], "findings_total": total, **extra}
        return Message(id=row.id, kind=row.kind, rule=row.rule, recipient=row.recipient, subject=subject,
                       text=_ENV.get_template("message.txt").render(context),
                       html=_ENV.get_template("message.html").render(context), payload=body,
                       findings=tuple(findings))

    # -- what the message is about ------------------------------------------------------------
    def _finding_ids(self, conn: Connection, row, payload: dict) -> tuple[list[int], int]:
        if row.kind == "digest":
            total = conn.execute(text("SELECT count(DISTINCT finding_id) FROM notify_items "
                                      "WHERE message_id = :m"), {"m": row.id}).scalar() or 0
            ids = [r[0] for r in conn.execute(text(
                "SELECT DISTINCT finding_id FROM notify_items WHERE message_id = :m "
                f"ORDER BY finding_id LIMIT {LIST_LIMIT}"), {"m": row.id})]
            return ids, total
        if "findings" in payload:
            ids = list(payload["findings"])
            return ids[:LIST_LIMIT], len(ids)
        return ([row.finding_id], 1) if row.finding_id is not None else ([], 0)

    def _findings(self, conn: Connection, ids: list[int], evidence: str, event: str) -> list[FindingRef]:
        if not ids:
            return []
        marks = ", ".join(str(int(i)) for i in ids)
        rows = {r.id: r for r in conn.execute(text(f"""
            SELECT f.id, f.policy_id, coalesce(p.title, f.policy_id) AS title,
                   coalesce(p.severity, 'info') AS severity, coalesce(p.category, '') AS category,
                   f.resource_type, f.resource_id, f.status, f.reason, f.due_on, f.savings, f.currency,
                   f.evidence
            FROM findings f LEFT JOIN policies p ON p.id = f.policy_id WHERE f.id IN ({marks})"""))}
        history: dict[int, list[dict]] = {}
        if len(ids) <= HISTORY_LIMIT:
            for e in conn.execute(text(f"""
                    SELECT finding_id, at, actor, kind FROM events WHERE finding_id IN ({marks})
                    ORDER BY seq DESC""")):
                if len(history.setdefault(e.finding_id, [])) < 5:
                    history[e.finding_id].append({"at": e.at, "actor": e.actor, "kind": e.kind})
        out = []
        for fid in ids:
            r = rows.get(fid)
            if r is None:
                continue
            out.append(FindingRef(
                id=r.id, policy_id=r.policy_id, policy_title=r.title, severity=r.severity,
                category=r.category, resource_type=r.resource_type, resource_id=self._text(r.resource_id,
                                                                                           evidence),
                status=r.status, reason=self._text(r.reason, evidence), due_on=r.due_on, savings=r.savings,
                currency=r.currency, evidence=self._evidence(r.evidence, evidence),
                url=self._url(f"/findings/{r.id}"), event=event,
                history=tuple(reversed(history.get(r.id, [])))))
        return out

    def _evidence(self, raw: str | None, mode: str) -> dict:
        if mode == "none" or not raw:
            return {}
        try:
            data = json.loads(raw)
        except ValueError:
            return {}
        if not isinstance(data, dict):
            return {}
        return self.masker.evidence(data) if mode == "masked" and self.masker else data

    def _text(self, value: str | None, mode: str) -> str | None:
        if value is None or mode == "full" or self.masker is None:
            return value
        return self.masker.text(value)

    def _url(self, path: str) -> str | None:
        return f"{self.settings.base_url}{path}" if self.settings.base_url else None

    # -- words -------------------------------------------------------------------------------------
    def _words(self, conn: Connection, row, payload: dict, findings: list[FindingRef], total: int,
               details: list[str], extra: dict) -> tuple[str, str]:
        kind = row.kind
        first = findings[0] if findings else None
        about = f"{first.policy_title} — {first.resource_id}" if first else ""
        if kind in ("new", "reopened", "due_soon", "overdue") and first:
            intro = {"new": "A new finding needs work.",
                     "reopened": "A finding was reopened: the violation is back.",
                     "due_soon": f"This finding is due on {first.due_on}.",
                     "overdue": f"This finding is overdue: it was due on {first.due_on}."}[kind]
            label = {"new": f"New {first.severity} finding", "reopened": "Reopened",
                     "due_soon": f"Due {first.due_on}", "overdue": f"Overdue since {first.due_on}"}[kind]
            return f"[Dialtone] {label}: {about}", intro
        if kind == "digest":
            period = f"{payload.get('from', '')[:10]} to {payload.get('to', '')[:10]}"
            return (f"[Dialtone] {total} findings ({row.rule})",
                    f"{total} findings matched the rule {row.rule} ({payload.get('period', '')} digest, "
                    f"{period}).")
        if kind == "exception_expiring":
            exc = conn.execute(text("SELECT id, policy_id, expires_on, justification FROM exceptions "
                                    "WHERE id = :i"), {"i": payload.get("exception_id")}).first()
            if exc is None:
                return "[Dialtone] An exception expires soon", "An exception expires soon."
            extra["exception"] = {"id": exc.id, "policy_id": exc.policy_id, "expires_on": exc.expires_on,
                                  "justification": exc.justification}
            details.append(f"Justification: {exc.justification}")
            return (f"[Dialtone] Exception {exc.id} on {exc.policy_id} expires {exc.expires_on}",
                    f"Exception {exc.id} on the policy {exc.policy_id} expires on {exc.expires_on}; the "
                    "findings it covers return to open work then, unless it is renewed.")
        if kind in ("run_failed", "source_stale"):
            run = conn.execute(text("SELECT id, status, error FROM runs WHERE id = :i"),
                               {"i": payload.get("run_id")}).first()
            sources = conn.execute(text("SELECT source, status, error FROM run_sources WHERE run_id = :i "
                                        "AND status IN ('stale', 'failed') ORDER BY source"),
                                   {"i": payload.get("run_id")}).all()
            extra["run"] = {"id": run.id if run else payload.get("run_id"),
                            "status": run.status if run else None, "error": run.error if run else None}
            details += [f"{s.source}: {s.status}" + (f" ({s.error})" if s.error else "") for s in sources]
            if kind == "run_failed":
                return (f"[Dialtone] Run {extra['run']['id']} failed",
                        f"Run {extra['run']['id']} failed: {extra['run']['error'] or 'see the runs page'}. "
                        "Nothing it would have found was recorded; the previous findings stand.")
            return (f"[Dialtone] Run {extra['run']['id']}: sources stale or failed",
                    f"Run {extra['run']['id']} used data carried forward from sources that failed or were "
                    "stale: findings that read them were not re-checked.")
        if kind.startswith("ticket_"):
            return self._ticket_words(conn, row, payload, findings, total, about, extra)
        if kind == "test":
            return ("[Dialtone] Test message",
                    f"This is a test message from Dialtone to the target {row.target}. It works.")
        return f"[Dialtone] {kind}", kind

    def _ticket_words(self, conn: Connection, row, payload: dict, findings: list[FindingRef], total: int,
                      about: str, extra: dict) -> tuple[str, str]:
        ticket = conn.execute(text("SELECT target, key, url, group_key FROM notify_tickets WHERE id = :i"),
                              {"i": row.ticket_id}).first()
        if ticket is not None:
            extra["ticket"] = {"target": ticket.target, "key": ticket.key, "url": ticket.url}
        first = findings[0] if findings else None
        if row.kind == "ticket_open":
            grouped = ticket is not None and not ticket.group_key.startswith("finding:")
            subject = (f"{first.policy_title}: {total} findings" if grouped and first
                       else f"{first.severity.capitalize()}: {about}" if first else "Dialtone finding")
            return subject, ("Dialtone found the violation below. Fix it, then close this ticket: Dialtone's "
                             "next evaluation confirms the fix, or reopens the ticket with the evidence.")
        note = payload.get("note")
        trigger = payload.get("trigger")
        if row.kind == "ticket_close":
            how = {"resolved": "no longer finds it (resolved)",
                   "retired": "no longer evaluates its policy, or its changed rule no longer reports it",
                   "excepted": "accepted the risk under an exception",
                   "status_changed": "closed it on review"}.get(trigger, "closed it")
            return "Closed by Dialtone", f"Dialtone {how}. Closing this ticket."
        if row.kind == "ticket_reopen":
            why = note or {"reopened": "the violation is back", "exception_expired": "its exception ended",
                           "fix_refuted": "the next evaluation still finds it"}.get(trigger, "it stands")
            return "Reopened by Dialtone", f"Reopened: {why}. The evidence as found now is below."
        if note == "confirmed":
            return "Fix confirmed", ("Dialtone's evaluation confirms the fix: it no longer finds the "
                                     "violation.")
        if note:
            return "Comment", note
        return "Update", f"{about}: {_EVENT_WORDS.get(trigger or '', trigger or 'updated')}."


def _finding_json(f: FindingRef) -> dict:
    return {"id": f.id, "url": f.url, "event": f.event, "status": f.status, "reason": f.reason,
            "policy": {"id": f.policy_id, "title": f.policy_title, "severity": f.severity,
                       "category": f.category},
            "resource": {"type": f.resource_type, "id": f.resource_id}, "due_on": f.due_on,
            "savings": None if f.savings is None else {"amount": f.savings, "currency": f.currency},
            "evidence": f.evidence, "history": list(f.history)}
