"""Benchmark: latency of the web application over a million findings (issue 6 targets on SQLite).

    python bench/web_latency.py [--findings 1000000] [--requests 300] [--concurrency 4] [--keep DIR]

1. A SQLite store is populated with the machinery of ``bench/findings_sync.py``
   (``record_evaluation`` of synthetic outcomes of built-in policies): N findings
   over thirteen policies of every category and severity, mapped to a dozen
   frameworks, recorded 40 days ago; a second evaluation ten days ago resolves
   a tenth of them and opens 1% new ones; a few hundred are assigned (in
   progress), two exceptions are approved (one by resource list, one by
   pattern) and one awaits a decision; an officer account and an API token.
2. ``dialtone serve`` (waitress, 8 threads) is started in a subprocess on
   loopback, exactly as an operator would run it.
3. The load generator is this script: ``--concurrency`` threads, each with its
   own keep-alive HTTP/1.1 connection (``http.client``), issue ``--requests``
   requests per scenario back to back (closed loop) after a warm-up, and every
   request's latency (request written to last body byte read) is kept, so the
   p50 and p95 are exact rather than read off a histogram. A Python client
   needs nothing installed beyond the project, runs the same on a developer's
   machine and CI's, and costs well under a millisecond per request: small
   against the figures measured (``wrk`` reports no p95 without a Lua script
   and is not part of the project's install).
4. Pages are requested with an officer's session cookie (logged in through the
   login form), the API with a bearer token. Target: p95 < 200 ms for each.

The baseline, measured in the same run on the same store, is the store call
each view makes (``queries.list_findings`` with the same filter, and
``queries.count_findings`` for a findings page, which shows the count;
``posture`` for the dashboard) run directly in this process, without HTTP,
Flask, templates or concurrency: the p50 and p95 ratios show what the web
layer adds. The findings scenarios include each sort (issue 17), the views
(new since the last evaluation, one assignee's), case-insensitive and sorted
searches, and a policy filter by part of its id.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import http.client
import json
import os
import re
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode

from dialtone.engine.evaluation import Evaluation
from dialtone.engine.policy.loader import LoadedPolicies, load_policies
from dialtone.engine.store import Store
from dialtone.engine.store.sync import record_evaluation

sys.path.insert(0, str(Path(__file__).parent))
from findings_sync import _outcomes, _snapshot  # noqa: E402  (the same machinery as that bench)

TARGET_P95_MS = 200.0
PASSWORD = "bench officer passphrase"
OFFICER = "officer@example.com"
APPROVER = "approver@example.com"
#: The officer the bench's in-progress findings are assigned to.
ASSIGNEE = "carol@example.com"

#: (policy, share of the findings): every category and severity, a dozen frameworks; the big
#: cost policies dominate as in a real estate, the critical ones are rare.
MIX = [
    ("cost.zero-usage-lines", 0.20), ("cost.unused-licenses", 0.15), ("cost.over-provisioned-plan", 0.12),
    ("cost.device-past-refresh-age", 0.10), ("cost.duplicate-charges", 0.06),
    ("security.device-noncompliant", 0.10), ("security.unencrypted-devices", 0.08),
    ("security.os-version-below-floor", 0.06), ("retention.regulatory-recordings-retention", 0.05),
    ("regulatory.e911-location-missing", 0.04), ("lifecycle.leaver-devices-not-returned", 0.03),
    ("regulatory.off-channel-messaging-apps", 0.005), ("retention.deletion-under-legal-hold", 0.005),
]


# -- the store ---------------------------------------------------------------------------------
def _clock(moment: dt.datetime):
    return lambda: moment


PROVENANCE = {"source": "content", "version": "sha256:bench", "dirty": None}


def _estate(total: int):
    """The policies and, per policy, the resources found by the first and the second evaluation."""
    by_id = load_policies().by_id()
    policies = [by_id[pid] for pid, _ in MIX]
    sizes = [max(1, int(total * share)) for _, share in MIX]
    sizes[0] += total - sum(sizes)
    ids = [[f"R{k}-{i:07d}" for i in range(n)] for k, n in enumerate(sizes)]
    # A tenth resolved (spread through every policy), 1% new, in the second evaluation.
    ids2 = [[r for i, r in enumerate(lst) if i % 10 != 3] + [f"N{k}-{i:07d}" for i in range(len(lst) // 100)]
            for k, lst in enumerate(ids)]
    return policies, ids, ids2


def populate(root: Path, total: int, url: str | None = None) -> dict:
    from dialtone.engine.store import exceptions as exc_mod
    from dialtone.engine.store import workflow
    from dialtone.engine.store.accounts import add_user, create_token

    policies, ids, ids2 = _estate(total)
    policy_set = LoadedPolicies(tuple(policies), (), "sha256:bench")
    provenance = PROVENANCE
    url = url or f"sqlite:///{root / 'store.db'}"
    now = dt.datetime.now(dt.UTC)

    started = time.perf_counter()
    store = Store(url, clock=_clock(now - dt.timedelta(days=40)))
    snap1 = _snapshot(root / "snapshots", "S1", (now - dt.timedelta(days=40)).date())
    record_evaluation(store, Evaluation(snap1, "sha256:bench", "duckdb", _outcomes(policies, ids)),
                      policy_set, provenance=provenance)
    store.close()
    store = Store(url, clock=_clock(now - dt.timedelta(days=10)))
    snap2 = _snapshot(root / "snapshots", "S2", (now - dt.timedelta(days=10)).date())
    record_evaluation(store, Evaluation(snap2, "sha256:bench", "duckdb", _outcomes(policies, ids2)),
                      policy_set, provenance=provenance)
    store.close()

    store = Store(url)
    audit = workflow.audit_writer(store, "bench")
    add_user(store, OFFICER, "officer", PASSWORD)
    add_user(store, APPROVER, "officer", PASSWORD)
    add_user(store, ASSIGNEE, "officer", PASSWORD)   # findings are assigned to accounts only
    token = create_token(store, OFFICER, "bench")
    step = max(1, total // 1000)
    for fid in range(1, total, step):        # ~1,000 findings in progress, spread over the ids
        with contextlib.suppress(workflow.WorkflowError):   # resolved in the second evaluation
            workflow.assign(store, fid, ASSIGNEE, OFFICER, audit)
    today = store.today()
    specs = [
        exc_mod.ExceptionSpec(MIX[0][0], "panel lines, kept for emergencies", today + dt.timedelta(days=60),
                              OFFICER, resources=tuple(ids[0][i] for i in range(0, 50, 10))),
        exc_mod.ExceptionSpec(MIX[5][0], "lab devices", today + dt.timedelta(days=30), OFFICER,
                              resource_patterns=("R5-00001*",)),
        exc_mod.ExceptionSpec(MIX[1][0], "vendor trial", today + dt.timedelta(days=20), OFFICER,
                              resources=(ids[1][7],)),
    ]
    exception_ids = [exc_mod.request(store, s, audit=audit) for s in specs]
    for eid in exception_ids[:2]:
        exc_mod.decide(store, eid, "approve", APPROVER, "ok", audit=audit)
    store.close()

    info = {"findings": total, "policies": len(policies), "token": token, "url": url,
            "populate_s": round(time.perf_counter() - started, 1)}
    (root / "bench.json").write_text(json.dumps(info))
    return info


def reevaluate(url: str, root: Path, total: int, pipe) -> None:
    """In a child process: record the second evaluation again (nothing changes, but recording it
    holds the store's write lock for as long as an evaluation of this estate takes)."""
    policies, _, ids2 = _estate(total)
    outcomes = _outcomes(policies, ids2)
    snap = _snapshot(root / "snapshots", f"S-{time.time_ns()}", dt.date.today())
    store = Store(url)
    pipe.send("writing")
    started = time.perf_counter()
    record_evaluation(store, Evaluation(snap, "sha256:bench", "duckdb", outcomes),
                      LoadedPolicies(tuple(policies), (), "sha256:bench"), provenance=PROVENANCE)
    pipe.send(time.perf_counter() - started)
    store.close()


def during_evaluation(info: dict, root: Path, port: int, path: str, headers: dict,
                      concurrency: int) -> tuple[list[float], float, float]:
    """Latencies of ``path`` while an evaluation records; the evaluation's duration; how long a
    write transaction (what every page view used to open) waited for it."""
    import multiprocessing

    parent, child = multiprocessing.Pipe()
    proc = multiprocessing.get_context("spawn").Process(  # no SQLite connection across a fork
        target=reevaluate, args=(info["url"], root, info["findings"], child))
    proc.start()
    parent.recv()                    # "writing": the evaluation's transaction is about to begin
    stop = threading.Event()
    samples: list[float] = []
    loader = threading.Thread(target=lambda: samples.extend(
        load(port, path, headers, 10**9, concurrency, warmup=0, stop=stop)))
    loader.start()
    store = Store(info["url"])
    waits = []
    while not parent.poll():          # until the evaluation reports its duration
        t0 = time.perf_counter()
        with store.write():
            waits.append(time.perf_counter() - t0)
        time.sleep(0.05)
    store.close()
    waited = max(waits, default=0.0)
    took = parent.recv()
    proc.join()
    t0 = time.perf_counter()         # the first dashboard view after it committed (figures stale)
    load(port, "/", headers, 1, 1, warmup=0)
    after_eval = time.perf_counter() - t0
    time.sleep(3.0)                  # and the first requests after it committed (a refresh is due)
    stop.set()
    loader.join()
    return samples, took, waited, after_eval


def _post(port: int, path: str, body: dict, headers: dict) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    conn.request("POST", path, json.dumps(body), {**headers, "Content-Type": "application/json"})
    response = conn.getresponse()
    response.read()
    conn.close()
    if response.status not in (200, 201):
        raise SystemExit(f"POST {path}: {response.status}")


def dashboard_after_changes(port: int, page_headers: dict, api_headers: dict, open_ids: list[int],
                            changes: int) -> list[float]:
    """The first dashboard view after each of ``changes`` human actions (a comment, or the
    assignment of an open finding: open -> in progress), made through the API as an officer's
    script would: every action moves the event chain's head, so the cached figures are stale."""
    out = []
    for i in range(changes):
        fid = open_ids[(i * 7919) % len(open_ids)]
        if i % 2:
            _post(port, f"/api/v1/findings/{fid}/assignment", {"assignee": ASSIGNEE}, api_headers)
        else:
            _post(port, f"/api/v1/findings/{fid}/comments", {"text": f"bench change {i}"}, api_headers)
        t0 = time.perf_counter()
        load(port, "/", page_headers, 1, 1, warmup=0)
        out.append(time.perf_counter() - t0)
    return out


def posture_after_changes(store: Store, catalogue, max_id: int, changes: int) -> list[float]:
    """Baseline of the above: a comment in this process, then ``posture`` (its figures stale)."""
    from dialtone.engine.store import workflow
    from dialtone.engine.store.dashboard import posture

    audit = workflow.audit_writer(store, "bench")
    posture(store, catalogue)
    out = []
    for i in range(changes):
        workflow.comment(store, 1 + (i * 104729) % max_id, f"bench baseline {i}", OFFICER, audit)
        t0 = time.perf_counter()
        posture(store, catalogue)
        out.append(time.perf_counter() - t0)
    return out


def _ensure_assignee(url: str) -> None:
    """A kept store populated before findings took accounts only gets the account they are
    assigned to."""
    from dialtone.engine.store import Store
    from dialtone.engine.store.accounts import AccountError, add_user

    store = Store(url)
    with contextlib.suppress(AccountError):
        add_user(store, ASSIGNEE, "officer", PASSWORD)
    store.close()


def open_or_populate(root: Path, total: int, url: str | None = None) -> dict:
    marker = root / "bench.json"
    if marker.exists():
        info = json.loads(marker.read_text())
        if info["findings"] == total and (url is None or info["url"] == url):
            from dialtone.engine.store.db import make_engines, upgrade

            writer, reader = make_engines(info["url"])
            upgrade(writer)          # a kept store from before a new migration
            writer.dispose()
            reader.dispose()
            _ensure_assignee(info["url"])
            info["reused"] = True
            return info
    root.mkdir(parents=True, exist_ok=True)
    for f in root.glob("store.db*"):
        f.unlink()
    return populate(root, total, url)


# -- the server --------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(root: Path, info: dict, threads: int) -> tuple[subprocess.Popen, int]:
    config = root / "dialtone.yaml"
    config.write_text(f"sources: {{}}\ndata_dir: data\nstore:\n  url: {info['url']}\n", encoding="utf-8")
    port = _free_port()
    env = {**os.environ, "DIALTONE_SECRET_KEY": secrets.token_hex(32)}
    proc = subprocess.Popen(
        [sys.executable, "-c", "from dialtone.web.cli import main; main()", "--config", str(config),
         "serve", "--host", "127.0.0.1", "--port", str(port), "--threads", str(threads)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"dialtone serve exited: {proc.stdout.read()}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/login")
            if conn.getresponse().status == 200:
                conn.close()
                return proc, port
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("dialtone serve did not answer within 120 s")


def login(port: int) -> str:
    """An officer's session cookie, through the login form as a browser gets it."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", "/login")
    page = conn.getresponse()
    jar = SimpleCookie(page.headers.get("Set-Cookie", ""))
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.read().decode()).group(1)
    body = urlencode({"username": OFFICER, "password": PASSWORD, "csrf_token": token})
    conn.request("POST", "/login", body, {
        "Content-Type": "application/x-www-form-urlencoded",
        "Cookie": "; ".join(f"{k}={m.value}" for k, m in jar.items())})
    done = conn.getresponse()
    done.read()
    if done.status != 302:
        raise SystemExit(f"login failed: {done.status}")
    jar.load(done.headers.get("Set-Cookie", ""))
    conn.close()
    return "; ".join(f"{k}={m.value}" for k, m in jar.items())


def load(port: int, path: str, headers: dict, requests: int, concurrency: int,
         warmup: int = 3, stop: threading.Event | None = None) -> list[float]:
    """Closed loop: ``concurrency`` keep-alive connections, ``requests`` timed requests in all."""
    latencies: list[float] = []
    failures: list[str] = []
    remaining = [requests]
    lock = threading.Lock()
    start = threading.Barrier(concurrency)

    def worker() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        try:
            for _ in range(warmup):
                conn.request("GET", path, headers=headers)
                conn.getresponse().read()
            start.wait()
            while True:
                with lock:
                    if remaining[0] <= 0 or (stop is not None and stop.is_set()):
                        return
                    remaining[0] -= 1
                t0 = time.perf_counter()
                conn.request("GET", path, headers=headers)
                response = conn.getresponse()
                response.read()
                took = time.perf_counter() - t0
                with lock:
                    latencies.append(took)
                    if response.status != 200:
                        failures.append(f"{response.status}")
        finally:
            conn.close()

    workers = [threading.Thread(target=worker) for _ in range(concurrency)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    if failures:
        raise SystemExit(f"{path}: {len(failures)} responses were not 200 (e.g. {failures[0]})")
    return latencies


def pct(samples: list[float], q: float) -> float:
    """The q-th percentile (nearest rank), in milliseconds."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))] * 1000


def baseline(fn, runs: int) -> list[float]:
    fn()
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--findings", type=int, default=1_000_000)
    ap.add_argument("--requests", type=int, default=300, help="timed requests per scenario")
    ap.add_argument("--concurrency", type=int, default=4, help="keep-alive connections in parallel")
    ap.add_argument("--threads", type=int, default=8, help="waitress threads (dialtone serve --threads)")
    ap.add_argument("--changes", type=int, default=20,
                    help="human actions, each followed by one dashboard view (first view after a change)")
    ap.add_argument("--url", help="an empty PostgreSQL database to populate instead of a SQLite file "
                    "(with --keep, reused while DIR's bench.json names it)")
    ap.add_argument("--keep", type=Path, help="populate the store in DIR once and reuse it on later runs")
    ap.add_argument("--only-requests", action="store_true",
                    help="measure the request scenarios only (no dashboard-after-change or during-evaluation "
                         "phases, which write to the store)")
    args = ap.parse_args()

    from dialtone.engine.frameworks import load_catalogue
    from dialtone.engine.store import queries
    from dialtone.engine.store.dashboard import posture

    tmp = None if args.keep else tempfile.TemporaryDirectory(prefix="dialtone-web-bench-")
    root = args.keep or Path(tmp.name)
    info = open_or_populate(root, args.findings, args.url)
    store = Store(info["url"])
    with store.read() as conn:
        from sqlalchemy import text

        max_id = conn.execute(text("SELECT MAX(id) FROM findings")).scalar()
        statuses = dict(conn.execute(text("SELECT status, COUNT(*) FROM findings GROUP BY 1")).all())
        open_ids = [r[0] for r in conn.execute(text(
            "SELECT id FROM findings WHERE status = 'open' AND id % 9973 = 0 ORDER BY id"))]
        latest = conn.execute(text("SELECT MAX(id) FROM evaluations")).scalar()
        # A cursor in the middle of the due-date order (the page after it, sorted by due date).
        mid_id, mid_due = conn.execute(text(
            "SELECT id, due_on FROM findings WHERE status IN ('open', 'in_progress', 'excepted') "
            "AND due_on IS NOT NULL AND id % 1000 = 7 ORDER BY id LIMIT 1 OFFSET 300")).first() \
            or (1, "2026-01-01")
    deep = max_id - 2_000
    active = ("open", "in_progress", "excepted")
    F = queries.FindingFilter
    # (name, path, API?, the filter the view passes to list_findings, with target?)
    scenarios = [
        ("page: findings, first page", "/findings", False, F(status=active, limit=51), True),
        ("page: findings, deep page", f"/findings?after={deep}", False,
         F(status=active, limit=51, after_id=deep), True),
        ("page: findings, severity=high&status=open", "/findings?severity=high&status=open", False,
         F(status=("open",), severity=("high",), limit=51), True),
        ("page: dashboard", "/", False, None, True),
        ("api: findings, first page (limit 100)", "/api/v1/findings", True, F(limit=101), True),
        ("api: findings, severity=high&status=open", "/api/v1/findings?severity=high&status=open", True,
         F(status=("open",), severity=("high",), limit=101), True),
        ("page: severity=critical (rare, last ids)", "/findings?severity=critical", False,
         F(status=active, severity=("critical",), limit=51), False),
        ("page: framework=hipaa", "/findings?framework=hipaa", False,
         F(status=active, framework="hipaa", limit=51), False),
        ("page: deep page of severity=high", f"/findings?severity=high&after={deep // 2}", False,
         F(status=active, severity=("high",), after_id=deep // 2, limit=51), False),
        # Overdue: high and critical findings are past their due date, medium and low are not.
        ("page: category=security&overdue=1", "/findings?category=security&overdue=1", False,
         F(status=active, category=("security",), overdue=True, limit=51), True),
        ("page: overdue=1", "/findings?overdue=1", False, F(status=active, overdue=True, limit=51), True),
        ("page: overdue=1, deep page", f"/findings?overdue=1&after={deep // 2}", False,
         F(status=active, overdue=True, after_id=deep // 2, limit=51), True),
        ("page: category=cost&overdue=1 (one policy)", "/findings?category=cost&overdue=1", False,
         F(status=active, category=("cost",), overdue=True, limit=51), True),
        ("api: overdue=true (limit 100)", "/api/v1/findings?overdue=true", True,
         F(overdue=True, limit=101), True),
        # Text search (substring of the resource id or the reason), common to rare.
        ("page: q=activity (every finding)", "/findings?q=activity", False,
         F(status=active, search="activity", limit=51), True),
        ("page: q=R12- (0.5%, the last ids)", "/findings?q=R12-", False,
         F(status=active, search="R12-", limit=51), True),
        ("page: q=R5-0012345 (one finding)", "/findings?q=R5-0012345", False,
         F(status=active, search="R5-0012345", limit=51), True),
        ("page: q=zzz (no match)", "/findings?q=zzz", False, F(status=active, search="zzz", limit=51), True),
        ("page: category=cost&q=R6- (no match there)", "/findings?category=cost&q=R6-", False,
         F(status=active, category=("cost",), search="R6-", limit=51), True),
        ("api: q=R5-0012345 (limit 100)", "/api/v1/findings?q=R5-0012345", True,
         F(search="R5-0012345", limit=101), True),
        # Issue 17: sorted lists (each key; the page also counts), views, case-insensitive search.
        *[(f"page: sort={key}&dir={d}", f"/findings?sort={key}&dir={d}", False,
           F(status=active, sort=key, descending=d == "desc", limit=51), True)
          for key, d in (("due", "asc"), ("due", "desc"), ("severity", "desc"), ("severity", "asc"),
                         ("savings", "desc"), ("savings", "asc"), ("first_seen", "desc"),
                         ("first_seen", "asc"), ("policy", "asc"), ("id", "desc"))],
        (f"page: sort=due, deep page ({mid_due})", f"/findings?sort=due&after={mid_id}&after_key={mid_due}",
         False, F(status=active, sort="due", after_id=mid_id, after_key=mid_due, limit=51), True),
        ("page: severity=high&sort=savings&dir=desc", "/findings?severity=high&sort=savings&dir=desc", False,
         F(status=active, severity=("high",), sort="savings", descending=True, limit=51), True),
        ("page: new=1 (new since the last evaluation)", "/findings?new=1", False,
         F(status=active, opened_in=latest, limit=51), True),
        ("page: new=1&sort=severity&dir=desc", "/findings?new=1&sort=severity&dir=desc", False,
         F(status=active, opened_in=latest, sort="severity", descending=True, limit=51), True),
        ("page: mine=1 (carol's, ~1,000)", "/findings?assignee=CAROL@example.com", False,
         F(status=active, assignee="CAROL@example.com", limit=51), True),
        ("page: q=r5-0012345 (any case)", "/findings?q=r5-0012345", False,
         F(status=active, search="r5-0012345", limit=51), True),
        ("page: q=r12-&sort=due (sorted search)", "/findings?q=r12-&sort=due", False,
         F(status=active, search="r12-", sort="due", limit=51), True),
        ("page: policy=unencrypted (part of an id)", "/findings?policy=unencrypted", False,
         F(status=active, policy=("unencrypted",), limit=51), True),
        ("api: sort=due (limit 100)", "/api/v1/findings?sort=due", True, F(sort="due", limit=101), True),
    ]

    proc, port = start_server(root, info, args.threads)
    try:
        cookie = login(port)
        page_headers = {"Cookie": cookie}
        api_headers = {"Authorization": f"Bearer {info['token']}"}
        t0 = time.perf_counter()
        load(port, "/", page_headers, 1, 1, warmup=0)
        first_dashboard_s = time.perf_counter() - t0
        results = []
        for _name, path, is_api, _, _ in scenarios:
            results.append(load(port, path, api_headers if is_api else page_headers, args.requests,
                                args.concurrency))
        if not args.only_requests:
            after_change = dashboard_after_changes(port, page_headers, api_headers, open_ids, args.changes)
            busy, eval_s, waited_s, after_eval_s = during_evaluation(info, root, port, "/findings",
                                                                     page_headers, args.concurrency)
    finally:
        proc.terminate()
        proc.wait(timeout=30)

    catalogue = load_catalogue()
    bases = []
    for _, _, is_api, flt, _ in scenarios:
        if flt is None:
            bases.append(baseline(lambda: posture(store, catalogue), 50))
        elif is_api:
            bases.append(baseline(lambda flt=flt: queries.list_findings(store, flt), 30))
        else:   # a page lists and counts
            bases.append(baseline(lambda flt=flt: (queries.list_findings(store, flt),
                                                   queries.count_findings(store, flt)), 30))
    change_base = [] if args.only_requests else posture_after_changes(store, catalogue, max_id,
                                                                      max(3, args.changes // 2))
    store.close()

    kind = "SQLite (WAL)" if info["url"].startswith("sqlite") else "PostgreSQL"
    print(f"store: {kind}; {info['findings']:,} findings over {info['policies']} policies "
          f"({', '.join(f'{k} {v:,}' for k, v in sorted(statuses.items()))})"
          + ("; kept store reused" if info.get("reused") else f"; populated in {info['populate_s']} s"))
    print(f"server: dialtone serve (waitress, {args.threads} threads) on loopback; load: "
          f"{args.concurrency} keep-alive connections, {args.requests} timed requests per scenario; "
          f"machine: {os.cpu_count()} CPUs")
    print(f"first dashboard after start (posture computed, then cached): {first_dashboard_s * 1000:.0f} ms")
    print(f"{'scenario':<46}{'p50 ms':>8}{'p95 ms':>8}{'req/s':>7}   {'baseline p50/p95 ms':>20}  "
          f"{'p50 ratio':>9} {'p95 ratio':>9}  target p95 < {TARGET_P95_MS:.0f} ms")
    missed = 0
    for (name, _, _, _, has_target), lat, base in zip(scenarios, results, bases, strict=True):
        p50, p95 = pct(lat, 50), pct(lat, 95)
        b50, b95 = pct(base, 50), pct(base, 95)
        rate = len(lat) / sum(lat) * args.concurrency
        verdict = ("ok" if p95 < TARGET_P95_MS else "MISSED") if has_target else "(informational)"
        missed += has_target and p95 >= TARGET_P95_MS
        print(f"{name:<46}{p50:8.1f}{p95:8.1f}{rate:7.0f}   {b50:9.2f} / {b95:8.2f}  "
              f"{p50 / b50 if b50 else float('inf'):8.1f}x {p95 / b95 if b95 else float('inf'):8.1f}x  "
              f"{verdict}")
    if args.only_requests:
        if missed:
            raise SystemExit(f"{missed} target(s) missed")
        return
    rate = len(busy) / sum(busy) * args.concurrency
    print(f"{'page: findings, first page, DURING an evaluation':<46}{pct(busy, 50):8.1f}"
          f"{pct(busy, 95):8.1f}{rate:7.0f}   max {max(busy) * 1000:.0f} ms over {len(busy)} requests "
          f"(informational)")
    print(f"  the evaluation held the write lock for {eval_s:.1f} s; a write transaction begun during "
          f"it (what every page view opened before the refresh was made conditional) waited up to "
          f"{waited_s:.1f} s")
    print(f"{'page: dashboard, first view after a change':<46}{pct(after_change, 50):8.1f}"
          f"{pct(after_change, 95):8.1f}{'':>7}   {pct(change_base, 50):9.2f} / {pct(change_base, 95):8.2f}  "
          f"{pct(after_change, 50) / pct(change_base, 50):8.1f}x  max {max(after_change) * 1000:.0f} ms "
          f"over {len(after_change)} changes (a comment or an assignment through the API, then one view)"
          f"; target < 1000 ms: {'ok' if max(after_change) < 1.0 else 'MISSED'}")
    print(f"  first dashboard view after the evaluation committed: {after_eval_s * 1000:.0f} ms")
    missed += max(after_change) >= 1.0
    mean = statistics.mean(x for r in results for x in r)
    print(f"mean latency of all timed requests: {mean * 1000:.1f} ms")
    if missed:
        raise SystemExit(f"{missed} target(s) missed")
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
