"""lines: kinds, purposes, holders and custodians, and the lines planted to break one rule each."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import catalogue as cat
from .catalogue import (
    ACTIVE,
    ALARM,
    CIRCUIT,
    CONTACT_CENTRE,
    COUNTRIES,
    CURRENCIES,
    DATA,
    DEPT,
    DID,
    DID_BLOCK,
    EMERGENCY,
    FAX,
    HOTSPOT,
    IOT,
    LANDLINE,
    LEAVE,
    LIFE_SAFETY,
    LIFT,
    LINE_KINDS,
    M2M,
    MARKETS,
    MOBILE,
    PAYMENT_TERMINAL,
    PFAX,
    PLANS,
    REC_NONE,
    REC_PAYMENT,
    REC_QUALITY,
    REC_REGULATORY,
    SHARED,
    SIP,
    STANDBY,
    TERMINATED,
    TOLL_FREE,
    TRUNK,
    US,
    VOICE,
)
from .common import (
    INVOICE_MONTHS,
    EstateTooSmall,
    _bool,
    _dates,
    _distinct,
    _exact,
    _ids,
    _join,
    _lists,
    _num,
    _pick,
    _rank_in_groups,
    _table,
    _text,
    _tristate,
)


class Lines:
    """A part of the estate builder (builder.py). Reads people, locations, accounts and
    rates; leaves ``ln`` and ``line_ids`` for every later group, and the spend spikes
    (``spikes``, ``donors``) for billing."""

    # -- lines ------------------------------------------------------------------------------
    def _recurring_by_account(self, account: np.ndarray, plan: np.ndarray, status: np.ndarray,
                              cancelled_on: np.ndarray, activated: np.ndarray) -> np.ndarray:
        """Recurring charges per invoiced month and account: (months, accounts)."""
        contract = self.acct.contract[account]
        out = np.zeros((INVOICE_MONTHS, self.acct.n))
        for m in range(INVOICE_MONTHS):
            billed = (activated <= self.inv_last[m]) & ((status != 2) | (cancelled_on >= self.inv_first[m]))
            rate = np.where(self.inv_first[m] >= self.rates.change[contract],
                            self.rates.new[contract, plan], self.rates.old[contract, plan])
            out[m] = np.bincount(account[billed], weights=rate[billed], minlength=self.acct.n)
        return out

    def _keepers(self, rng: np.random.Generator, kind: np.ndarray, purpose: np.ndarray,
                 status: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Who keeps each line: (person row, no holder on record). A person's line (voice, data,
        hotspot) has its user; every other line a custodian of the department that keeps it, or
        a call queue for service numbers; some machine, trunk, fax and life-safety lines name
        no holder, only the cost centre that pays."""
        n, ppl = self.n, self.ppl
        active = status == 0
        keeper = np.full(n, -1, np.int64)
        personal = (((kind == MOBILE) & np.isin(purpose, (-1, VOICE, DATA, HOTSPOT)))
                    | (np.isin(kind, (LANDLINE, DID)) & (purpose == VOICE)))
        custodian = {
            "IT": (np.isin(kind, (SIP, CIRCUIT)) | ((kind == IOT) & ~np.isin(purpose, (ALARM, LIFT)))
                   | ((kind == MOBILE) & (purpose == SHARED)) | ((kind == DID) & (purpose == DID_BLOCK))),
            "Facilities": (((kind == IOT) & np.isin(purpose, (ALARM, LIFT)))
                           | ((kind == LANDLINE) & np.isin(purpose, (ALARM, LIFT, EMERGENCY, SHARED)))),
            "Finance": (kind == FAX) | ((kind == LANDLINE) & np.isin(purpose, (PFAX, PAYMENT_TERMINAL))),
            "Operations": ((kind == LANDLINE) & (purpose == -1)) | ((kind == DID) & (purpose == SHARED)),
        }
        for d, mask in custodian.items():
            rows = np.flatnonzero(mask)
            pool = np.flatnonzero(ppl.alive & (ppl.dept == DEPT[d]))
            keeper[rows] = pool[rng.integers(0, len(pool), len(rows))]
        # Lift and emergency phones in US buildings are looked after by US facilities staff.
        rows = np.flatnonzero((kind == LANDLINE) & np.isin(purpose, (LIFT, EMERGENCY)))
        us_fac = np.flatnonzero(ppl.alive & (ppl.dept == DEPT["Facilities"]) & (ppl.country == US)
                                & ~ppl.branch)
        rows = rows[:max(4, len(rows) // 3)]
        keeper[rows] = us_fac[rng.integers(0, len(us_fac), len(rows))]
        # Service numbers belong to call queues; most toll-free numbers are American.
        queues = np.flatnonzero(ppl.kind == cat.RESOURCE_ACCOUNT)
        us_queues = queues[ppl.country[queues] == US]
        rows = np.flatnonzero((kind == TOLL_FREE) | ((kind == DID) & (purpose == CONTACT_CENTRE)))
        keeper[rows] = queues[np.arange(len(rows)) % len(queues)]
        rows = np.flatnonzero(kind == TOLL_FREE)
        rows = rows[:int(np.ceil(0.6 * len(rows)))]
        keeper[rows] = us_queues[np.arange(len(rows)) % len(us_queues)]
        unassigned = (np.isin(purpose, (TRUNK, DID_BLOCK, M2M, PAYMENT_TERMINAL, PFAX, STANDBY) + LIFE_SAFETY)
                      & (rng.random(n) < 0.4))

        # People hold at most one active line per kind and class. Every trader has a turret (a
        # DID or a desk line), MiFID/FCA desks first, and a company mobile.
        live = personal & active
        desk = live & np.isin(kind, (LANDLINE, DID))
        traders = np.flatnonzero(ppl.alive & (ppl.dept == DEPT["Trading"]))
        traders = traders[np.argsort(~ppl.mifid[traders], kind="stable")]
        turrets = rng.permutation(np.flatnonzero(desk))[:len(traders)]
        keeper[turrets] = traders[:len(turrets)]
        is_turret = np.zeros(n, bool)
        is_turret[turrets] = True
        no_turret = ppl.alive.copy()
        no_turret[traders[:len(turrets)]] = False
        voice_class = np.isin(purpose, (-1, VOICE))
        rows = rng.permutation(np.flatnonzero(live & (kind == MOBILE) & voice_class))
        keeper[rows[:len(traders)]] = traders[:len(rows)]
        others = ppl.alive.copy()
        others[traders] = False
        for held, holders in ((rows[len(traders):], others),
                              (np.flatnonzero(live & (kind == MOBILE) & (purpose == DATA)), ppl.alive),
                              (np.flatnonzero(live & (kind == MOBILE) & (purpose == HOTSPOT)), ppl.alive),
                              (np.flatnonzero(desk & ~is_turret & (kind == DID)), no_turret),
                              (np.flatnonzero(desk & ~is_turret & (kind == LANDLINE)), no_turret)):
            keeper[held] = _distinct(rng, np.flatnonzero(holders), len(held), "lines")
        # Suspended: a lost phone until it is replaced, or a line kept while its holder is on
        # leave. Cancelled lines mostly belonged to people who left.
        rows = np.flatnonzero(personal & (status == 1))
        on_leave = np.flatnonzero(ppl.person & (ppl.status == LEAVE))
        live_pool = np.flatnonzero(ppl.alive)
        leave = rng.random(len(rows)) < 0.2
        keeper[rows] = np.where(leave, on_leave[rng.integers(0, len(on_leave), len(rows))],
                                live_pool[rng.integers(0, len(live_pool), len(rows))])
        rows = np.flatnonzero(personal & (status == 2))
        w = np.where(ppl.status == TERMINATED, 8.0, 1.0) * ppl.person
        keeper[rows] = rng.choice(ppl.n, size=len(rows), p=w / w.sum())
        return keeper, unassigned & ~personal

    def lines(self) -> None:
        rng = self.rng("lines")
        n, ppl = self.n, self.ppl
        kind = _exact(rng, n, cat.KIND_P, minimum=cat.KIND_MIN)
        status = np.empty(n, np.int64)
        purpose = np.full(n, -1, np.int64)
        for k in range(len(LINE_KINDS)):
            rows = np.flatnonzero(kind == k)
            status[rows] = _exact(rng, len(rows), cat.LINE_STATUS_P)
            choices, probs = cat.KIND_PURPOSES[k]
            purpose[rows] = np.array(choices)[_exact(rng, len(rows), probs,
                                                     minimum=cat.KIND_PURPOSE_MIN.get(k))]
        life_safety = np.isin(purpose, LIFE_SAFETY)
        status[life_safety & (status == 1)] = 0  # lift and alarm lines are never suspended
        active = status == 0
        keeper, unassigned = self._keepers(rng, kind, purpose, status)
        personal = (((kind == MOBILE) & np.isin(purpose, (-1, VOICE, DATA, HOTSPOT)))
                    | (np.isin(kind, (LANDLINE, DID)) & (purpose == VOICE)))
        voice_class = np.isin(purpose, (-1, VOICE))

        activated = self.today - rng.integers(400, 3650, n)
        cancelled_on = self.today - rng.integers(5, 390, n)
        on_leave = ppl.status[keeper] == LEAVE
        suspended_for = np.where(on_leave & personal, rng.integers(100, 400, n), rng.integers(5, 86, n))
        status_since = np.select([status == 0, status == 1], [activated, self.today - suspended_for],
                                 cancelled_on)
        plan = np.empty(n, np.int64)
        for k in range(len(LINE_KINDS)):
            ps = [i for i, p in enumerate(PLANS) if p[0] == k]
            if k == IOT:  # IoT plans follow the purpose: meters, alarm panels, standby SIMs
                for i in ps:
                    plan[(kind == IOT) & np.isin(purpose, PLANS[i][6])] = i
                continue
            rows = np.flatnonzero(kind == k)
            plan[rows] = np.array(ps)[_exact(rng, len(rows), [PLANS[i][4] for i in ps])]
        allowance = cat.PLAN_ALLOWANCE[plan]
        feature_combos = [None] + [c for k in sorted(cat.FEATURES) for c, _ in cat.FEATURES[k]]
        features = np.zeros(n, np.int64)
        offset = 1
        for k in sorted(cat.FEATURES):
            rows = np.flatnonzero(kind == k)
            probs = [p for _, p in cat.FEATURES[k]]
            features[rows] = offset + _exact(rng, len(rows), probs)
            offset += len(probs)
        # Hotspot and data SIMs roam too; voice-only extras stay on phones.
        intl = np.array([bool(c) and "intl_roaming" in c for c in feature_combos])[features]
        # Contact centre: toll-free numbers take card payments or run the benefits helpline.
        tf = rng.permutation(np.flatnonzero(kind == TOLL_FREE))
        n_pay = max(1, int(np.ceil(0.3 * len(tf))))
        payment = np.zeros(n, bool)
        payment[tf[:n_pay]] = True
        helpline = np.zeros(n, bool)
        helpline[tf[n_pay:n_pay + max(1, int(np.ceil(0.2 * len(tf))))]] = True
        payment |= purpose == PAYMENT_TERMINAL
        tls = np.where(kind == SIP, 1, -1)
        srtp = np.where(kind == SIP, 1, -1)

        # -- planted violations: each line breaks exactly one rule --------------------------
        rng_p = self.rng("lines.planted")
        rng_u = self.rng("lines.undecidable")
        ids = _ids("L-", n)
        taken = np.zeros(n, bool)

        def pool(mask: np.ndarray) -> np.ndarray:
            return np.flatnonzero(mask & ~taken)

        def plant(mask: np.ndarray, share: float, policy: str) -> np.ndarray:
            rows = self.plant(rng_p, pool(mask), share, policy)
            taken[rows] = True
            self.record(policy, ids, rows)
            return rows

        def some(mask: np.ndarray, share: float) -> np.ndarray:
            rows = self.some(rng_u, pool(mask), share)
            taken[rows] = True
            return rows

        rows = plant(active & (kind == SIP), 0.05, cat.SIP_UNENCRYPTED)
        mode = np.arange(len(rows)) % 3
        tls[rows[mode != 1]] = 0
        srtp[rows[mode != 0]] = 0
        # The SBC of a few trunks reports TLS but not SRTP: undecidable.
        srtp[some(active & (kind == SIP), 0.05)] = -1

        # Assignments first: everything else about a line follows its holder.
        trader = ppl.dept[keeper] == DEPT["Trading"]
        # Leavers whose account was disabled without a termination date still hold a phone.
        no_date = np.flatnonzero(ppl.no_date)
        rows = pool(active & (kind == MOBILE) & (purpose == VOICE) & ~trader)
        rows = rng_u.choice(rows, size=min(len(no_date), len(rows)), replace=False)
        keeper[rows] = no_date[:len(rows)]
        taken[rows] = True
        rows = plant(active & personal & (kind == MOBILE), 0.02, cat.LEAVER)
        keeper[rows] = _distinct(rng_p, np.flatnonzero(ppl.dated_leaver), len(rows), "leavers")
        leaver_line = np.zeros(n, bool)
        leaver_line[rows] = True
        # Orphans: a person's line with no holder or one HR does not know; any line with no
        # cost centre (not a life-safety line, which has its own policy).
        rows = plant(active & personal, 0.01, cat.ORPHAN)
        assignee_null = np.zeros(n, bool)
        ghost = np.zeros(n, bool)
        assignee_null[rows[::2]] = True
        ghost[rows[1::2]] = True
        cost_center_null = np.zeros(n, bool)
        cost_center_null[plant(active & ~life_safety, 0.005, cat.ORPHAN)] = True
        has_person = ~assignee_null & ~ghost & ~unassigned
        # A second mobile voice line for someone who already has one, activated later.
        mobile_voice = active & (kind == MOBILE) & (purpose == VOICE) & has_person & (keeper >= 0)
        rows = plant(mobile_voice, 0.02, cat.MULTIPLE_LINES)
        firsts = _distinct(rng_p, pool(mobile_voice), len(rows), "second lines")
        taken[firsts] = True
        keeper[rows] = keeper[firsts]
        activated[rows] = np.minimum(activated[firsts] + rng_p.integers(30, 300, len(rows)),
                                     self.today - 200)
        status_since[rows] = activated[rows]

        country = ppl.country[keeper]
        market = np.empty(n, np.int64)
        for c, name in enumerate(COUNTRIES):
            rows = np.flatnonzero(country == c)
            ms = np.array([i for i, (_, mc) in enumerate(MARKETS) if mc == name])
            market[rows] = ms[_exact(rng, len(rows), [cat.MARKET_WEIGHT[i] for i in ms])]
        # Accounts take their market's lines in turn, so none is empty.
        account = self.acct.start[market] + _rank_in_groups(market) % self.acct.count[market]
        prev_account = account.copy()

        # Spend spikes: some lines moved between two accounts of a market in the latest
        # month; the receiving account's invoice jumps, the giving one's falls.
        rng_m = self.rng("lines.moves")
        recurring = self._recurring_by_account(account, plan, status, cancelled_on, activated)
        baseline = recurring[:-1].mean(axis=0)
        busy = np.zeros(self.acct.n, bool)
        by_account = np.argsort(account, kind="stable")
        first_line = np.searchsorted(account[by_account], np.arange(self.acct.n + 1))
        spikes, donors = [], []
        wanted = max(3, int(round(0.03 * self.acct.n)))
        for b in rng_m.permutation(self.acct.n):
            if len(spikes) == wanted:
                break
            if busy[b] or baseline[b] <= 0:
                continue
            same = np.flatnonzero((self.acct.market == self.acct.market[b]) & ~busy)
            same = same[same != b]
            if not len(same):
                continue
            a = same[np.argmax(recurring[-1, same])]
            given = by_account[first_line[a]:first_line[a + 1]]
            given = rng_m.permutation(given[active[given]])
            cost = np.cumsum(self.rates.new[self.acct.contract[b], plan[given]])
            need = 1.75 * baseline[b] - recurring[-1, b]
            if not len(cost) or cost[-1] < need:
                continue
            moved = given[:np.searchsorted(cost, need) + 1]
            account[moved] = b
            busy[[a, b]] = True
            spikes.append(b)
            donors.append(a)
        if len(spikes) < 3:
            raise EstateTooSmall("estate too small to plant spend spikes; generate more lines")
        self.spikes, self.donors = np.sort(spikes), np.array(donors)
        contract = self.acct.contract[account]
        monthly_cost = self.rates.new[contract, plan]

        # E911: fixed lines are registered at their keeper's office.
        fixed = np.isin(kind, (LANDLINE, DID, SIP, CIRCUIT, FAX))
        office = ppl.office[keeper]
        e911 = np.where(fixed, office, -1)
        us = country == US

        def unlocate(rows: np.ndarray) -> None:
            mode = np.arange(len(rows)) % 3
            e911[rows[mode == 0]] = -1
            e911[rows[mode == 1]] = rng_p.choice(self.loc.not_validated_us, (mode == 1).sum())
            e911[rows[mode == 2]] = rng_p.choice(self.loc.not_dispatchable_us, (mode == 2).sum())

        # Stations only: a DID block or a service number is no station, and a trunk without a
        # location of its own is undecidable (its calls carry their stations' locations).
        e911_scope = (active & np.isin(kind, (LANDLINE, DID)) & us
                      & np.isin(purpose, (-1, VOICE, SHARED)))
        unlocate(plant(e911_scope, 0.04, cat.E911))

        # Life-safety lines: a suspended one (some with no custodian left either), a US lift or
        # emergency landline with no valid location, an IoT alarm or lift line cancelled while
        # its communicator still runs. Never long enough suspended for the cost pack.
        ls_located = active & (kind == LANDLINE) & np.isin(purpose, (LIFT, EMERGENCY)) & us
        ls_device_pool = active & (kind == IOT) & life_safety
        unlocated = self.some(rng_p, pool(ls_located), 0.05, keep=1)
        taken[unlocated] = True
        ls_device = np.zeros(n, bool)
        ls_device[self.some(rng_p, pool(ls_device_pool), 0.03, keep=1)] = True
        taken[ls_device] = True
        left = pool(active & life_safety)
        k = max(3 - len(unlocated) - int(ls_device.sum()), int(round(0.03 * len(left))), 1)
        if len(left) < k + 2:
            raise EstateTooSmall("estate too small to plant violations of "
                             f"{cat.LIFE_SAFETY_POLICY}; generate more lines")
        suspended = np.sort(rng_p.choice(left, size=k, replace=False))
        taken[suspended] = True
        status[suspended] = 1
        status_since[suspended] = self.today - rng_p.integers(5, 80, k)
        unassigned[suspended[::3]] = True
        has_person[suspended[::3]] = False
        cost_center_null[suspended[::3]] = True
        unlocate(unlocated)
        rows = np.flatnonzero(ls_device)
        status[rows] = 2
        cancelled_on[rows] = self.today - rng_p.integers(20, 200, len(rows))
        status_since[rows] = cancelled_on[rows]
        self.record(cat.LIFE_SAFETY_POLICY, ids, np.r_[unlocated, rows, suspended])
        # One US lift phone sits at a branch office whose location is not fully reported.
        rows = some(ls_located, 0.01)
        e911[rows] = self.loc.branch[0]
        active = status == 0
        # Some lift and alarm lines are paid by building services, a cost centre nobody
        # carries: orphan-lines cannot tell it from a typo, so it cannot decide.
        building = some(life_safety & unassigned & active, 0.3)

        # Recorded: every voice line of a trader, and the contact centre lines.
        dept_of = ppl.dept[keeper]
        phone = np.isin(kind, (MOBILE, LANDLINE, DID))
        trader_line = has_person & (dept_of == DEPT["Trading"]) & phone & voice_class
        cs_did = (kind == DID) & (purpose == VOICE) & has_person & (dept_of == DEPT["Customer Service"])
        payment |= cs_did & (rng.random(n) < 0.2)
        contact = (kind == TOLL_FREE) | cs_did | ((kind == DID) & (purpose == CONTACT_CENTRE))
        recorded = np.where(trader_line | contact, 1, 0)
        phi = helpline | (has_person & ppl.hipaa[keeper] & phone)
        in_person_scope = active & has_person & phone & voice_class & ppl.person[keeper]
        recorded[plant(in_person_scope & ppl.mifid[keeper], 0.05, cat.MIFID)] = 0
        recorded[plant(in_person_scope & ppl.cftc[keeper], 0.05, cat.CFTC)] = 0
        # The inventory says nothing of a few traders' lines, nothing was recorded on them and
        # their call records say nothing of recording (records.py): undecidable, not a finding.
        unknown = some(in_person_scope & (ppl.mifid[keeper] | ppl.cftc[keeper]), 0.01)
        recorded[unknown] = -1
        rec_purpose = np.where(trader_line & (recorded == 1), REC_REGULATORY, REC_NONE)
        rec_purpose = np.where(contact, np.where(payment & (kind == TOLL_FREE), REC_PAYMENT, REC_QUALITY),
                               rec_purpose)

        # Usage-shaped violations; usage() draws the months to match.
        judged = active & np.isin(kind, (MOBILE, IOT)) & np.isin(purpose, (-1, VOICE, DATA, HOTSPOT, SHARED))
        mobile = active & (kind == MOBILE)
        marks = {}
        for name, mask, share, policy in (
                ("idle", judged & np.isnan(allowance) & ~intl, 0.02, cat.ZERO_USAGE),
                ("intl_unused", mobile & intl, 0.04, cat.INTL_UNUSED),
                ("roaming", mobile & ~intl, 0.01, cat.ROAMING),
                ("over_provisioned", active & (allowance > 0) & ~life_safety, 0.02, cat.OVER_PROVISIONED),
                ("overage", mobile & (allowance > 0), 0.02, cat.OVERAGE),
                ("no_device", mobile & has_person & np.isin(purpose, (-1, VOICE, DATA, SHARED)), 0.01,
                 cat.NO_MANAGED_DEVICE)):
            marks[name] = np.zeros(n, bool)
            marks[name][plant(mask, share, policy)] = True
        # The one overlap planted on purpose: a leaver's phone nobody has used since, found by
        # leaver-lines and zero-usage-lines alike, whose saving is one line's cost, counted once.
        both = np.flatnonzero(leaver_line & judged & np.isnan(allowance) & ~intl & ~marks["idle"])[:1]
        if not len(both):
            raise EstateTooSmall("estate too small to plant an idle leaver's line; generate more lines")
        marks["idle"][both] = True
        self.record(cat.ZERO_USAGE, ids, both)
        # An idle line whose holder is on leave is silent by design, a lawful exception: kept
        # silent, but no longer a planted violation.
        self.unrecord(cat.ZERO_USAGE, ids,
                      np.flatnonzero(marks["idle"] & has_person & (ppl.status[keeper] == LEAVE)))
        # Undecidable, never found: a silent phone whose carrier file misses a month of the
        # window; a phone with no device of its own whose holder has a Wi-Fi tablet (the SIM
        # may be in it).
        for name, mask in (("silent_gap", judged & (kind == MOBILE) & (purpose == VOICE)
                            & np.isnan(allowance) & ~intl),
                           # never a holder of a planted line without a device: that holder
                           # must have no tablet, or their line would be undecidable too
                           ("no_device_tablet", mobile & has_person & (purpose == VOICE)
                            & ~np.isin(keeper, keeper[marks["no_device"] & has_person]))):
            marks[name] = np.zeros(n, bool)
            marks[name][some(mask, 0.002)] = True
        holder_on_leave = ppl.status[keeper] == LEAVE
        suspended = (status == 1) & ~life_safety & ~(holder_on_leave & has_person)
        rows = plant(suspended, 0.1, cat.LONG_SUSPENSION)
        status_since[rows] = self.today - rng_p.integers(120, 400, len(rows))
        # A few suspensions the carrier exports without a date: undecidable.
        since_unknown = np.zeros(n, bool)
        since_unknown[some(suspended, 0.03)] = True

        # Fixed numbers whose only call was long ago; a few reception lines the collected
        # phone system never sees (no call on record: undecidable).
        voice_number = (active & np.isin(kind, (LANDLINE, DID, TOLL_FREE))
                        & np.isin(purpose, (-1, VOICE, SHARED, CONTACT_CENTRE)))
        marks["idle_number"] = np.zeros(n, bool)
        marks["idle_number"][plant(voice_number & (activated < self.today - 420)
                                   & (((kind == LANDLINE) & np.isin(purpose, (VOICE, SHARED)))
                                      | ((kind == DID) & np.isin(purpose, (SHARED, CONTACT_CENTRE)))),
                                   0.03, cat.IDLE_NUMBERS)] = True
        marks["unseen_number"] = np.zeros(n, bool)
        marks["unseen_number"][some(voice_number & (kind == LANDLINE) & (purpose == SHARED), 0.05)] = True
        # Telephony licences whose DID took only internal calls lately: their holders have no
        # other fixed number, so nothing else shows outside calls.
        fixed_lines = np.bincount(keeper[np.isin(kind, (LANDLINE, DID)) & (keeper >= 0)], minlength=ppl.n)
        lone_did = (active & (kind == DID) & (purpose == VOICE) & has_person & (fixed_lines[keeper] == 1)
                    & (ppl.status[keeper] == ACTIVE) & (ppl.hired_on[keeper] < self.today - 200))
        marks["internal_only"] = np.zeros(n, bool)
        marks["internal_only"][self.plant(rng_p, pool(lone_did), 0.01, cat.TELEPHONY)] = True
        taken |= marks["internal_only"]

        # Numbers: US lines take their office's area code, toll-free numbers 800.
        city = self.loc.city[office]
        us_geo = us & (kind != TOLL_FREE)
        area = np.where(us_geo, np.array(cat.US_CITY_AREA)[np.minimum(city, len(cat.US_CITY_AREA) - 1)],
                        cat.US_TOLL_FREE_AREA)
        rank = _rank_in_groups(np.where(us, area, -1))
        base = np.array([b for _, b in cat.NUMBERING], dtype=np.int64)
        subscriber = np.where(us, area * 10_000_000 + np.where(us_geo, 5_000_000, 2_000_000) + rank,
                              base[country] + np.arange(n))
        number = _join(_pick([p for p, _ in cat.NUMBERING], country), _text(subscriber))
        number = pc.if_else(pa.array(kind == CIRCUIT), pa.scalar(None, pa.string()), number)
        city_state = np.array([cat.US_STATES.index(c[1]) for c in cat.CITIES["US"]])
        region = np.where(us_geo & (kind != CIRCUIT), city_state[np.minimum(city, len(city_state) - 1)], -1)

        holder = np.where(has_person, keeper, -1)
        assigned_to = self.person_ids.take(pa.array(np.maximum(holder, 0), mask=holder < 0))
        # Ghosts look like HR ids (same width) but lie past the last person.
        ghost_ids = pc.utf8_lpad(_text(ppl.n + 1 + np.arange(n)),
                                 width=max(4, len(str(ppl.n))), padding="0")
        assigned_to = pc.if_else(pa.array(ghost), _join("P-", ghost_ids), assigned_to)
        cost_center = np.where(np.isin(np.arange(n), building), 1790, ppl.cost_center[keeper])
        currency = self.rates.currency[contract]

        self.ln = SimpleNamespace(
            n=n, kind=kind, status=status, purpose=purpose, active=active, keeper=keeper,
            holder=holder, has_person=has_person, country=country, market=market, account=account,
            prev_account=prev_account, plan=plan, allowance=allowance, intl=intl,
            activated=activated, status_since=status_since, cancelled_on=cancelled_on,
            judged=judged & active, recorded=recorded, rec_purpose=rec_purpose, phi=phi,
            payment=payment, helpline=helpline, office=office, currency=currency, number=number,
            region=region, taken=taken, leaver_line=leaver_line, life_safety=life_safety,
            ls_device=ls_device, monthly_cost=monthly_cost, **marks)
        self.line_ids = ids
        self.emit("lines", _table("lines", {
            "id": ids,
            "kind": _pick(LINE_KINDS, kind),
            "purpose": _pick(cat.PURPOSES, np.maximum(purpose, 0), null=purpose < 0),
            "number": number,
            "vendor": _pick([v for v, _ in MARKETS], market),
            "account_id": self.account_ids.take(pa.array(account)),
            "plan": _pick([p[1] for p in PLANS], plan),
            "data_allowance_mb": _num(np.nan_to_num(allowance), null=np.isnan(allowance), decimals=0),
            "features": _lists(feature_combos, features),
            "monthly_cost": _num(monthly_cost),
            "currency": _pick(CURRENCIES, currency),
            "status": _pick(cat.LINE_STATUSES, status),
            "status_since": _dates(status_since, null=since_unknown),
            "activated_on": _dates(activated),
            "cancelled_on": _dates(cancelled_on, null=status != 2),
            "assigned_to": assigned_to,
            "cost_center": pc.if_else(pa.array(cost_center_null), pa.scalar(None, pa.string()),
                                      _join("CC-", _text(cost_center))),
            "legal_entity": _pick(cat.LEGAL_ENTITIES, np.array(cat.COUNTRY_LEGAL_ENTITY)[country]),
            "country": _pick(COUNTRIES, country),
            "e911_location_id": self.loc_ids.take(pa.array(np.maximum(e911, 0), mask=e911 < 0)),
            "recorded": _tristate(recorded),
            "payment_line": _bool(payment),
            "phi": _bool(phi),
            "international_plan": _bool(intl, null=kind != MOBILE),
            "tls_enabled": _tristate(tls),
            "srtp_enabled": _tristate(srtp),
        }), keep=("id", "cost_center", "assigned_to"))
