"""Where communications are kept: retention_policies and channels, legal_holds, recordings."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import catalogue as cat
from .catalogue import (
    CONTACT_CENTRE,
    COUNTRIES,
    DID,
    REC_NONE,
    REC_PAYMENT,
    REC_QUALITY,
    REC_REGULATORY,
    SCOPE_SETS,
    TOLL_FREE,
    US,
)
from .common import (
    _US_PER_DAY,
    _US_PER_S,
    _bool,
    _dates,
    _ids,
    _pick,
    _stamps,
    _table,
    _tristate,
)


class Records:
    """A part of the estate builder (builder.py). Reads people, lines and calls; leaves
    ``st`` (the stores) and ``holds`` for recordings, which complete the calls table."""

    # -- retention policies and channels ----------------------------------------------------
    def stores(self) -> None:
        """Where communications are kept, per business line and regulated population.

        Regulated populations keep seven years on WORM storage with an audit trail: Purview
        for Teams, Exchange, Slack Enterprise Grid, a Smarsh or Global Relay archive for
        e-mail, chat and SMS, NICE for voice and a records vault for the books; each store
        declares the record types it holds, and those systems keep held items whatever their
        retention. Their approved channels are archived, ingested within the last hours and
        point at the store that declares their scopes and record type; consumer messaging
        apps are unapproved and nobody regulated is recorded using them."""
        sets = max(1, self.n // cat.LINES_PER_STORE_SET)
        # (system, scope, days, unlimited, action, immutable, audit, legal hold, hold precedence,
        #  region, scopes, record types)
        rows: list[tuple] = []
        store_of: dict[tuple[int, int, str], int] = {}
        channels: list[tuple] = []  # (product, app id, approved, scopes, archived, store, ingest)
        fresh = self.now_us - 2 * 3600 * _US_PER_S
        litigation = []
        for s in range(sets):
            line_name = cat.BUSINESS_LINES[s % len(cat.BUSINESS_LINES)]
            if s >= len(cat.BUSINESS_LINES):
                line_name += f" {s // len(cat.BUSINESS_LINES) + 1}"
            for p, (scope_set, label, country) in enumerate(cat.POPULATIONS):
                scopes = SCOPE_SETS[scope_set]
                regulated = cat.SCOPE_REGULATED[scope_set]
                templates = cat.REGULATED_STORES if regulated else cat.OTHER_STORES[scope_set]
                for key, system, scope, days, action, immutable, audit, precedence, types in templates:
                    store_of[s, p, key] = len(rows)
                    rows.append((system or cat.ARCHIVE_SYSTEM[country], f"{scope}: {label}, {line_name}",
                                 days, False, action, immutable, audit, False, precedence,
                                 cat.STORE_REGION[country], scopes, types))
                approved = cat.APPROVED_CHANNELS["regulated" if regulated else scope_set]
                for product, app_id, key in approved:
                    channels.append((product, app_id, True, scopes, True, store_of[s, p, key], fresh))
            litigation.append(len(rows))
            rows.append(("Microsoft Purview eDiscovery", f"Litigation hold: matter {2025 + s // 50}-"
                         f"{s % 50 + 1:03d}", None, True, "keep", True, True, True, True, "US", None,
                         None))
        # Consumer messaging apps: not approved (one never assessed), no regulated user on
        # record. The inventory cannot say "nobody" (an empty list, which the canonical CSV
        # cannot carry either), so the unapproved-channel policy counts them as undecidable.
        for product, app_id in cat.UNAPPROVED_CHANNELS:
            channels.append((product, app_id, None if product == "telegram" else False, None, False,
                             None, None))
        clean_stores = len(rows)

        rng = self.rng("stores.planted")
        planted_stores: dict[str, list[int]] = {}
        k = max(3, int(round(0.01 * clean_stores)))
        for (policy, scopes, system, scope, days, action, immutable, audit, hold, precedence,
             types) in cat.PLANTED_STORES:
            planted_stores[policy] = list(range(len(rows), len(rows) + k))
            for i in range(k):
                desk = cat.BUSINESS_LINES[int(rng.integers(0, len(cat.BUSINESS_LINES)))]
                region = "UK" if scopes and "fca" in scopes else "US"
                rows.append((system, f"{scope}: {desk} {i + 1}", days, False, action, immutable, audit,
                             hold, precedence, region, scopes, types))
        held_stores = list(planted_stores[cat.HOLD_DELETION])
        # Settings partly not exported: each undecidable for one policy, fine for the others.
        for (_, scopes, system, scope, days, action, immutable, audit, hold, precedence, types,
             named) in cat.UNREPORTED_STORES:
            if named:
                held_stores.append(len(rows))
            rows.append((system, scope, days, None if days is None else False, action, immutable,
                         audit, hold, precedence, "UK" if scopes and "fca" in scopes else "US",
                         scopes, types))

        # Channels: misconfigured copies of regulated populations' approved channels.
        regulated = np.array([i for i, c in enumerate(channels)
                              if c[2] and c[3] and cat.SCOPE_REGULATED[SCOPE_SETS.index(tuple(c[3]))]])
        product_of = np.array([c[0] for c in channels])
        scopes_of = [tuple(c[3] or ()) for c in channels]
        # A broker-dealer's or adviser's voice channel needs no capture (neither rule makes
        # the firm record calls): no such channel is planted as not archived or unlinked.
        bd_voice = np.array([product_of[i] == "voice" and set(scopes_of[i]) <= {"finra_bd", "sec_ria"}
                             for i in regulated])
        k = max(3, int(round(0.02 * len(regulated))))
        now = self.now_us
        # A store of a population that lacks one of the channel's scopes.
        narrower = {("finra_bd", "sec_ria"): 0, ("cftc", "finra_bd"): 0, ("fca", "mifid"): 3,
                    ("finra_bd",): 5, ("fca",): 5, ("mifid",): 3}
        planted_channels: dict[str, list[int]] = {}
        for policy in (cat.UNAPPROVED_CHANNEL, cat.ARCHIVE_STALE, cat.NOT_ARCHIVED,
                       cat.NO_RETENTION_POLICY, cat.SCOPE_MISMATCH):
            planted_channels[policy] = []
            candidates = regulated
            if policy in (cat.NOT_ARCHIVED, cat.NO_RETENTION_POLICY):
                candidates = regulated[~bd_voice]
            elif policy == cat.SCOPE_MISMATCH:
                candidates = regulated[product_of[regulated] != "voice"]
            for j in rng.choice(candidates, size=k, replace=len(candidates) < k):
                product, app_id, _, scopes, _, store, stamp = channels[j]
                archived = True
                if policy == cat.UNAPPROVED_CHANNEL:
                    product, app_id = cat.UNAPPROVED_CHANNELS[len(planted_channels[policy]) % 4]
                    approved, archived, store, stamp = False, False, None, None
                else:
                    approved = True
                if policy == cat.ARCHIVE_STALE:
                    stamp = now - int(rng.integers(5, 30)) * _US_PER_DAY
                elif policy == cat.NOT_ARCHIVED:
                    archived, stamp = False, None
                elif policy == cat.NO_RETENTION_POLICY:
                    store = None
                elif policy == cat.SCOPE_MISMATCH:
                    s = int(rng.integers(0, sets))
                    key = "archive" if product in ("email", "sms") else product
                    store = store_of[s, narrower[tuple(scopes)], key]
                planted_channels[policy].append(len(channels))
                channels.append((product, app_id, approved, scopes, archived, store, stamp))
        # Undecidable: an archive connector that reports no ingest time; an approved channel
        # whose capture is not reported.
        channels.append(("sms", None, True, ("fca",), True, store_of[0, 3, "archive"], None))
        channels.append(("teams", "com.microsoft.teams", True, ("mifid",), None, store_of[0, 5, "teams"],
                         fresh))

        n = len(rows)
        ids = _ids("RP-", n, 4)
        self.emit("retention_policies", _table("retention_policies", {
            "id": ids,
            "system": pa.array([r[0] for r in rows], pa.string()),
            "scope": pa.array([r[1] for r in rows], pa.string()),
            "retention_days": pa.array([r[2] for r in rows], pa.int64()),
            "retention_unlimited": pa.array([r[3] for r in rows], pa.bool_()),
            "action": pa.array([r[4] for r in rows], pa.string()),
            "immutable": pa.array([r[5] for r in rows], pa.bool_()),
            "audit_trail": pa.array([r[6] for r in rows], pa.bool_()),
            "legal_hold": pa.array([r[7] for r in rows], pa.bool_()),
            "hold_precedence": pa.array([r[8] for r in rows], pa.bool_()),
            "region": pa.array([r[9] for r in rows], pa.string()),
            "regulatory_scopes": pa.array([list(r[10]) if r[10] else None for r in rows],
                                          pa.list_(pa.string())),
            "record_types": pa.array([list(r[11]) if r[11] else None for r in rows],
                                     pa.list_(pa.string())),
        }))
        for policy, planted in planted_stores.items():
            self.record(policy, ids, np.array(planted))
        # The stores that keep recordings: (set, population, key) → row, -1 where none.
        keys = ("voice", "quality")
        store_idx = np.full((sets, len(cat.POPULATIONS), len(keys)), -1, np.int64)
        for (s, p, key), row in store_of.items():
            if key in keys:
                store_idx[s, p, keys.index(key)] = row
        self.st = SimpleNamespace(ids=ids, sets=sets, store_idx=store_idx, litigation=litigation,
                                  held=held_stores)
        channel_ids = _ids("CHN-", len(channels), 4)
        store = np.array([-1 if c[5] is None else c[5] for c in channels])
        self.emit("channels", _table("channels", {
            "id": channel_ids,
            "product": pa.array([c[0] for c in channels], pa.string()),
            "app_id": pa.array([c[1] for c in channels], pa.string()),
            "approved": pa.array([c[2] for c in channels], pa.bool_()),
            "regulatory_scopes": pa.array([None if c[3] is None else list(c[3]) for c in channels],
                                          pa.list_(pa.string())),
            "archived": pa.array([c[4] for c in channels], pa.bool_()),
            "archive_last_ingest_at": pa.array([c[6] for c in channels], pa.timestamp("us")),
            "retention_policy_id": ids.take(pa.array(np.maximum(store, 0), mask=store < 0)),
        }))
        for policy, planted in planted_channels.items():
            self.record(policy, channel_ids, np.array(planted))

    # -- legal holds --------------------------------------------------------------------------
    def legal_holds(self) -> None:
        """Holds in force and released: each litigation-hold store is a matter's hold on that
        store; a few matters hold custodians (contact-centre agents, traders, a leaver) and a
        service number, some released since; counsel's register holds a Slack workspace whose
        custom retention ignores it (planted) and Zoom recordings whose precedence is not
        reported (undecidable)."""
        rng = self.rng("legal_holds")
        ln, ppl, st = self.ln, self.ppl, self.st
        holds = []
        for k, row in enumerate(st.litigation):
            holds.append(SimpleNamespace(matter=f"{2025 + k // 50}-{k % 50 + 1:03d}", stores=[row],
                                         custodians=np.zeros(0, np.int64), lines=np.zeros(0, np.int64),
                                         start=self.today - 400 - 7 * k, release=None,
                                         system="Microsoft Purview eDiscovery"))
        holds.append(SimpleNamespace(matter="2026-HR-017", stores=st.held, custodians=np.zeros(0, np.int64),
                                     lines=np.zeros(0, np.int64), start=self.today - 150, release=None,
                                     system="Counsel's register"))
        # US matters: US agents, traders and service numbers.
        us = ln.country == US
        agents = np.unique(ln.holder[us & (ln.kind == DID) & (ln.rec_purpose == REC_QUALITY)
                                     & (ln.holder >= 0)])
        traders = np.unique(ln.holder[us & (ln.rec_purpose == REC_REGULATORY) & (ln.holder >= 0)])
        leavers = np.flatnonzero(ppl.dated_leaver & (ppl.country == US))
        service = ln.active & ((ln.kind == TOLL_FREE) | ((ln.kind == DID) & (ln.purpose == CONTACT_CENTRE)))
        numbers = np.flatnonzero(service & us) if (service & us).any() else np.flatnonzero(service)
        numbers = numbers[np.argsort(~ln.payment[numbers], kind="stable")]  # card lines first
        systems = ("Microsoft Purview eDiscovery", "Smarsh Enterprise Archive", "Global Relay Archive",
                   "Counsel's register")
        wanted = max(3, int(round(self.n / 40_000)))
        for h in range(wanted):
            custodians = np.r_[
                rng.choice(agents, size=min(len(agents), int(rng.integers(1, 4))), replace=False),
                rng.choice(traders, size=min(len(traders), int(rng.integers(0, 3))), replace=False),
                               rng.choice(leavers, size=min(len(leavers), h % 2), replace=False)]
            start = self.today - int(rng.integers(200, 700))
            release = None
            if h % 2 and start + 150 < self.today - 10:
                release = int(min(start + rng.integers(150, 300), self.today - 10))
            holds.append(SimpleNamespace(matter=f"{2024 + h % 3}-LIT-{h + 1:03d}", stores=[],
                                         custodians=np.unique(custodians),
                                         lines=np.unique(numbers[np.arange(2 * h, 2 * h + 2) % len(numbers)]),
                                         start=start, release=release,
                                         system=systems[h % len(systems)]))
        self.holds = holds

        def id_lists(ids: pa.Array, groups: list) -> pa.Array:
            flat = np.concatenate([np.asarray(g, np.int64) for g in groups] + [np.zeros(0, np.int64)])
            offsets = np.r_[0, np.cumsum([len(g) for g in groups])].astype(np.int32)
            values = pa.ListArray.from_arrays(pa.array(offsets), ids.take(pa.array(flat)))
            return pc.if_else(pa.array([len(g) > 0 for g in groups]), values,
                              pa.scalar(None, pa.list_(pa.string())))

        self.emit("legal_holds", _table("legal_holds", {
            "id": _ids("LH-", len(holds), 4),
            "matter": pa.array([h.matter for h in holds], pa.string()),
            "custodians": id_lists(self.person_ids, [h.custodians for h in holds]),
            "stores": id_lists(st.ids, [h.stores for h in holds]),
            "lines": id_lists(self.line_ids, [h.lines for h in holds]),
            "started_on": _dates(np.array([h.start for h in holds])),
            "released_on": _dates(np.array([h.release or 0 for h in holds]),
                                  null=np.array([h.release is None for h in holds])),
            "system": pa.array([h.system for h in holds], pa.string()),
        }))

    # -- recordings (and the calls that point at them) --------------------------------------
    def recordings(self) -> None:
        """Recordings of the traders' calls (kept seven years for their recording duty), and
        of the contact centre's (payments kept 90 days, quality samples a year), each in its
        store. A recording due for deletion while a legal hold covers it (its line, or its
        line's holder as custodian) is kept: to the release, or still, flagged as held."""
        rng = self.rng("recordings")
        ln, cl, st, ppl = self.ln, self.cl, self.st, self.ppl
        purpose = ln.rec_purpose[cl.line]
        keep = cl.answered & (purpose != REC_NONE)
        # Which lines any hold names, through the line or its holder (whatever the dates).
        custodians = np.zeros(ppl.n + 1, bool)
        named_line = np.zeros(ln.n, bool)
        for h in self.holds:
            custodians[h.custodians] = True
            named_line[h.lines] = True
        named_line |= custodians[ln.holder]  # holder -1 reads the spare last slot: False
        # Planted overdue quality recordings are drawn from every old quality call of an EEA or
        # UK line nobody holds, sampled or not, so that small estates still have enough of them.
        old_quality = (keep & (purpose == REC_QUALITY) & (cl.start < (self.today - 400) * _US_PER_DAY)
                       & (ln.country[cl.line] != US) & ~named_line[cl.line])
        overdue = self.plant(self.rng("recordings.overdue"), np.flatnonzero(old_quality), 0.012,
                             cat.QUALITY_OVERDUE)
        # Quality monitoring samples calls; regulation, payments and the health helpline
        # record every one.
        keep &= (purpose != REC_QUALITY) | ln.phi[cl.line] | (rng.random(cl.n) < 0.3)
        keep[overdue] = True
        call = np.flatnonzero(keep)
        del keep, old_quality
        n = len(call)
        ids = _ids("REC-", n)
        # What the recordings need of their calls; then the calls table is complete and goes.
        purpose = purpose[call]
        rec_line, started, call_ids = cl.line[call], cl.start[call], self.call_ids.take(pa.array(call))
        src_c, src_r, dst_c, dst_r = cl.src_c[call], cl.src_r[call], cl.dst_c[call], cl.dst_r[call]
        del cl
        self._calls_table(call, ids)
        holder = ln.holder[rec_line]
        started_day = started // _US_PER_DAY
        age = self.today - started_day
        regulatory = purpose == REC_REGULATORY
        retention = np.select([regulatory, purpose == REC_QUALITY],
                              [cat.RETENTION_DAYS[REC_REGULATORY], cat.RETENTION_DAYS[REC_QUALITY]],
                              cat.RETENTION_DAYS[REC_PAYMENT])
        # The store: the population's voice store for a trader, the contact centre's payment or
        # quality store, the benefits helpline's own.
        pop_of = np.full(len(SCOPE_SETS), 6, np.int64)
        for p, (scope_set, _, _) in enumerate(cat.POPULATIONS):
            pop_of[scope_set] = p
        s = rec_line % st.sets
        pop = np.select([regulatory, ln.helpline[rec_line]],
                        [pop_of[ppl.scopes[ln.keeper[rec_line]]], pop_of[SCOPE_SETS.index(("hipaa",))]],
                        pop_of[SCOPE_SETS.index(("pci",))])
        store = st.store_idx[s, pop, np.where(regulatory | (purpose == REC_PAYMENT), 0, 1)]
        retain_until = started_day + retention
        retain_null = (purpose == REC_QUALITY) & (rng.random(n) < 0.3)  # the store's period applies
        duty = cat.SCOPE_VOICE_DUTY[ppl.scopes[ln.keeper[rec_line]]]

        # Deletion at the end of the period, unless a hold covering the recording is in force
        # that day: then at the hold's release (or not yet).
        due = started + retention * _US_PER_DAY + rng.integers(0, 3600, n) * _US_PER_S
        deletable = ~regulatory
        deleted_at = due.copy()
        blocked = np.zeros(n, bool)
        in_force = np.zeros(n, bool)
        due_in_hold = np.zeros(n, bool)
        covers = []
        for h in self.holds:
            cover = np.isin(rec_line, h.lines) | np.isin(holder, h.custodians)
            if h.release is None:
                in_force |= cover & (h.start <= self.today)
            day = due // _US_PER_DAY
            due_in_hold |= cover & (day >= h.start) & (day < (h.release or self.today + 99_999))
            covers.append((h, cover))
        for _ in range(4):
            moved = False
            for h, cover in covers:
                day = deleted_at // _US_PER_DAY
                until = h.release or self.today + 99_999
                hit = cover & deletable & ~blocked & (day >= h.start) & (day < until)
                if not hit.any():
                    continue
                moved = True
                if h.release is None:
                    blocked |= hit
                else:
                    deleted_at[hit] = (h.release * _US_PER_DAY
                                       + rng.integers(0, 5 * 86_400, hit.sum()) * _US_PER_S)
            if not moved:
                break
        deleted = deletable & ~blocked & (deleted_at <= self.now_us)
        hold_flag = in_force & ~deleted
        redacted = np.full(n, -1, np.int64)
        paused = np.full(n, -1, np.int64)
        card = ln.payment[rec_line] | (purpose == REC_PAYMENT)
        pause = rng.random(n) < 0.6
        paused[card & pause] = 1
        redacted[card & ~pause] = 1
        encrypted = np.ones(n, np.int64)
        consent = np.ones(n, np.int64)
        country = ln.country[rec_line]
        home = np.array([0, 1, 2, 3, 4])[country]
        abroad = (country != US) & (rng.random(n) < 0.08)  # EU data kept in the US: needs SCCs
        region = np.where(abroad, 0, home)
        mechanism = abroad.copy()
        # Where each party is: a region counts when it is a US state; a party is placed when its
        # state, or a country outside the US, is known.
        listed_states = np.array([cat.US_STATES.index(x) for x in cat.ALL_PARTY_STATES if x in cat.US_STATES])
        listed = (np.isin(src_r, listed_states) | np.isin(dst_r, listed_states))
        placed = (((src_r >= 0) | ((src_c >= 0) & (src_c != US)))
                  & ((dst_r >= 0) | ((dst_c >= 0) & (dst_c != US))))
        # A few desks skip the announcement on calls whose parties are all in one-party states.
        consent[~listed & placed & (dst_c == US) & (rng.random(n) < 0.01)] = 0

        rng = self.rng("recordings.planted")
        rng_u = self.rng("recordings.undecidable")
        taken = np.zeros(n, bool)
        rows = np.searchsorted(call, overdue)
        deleted[rows] = False
        hold_flag[rows] = False
        taken[rows] = True
        self.record(cat.QUALITY_OVERDUE, ids, rows)

        def plant(mask: np.ndarray, share: float, policy: str) -> np.ndarray:
            rows = self.plant(rng, np.flatnonzero(mask & ~taken), share, policy)
            taken[rows] = True
            if policy != cat.ALL_PARTY:
                self.record(policy, ids, rows)
            return rows

        def some(mask: np.ndarray, share: float) -> np.ndarray:
            rows = self.some(rng_u, np.flatnonzero(mask & ~taken), share)
            taken[rows] = True
            return rows

        unnamed = ~named_line[rec_line]
        # The purge ran although a hold covered the recording that day.
        rows = plant(deletable & due_in_hold & (due <= self.now_us), 0.01, cat.HOLD_DELETED)
        deleted[rows] = True
        deleted_at[rows] = due[rows]
        hold_flag[rows] = True
        rows = plant(regulatory & unnamed, 0.03, cat.REG_RETENTION)
        share = rng.uniform(0.2, 0.8, len(rows))
        retain_until[rows] = started_day[rows] + (share * duty[rows]).astype(np.int64)
        rows = plant(regulatory & unnamed & (age >= 200), 0.01, cat.REG_DELETED_EARLY)
        deleted[rows] = True
        kept = rng.integers(30, np.minimum(duty[rows], age[rows]) - 30)
        deleted_at[rows] = started[rows] + kept * _US_PER_DAY + rng.integers(0, 86_400, len(rows)) * _US_PER_S
        # A deleted recording no longer holds card data: the planted ones are still kept.
        rows = plant(purpose == REC_PAYMENT, 0.03, cat.PAYMENT_UNREDACTED)
        deleted[rows] = False
        hold_flag[rows] = in_force[rows]
        mode = np.arange(len(rows)) % 2
        redacted[rows] = np.where(mode == 0, 0, -1)
        paused[rows] = np.where(mode == 0, -1, 0)
        rows = plant(ln.phi[rec_line] & ~deleted, 0.03, cat.PHI_UNENCRYPTED)
        encrypted[rows] = 0
        rows = plant(~deleted & (country != US) & ~abroad, 0.01, cat.OUTSIDE_EEA)
        region[rows] = 0
        rows = plant(listed, 0.02, cat.ALL_PARTY)
        consent[rows] = 0
        self.record(cat.ALL_PARTY, call_ids, rows)

        # Undecidable, never found: a legacy recorder's trader calls with no retention date or
        # store; card-line recordings whose redaction and pausing are not reported; PHI
        # recordings whose encryption is not; EEA recordings whose storage is not; calls with a
        # party in an all-party state whose announcement is not; deleted recordings stamped as
        # held that no hold covers (tombstones of records deleted before a hold).
        legacy = some(regulatory & unnamed, 0.005)
        retain_null[legacy] = True
        store[legacy] = -1
        rows = some(card & ~deleted, 0.01)
        redacted[rows] = paused[rows] = -1
        encrypted[some(ln.phi[rec_line] & ~deleted, 0.01)] = -1
        storage_unknown = np.zeros(n, bool)
        storage_unknown[some(~deleted & (country != US) & ~abroad, 0.002)] = True
        consent[some(listed, 0.005)] = -1
        hold_flag[some(deleted & unnamed, 0.005)] = True
        # One contact-centre recorder tags nothing: its quality recordings are untagged.
        untagged = (purpose == REC_QUALITY) & (country == COUNTRIES.index("FR"))

        self.emit("recordings", _table("recordings", {
            "id": ids,
            "call_id": call_ids,
            "line_id": self.line_ids.take(pa.array(rec_line)),
            "store_id": st.ids.take(pa.array(np.maximum(store, 0), mask=store < 0)),
            "purpose": _pick(cat.REC_PURPOSES[1:], purpose - 1, null=untagged),
            "record_type": _pick((cat.VOICE_REC,), np.zeros(n, np.int64)),
            "started_at": _stamps(started),
            "retain_until": _dates(retain_until, null=retain_null),
            "deleted_at": _stamps(deleted_at, null=~deleted),
            "storage_region": _pick([s[0] for s in cat.STORAGE], region, null=storage_unknown),
            "storage_country": _pick([s[1] for s in cat.STORAGE], region, null=storage_unknown),
            "transfer_mechanism": _pick(("scc",), np.zeros(n, np.int64), null=~mechanism),
            "encrypted": _tristate(encrypted),
            "payment_data_redacted": _tristate(redacted),
            "payment_capture_paused": _tristate(paused),
            "consent_announced": _tristate(consent),
            "legal_hold": _bool(hold_flag),
        }))

    def _calls_table(self, call: np.ndarray, recording_ids: pa.Array) -> None:
        """Complete the calls table with each call's recording (``call``: the recorded calls,
        in recording order), hand it on and drop the calls' columns: the recordings go on with
        their own, so five calls per line are not held beside them."""
        recording = np.full(self.cl.n, -1, np.int64)
        recording[call] = np.arange(len(call))
        # The traders' lines whose inventory says nothing of recording are on a platform whose
        # call records say nothing of it either: an explicitly unrecorded call would decide them.
        silent = (self.ln.recorded[self.cl.line] < 0) & (recording < 0)
        calls = _table("calls", {
            **self.call_columns,
            "recorded": _bool(recording >= 0, null=silent),
            "recording_id": recording_ids.take(pa.array(np.maximum(recording, 0), mask=recording < 0)),
        })
        del self.call_columns, self.cl, self.call_ids, recording
        self.emit("calls", calls)
