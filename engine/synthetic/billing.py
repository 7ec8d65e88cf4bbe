"""invoices, charges and disputes, and the contracts table with commitments that follow spend."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import catalogue as cat
from .catalogue import (
    CURRENCIES,
    MARKETS,
    MOBILE,
    PLANS,
)
from .common import (
    INVOICE_MONTHS,
    _bool,
    _dates,
    _ids,
    _int,
    _join,
    _num,
    _pick,
    _table,
)


class Billing:
    """A part of the estate builder (builder.py). Reads contracts, accounts, rates and lines
    (with their spikes); writes the contracts table last, since commitments follow spend."""

    # -- invoices, charges, disputes, and the contracts' commitments -------------------------
    def _contracted(self, account: np.ndarray, period: np.ndarray, code: np.ndarray) -> np.ndarray:
        """The rate in force for a charge code, by the account's contract and the period."""
        c = self.acct.contract[account]
        current = self.inv_first[period] >= self.rates.change[c]
        return np.where(current, self.rates.new[c, code], self.rates.old[c, code])

    def billing(self) -> None:
        """Four months of carrier invoices. Recurring charges follow the lines at the contracted
        rate; usage, credits and late fees stay small against them, taxes and the regulatory
        surcharge are a steady share, so a month only spikes or shifts its tax share where
        planted."""
        rng = self.rng("invoices")
        ln, acct = self.ln, self.acct
        M = INVOICE_MONTHS
        p_first, p_last = self.inv_first, self.inv_last
        ni = acct.n * M
        inv_account = np.repeat(np.arange(acct.n), M)
        inv_period = np.tile(np.arange(M), acct.n)

        # Recurring: every line, every month it was in service; moved lines were billed to
        # their previous account before the latest month. Item columns are kept compact: a
        # million lines make four million charges.
        billed = ((ln.activated[:, None] <= p_last[None, :])
                  & ((ln.status != 2)[:, None] | (ln.cancelled_on[:, None] >= p_first[None, :])))
        r_line, r_period = (x.astype(np.int32) for x in np.nonzero(billed))
        del billed
        r_inv = (np.where(r_period < M - 1, ln.prev_account[r_line], ln.account[r_line]) * M
                 + r_period).astype(np.int32)
        r_code = ln.plan[r_line].astype(np.int16)
        r_rate = self._contracted(r_inv // M, r_period, r_code)

        rng_p = self.rng("charges.planted")
        nr = len(r_line)
        above = self.plant(rng_p, np.arange(nr), 0.015, cat.ABOVE_RATE)
        contracted = r_rate[above].copy()
        r_rate[above] = np.round(contracted * rng_p.uniform(1.05, 1.3, len(above)), 2)
        clean = np.ones(nr, bool)
        clean[above] = False
        # The errors that add charges sit in the older months, which the latest is judged by.
        dup = self.plant(rng_p, np.flatnonzero(clean & (r_period == 0) & ln.active[r_line]), 0.003,
                         cat.DUPLICATE)
        del clean
        # Billed for a month that began weeks after the line was cancelled.
        late = self.plant(rng_p, np.flatnonzero((ln.status == 2) & (ln.cancelled_on < p_first[0] - 20)),
                          0.03, cat.AFTER_CANCELLATION)
        # Billed for lines the inventory has never heard of.
        k = max(3, int(round(0.0005 * nr)))
        mobile_plans = np.array([i for i, p in enumerate(PLANS) if p[0] == MOBILE])
        g_acc = rng_p.integers(0, acct.n, k)
        g_period = rng_p.integers(0, M - 2, k)
        g_code = mobile_plans[rng_p.integers(0, len(mobile_plans), k)]
        e_period = np.r_[r_period[dup], np.zeros(len(late), np.int32), g_period]
        e_line = np.r_[r_line[dup], late, ln.n + np.arange(k)]
        e_inv = np.r_[r_inv[dup], ln.account[late] * M, g_acc * M + g_period]
        e_code = np.r_[r_code[dup], ln.plan[late], g_code]
        e_rate = np.r_[r_rate[dup], self._contracted(e_inv[len(dup):] // M, e_period[len(dup):],
                                                     e_code[len(dup):])]
        n_rec = nr + len(e_line)
        recurring = (np.bincount(r_inv, weights=np.round(r_rate, 2), minlength=ni)
                     + np.bincount(e_inv, weights=np.round(e_rate, 2), minlength=ni))

        # Usage charges on active mobiles, kept to 4 % of each invoice's recurring charges.
        mobile = np.flatnonzero(ln.active & (ln.kind == MOBILE))
        u_parts = []
        for u, (share, lo, hi) in enumerate(((0.05, 1, 6), (0.04, 5, 300), (0.03, 1, 10))):
            li, pi = np.nonzero(rng.random((len(mobile), M), dtype=np.float32) < share)
            u_parts.append((mobile[li], pi, np.full(len(li), len(PLANS) + u),
                            rng.integers(lo, hi, len(li))))
        u_line = np.concatenate([p[0] for p in u_parts]).astype(np.int32)
        u_period = np.concatenate([p[1] for p in u_parts]).astype(np.int32)
        u_code = np.concatenate([p[2] for p in u_parts]).astype(np.int16)
        u_qty = np.concatenate([p[3] for p in u_parts]).astype(np.float64)
        del u_parts
        u_inv = (np.where(u_period < M - 1, ln.prev_account[u_line], ln.account[u_line]) * M
                 + u_period).astype(np.int32)
        u_rate = self._contracted(u_inv // M, u_period, u_code)
        u_amount = np.round(u_qty * u_rate, 2)
        order = np.lexsort((rng.random(len(u_inv)), u_inv))
        spent = np.cumsum(u_amount[order])
        first = np.r_[True, u_inv[order][1:] != u_inv[order][:-1]]
        spent -= np.maximum.accumulate(np.where(first, spent - u_amount[order], 0))
        keep = np.ones(len(u_inv), bool)
        keep[order[spent > 0.04 * recurring[u_inv[order]]]] = False
        del order, spent, first
        u_line, u_period, u_code, u_qty, u_inv, u_rate, u_amount = (
            x[keep] for x in (u_line, u_period, u_code, u_qty, u_inv, u_rate, u_amount))
        del keep
        usage = np.bincount(u_inv, weights=u_amount, minlength=ni)

        # Invoice-level charges: credits, late fees, the regulatory surcharge, then tax.
        credit_inv = np.flatnonzero((rng.random(ni) < 0.02) & (recurring > 0))
        credit = -np.round(rng.uniform(0.01, 0.03, len(credit_inv)) * recurring[credit_inv], 2)
        # Accounts whose lines moved keep to their own story: no late fees, no tax jumps.
        latest = np.arange(acct.n) * M + M - 1
        steady = np.ones(acct.n, bool)
        steady[self.spikes] = steady[self.donors] = False
        fee_inv = self.plant(rng_p, np.flatnonzero((inv_period >= 2) & steady[inv_account]), 0.04,
                             cat.LATE_FEE)
        tax_rate = np.array([cat.TAX_RATE[c] for c in range(len(CURRENCIES))])[acct.currency[inv_account]]
        fee = np.round(0.015 * (recurring + usage)[fee_inv - 2] * (1 + tax_rate[fee_inv - 2]), 2)
        surcharge = np.round(cat.SURCHARGE_SHARE * recurring, 2)
        other = (np.bincount(credit_inv, weights=credit, minlength=ni)
                 + np.bincount(fee_inv, weights=fee, minlength=ni))
        # A tax-share jump on the latest invoice: a surcharge far above its usual share.
        taxed = latest[self.plant(rng_p, np.flatnonzero(steady), 0.03, cat.TAX_ANOMALY)]
        steady[taxed // M] = False
        share = (tax_rate * (recurring + usage + surcharge + other) + surcharge) / np.maximum(recurring, 1)
        target = 1.5 * (share[taxed - 1] + share[taxed - 2] + share[taxed - 3]) / 3
        t = tax_rate[taxed]
        surcharge[taxed] = np.round((target * recurring[taxed] - t * (recurring + usage + other)[taxed])
                                    / (1 + t), 2)
        tax = np.round(tax_rate * (recurring + usage + surcharge + other), 2)

        # Dates: issued a few days after the month, due in 30 days, approved within the week.
        issued = np.minimum(p_last[inv_period] + rng.integers(2, 7, ni), self.today)
        approved = np.minimum(issued + rng.integers(1, 9, ni), self.today)
        due = issued + 30
        paid = approved + rng.integers(1, 13, ni)
        paid[fee_inv - 2] = due[fee_inv - 2] + rng_p.integers(3, 16, len(fee_inv))
        unapproved = latest[self.plant(rng_p, np.flatnonzero(steady), 0.03, cat.UNAPPROVED_NEAR_DUE)]
        issued[unapproved] = p_last[M - 1] + rng_p.integers(1, 3, len(unapproved))
        due[unapproved] = issued[unapproved] + 30
        approved[unapproved] = self.today + 1
        paid[unapproved] = self.today + 1

        # Charges, grouped by invoice: the items of each invoice, then its invoice-level lines.
        inv_charges = np.r_[credit_inv, fee_inv, np.arange(ni), np.arange(ni)].astype(np.int32)
        inv_type = np.r_[np.full(len(credit_inv), 6), np.full(len(fee_inv), 5), np.full(ni, 4),
                         np.full(ni, 3)].astype(np.int8)
        inv_amount = np.r_[credit, fee, surcharge, tax]
        n_items = n_rec + len(u_inv)
        all_inv = np.r_[r_inv, e_inv.astype(np.int32), u_inv, inv_charges]
        n = len(all_inv)
        order = np.argsort(all_inv, kind="stable")
        all_inv = all_inv[order]
        position = np.empty(n, np.int64)
        position[order] = np.arange(n)
        total = np.zeros(ni)
        ids = _ids("CHG-", n)
        dup_at = nr + np.arange(len(dup))
        late_at = nr + len(dup) + np.arange(len(late))
        ghost_at = nr + len(dup) + len(late) + np.arange(k)
        self.record(cat.ABOVE_RATE, ids, position[above])
        self.record(cat.DUPLICATE, ids, position[dup_at])
        self.record(cat.AFTER_CANCELLATION, ids, position[late_at])
        self.record(cat.NOT_IN_INVENTORY, ids, position[ghost_at])
        self.record(cat.LATE_FEE, ids, position[n_items + len(credit_inv) + np.arange(len(fee_inv))])
        # What disputes are raised about: the billing errors, and some roaming charges.
        roam = np.flatnonzero(u_code == len(PLANS) + 2)
        disputable = SimpleNamespace(
            charge=position[np.r_[above, dup_at, late_at, ghost_at, n_rec + roam]],
            invoice=np.r_[r_inv[above], e_inv, u_inv[roam]],
            amount=np.r_[r_rate[above] - contracted, np.round(e_rate, 2), u_amount[roam]],
            chance=np.r_[np.full(len(above) + len(e_inv), 0.4), np.full(len(roam), 0.05)])
        del position
        is_item = order < n_items
        columns: dict[str, pa.Array] = {"id": ids}

        def item_column(*parts: np.ndarray, fill=0) -> np.ndarray:
            """One value per charge in charge order: the items' parts, ``fill`` elsewhere."""
            values = np.concatenate([*parts, np.full(n - n_items, fill, parts[0].dtype)])
            return values[order]

        inv_ids = _ids("INV-", ni)
        columns["invoice_id"] = inv_ids.take(pa.array(all_inv))
        line_vocab = pa.concat_arrays([self.line_ids, _ids("L-", k, max(4, len(str(ln.n))),
                                                           start=ln.n + 1)])
        columns["line_id"] = line_vocab.take(pa.array(item_column(r_line, e_line.astype(np.int32),
                                                                  u_line), mask=~is_item))
        del line_vocab, r_line, u_line
        all_type = item_column(np.zeros(n_rec, np.int8), np.ones(len(u_inv), np.int8))
        all_type[~is_item] = inv_type[order[~is_item] - n_items]
        code = item_column(r_code, e_code.astype(np.int16), u_code)
        code[~is_item] = len(cat.CHARGE_CODES) + all_type[~is_item] - 3
        columns["charge_code"] = _pick(cat.CHARGE_CODES + tuple(c for c, _ in cat.INVOICE_CODES), code)
        columns["charge_type"] = _pick(cat.CHARGE_TYPES, all_type)
        columns["description"] = _pick([p[1] for p in PLANS] + [u[1] for u in cat.USAGE_CODES]
                                       + [d for _, d in cat.INVOICE_CODES], code)
        del code, all_type, r_code, u_code
        columns["quantity"] = _num(item_column(np.ones(n_rec), u_qty), null=~is_item, decimals=3)
        columns["unit_rate"] = _num(item_column(r_rate, e_rate, u_rate), null=~is_item, decimals=4)
        amount = np.concatenate([np.round(r_rate, 2), np.round(e_rate, 2), u_amount, inv_amount])[order]
        total = np.round(np.bincount(all_inv, weights=amount, minlength=ni), 2)
        columns["amount"] = _num(amount)
        del amount, is_item, u_qty, u_amount
        order = None  # done with the charge order (item_column reads it)
        columns["currency"] = _pick(CURRENCIES, acct.currency[all_inv // M])
        p_of = all_inv % M
        columns["period_start"] = _dates(p_first[p_of])
        columns["period_end"] = _dates(p_last[p_of])
        del p_of, all_inv
        self.emit("charges", _table("charges", columns),
                  keep=("invoice_id", "amount", "line_id", "charge_type"))
        del columns

        self.record(cat.SPEND_SPIKE, inv_ids, latest[self.spikes])
        self.record(cat.TAX_ANOMALY, inv_ids, taxed)
        self.record(cat.UNAPPROVED_NEAR_DUE, inv_ids, unapproved)
        period_labels = np.datetime_as_string(self.inv_months.astype("datetime64[M]"), unit="M")
        self.emit("invoices", _table("invoices", {
            "id": inv_ids,
            "account_id": self.account_ids.take(pa.array(inv_account)),
            "invoice_number": _join(self.account_numbers.take(pa.array(inv_account)), "-",
                                    pc.replace_substring(_pick(period_labels, inv_period), "-", "")),
            "period": _pick(period_labels, inv_period),
            "issued_on": _dates(issued),
            "due_on": _dates(due),
            "approved_on": _dates(approved, null=approved > self.today),
            "paid_on": _dates(paid, null=paid > self.today),
            "total": _num(total),
            "currency": _pick(CURRENCIES, acct.currency[inv_account]),
        }), keep=("id", "total"))

        # Disputes: raised for the billing errors and for some roaming charges. Open ones are
        # less than two months old (then they are escalated), except the planted ones.
        rng = self.rng("disputes")
        errors = disputable.charge
        overbilled = disputable.amount
        chance = disputable.chance
        e_inv = disputable.invoice
        old = self.today - issued[e_inv] >= 80
        rows = self.plant(rng, np.flatnonzero(old), 0.02, cat.DISPUTE_PAST_WINDOW)
        planted = np.zeros(len(errors), bool)
        planted[rows] = True
        rows = np.r_[rows, np.flatnonzero(~planted & (rng.random(len(errors)) < chance))]
        rows.sort()
        nd = len(rows)
        d_planted = planted[rows]
        issued_d = issued[e_inv[rows]]
        opened = np.minimum(issued_d + rng.integers(3, 21, nd), self.today)
        status = rng.choice(3, nd, p=(0.4, 0.4, 0.2))
        credited_on = opened + rng.integers(7, 31, nd)
        status[(status == 1) & (credited_on > self.today)] = 0
        opened = np.where(status == 0, np.maximum(opened, self.today - 55), opened)
        status[d_planted] = 0
        opened[d_planted] = issued_d[d_planted] + (
            rng.random(d_planted.sum()) * (self.today - 70 - issued_d[d_planted] - 3)).astype(np.int64) + 3
        # A few disputes raised by phone have no opening date on record (undecidable).
        undated = np.zeros(nd, bool)
        undated[self.some(self.rng("disputes.undecidable"), np.flatnonzero((status == 0) & ~d_planted),
                          0.01)] = True
        # A few more billing errors were disputed and filed with the carrier the day before the
        # bill two months back, and no credit came on that bill nor the next
        # (cost.dispute-credit-missing). Filed under 60 days ago they are not yet open too long
        # (unless the as-of day makes them so). Appended after the others, which stay as drawn.
        free = np.flatnonzero(~np.isin(np.arange(len(errors)), rows) & (overbilled > 0.01)
                              & (inv_period[e_inv] <= M - 3))
        extra = self.plant(self.rng("disputes.filed"), free, 0.0, cat.DISPUTE_CREDIT_MISSING)
        k = len(extra)
        filed_on = np.r_[np.zeros(nd, np.int64), issued[inv_account[e_inv[extra]] * M + M - 2] - 1]
        opened = np.r_[opened, np.minimum(issued[e_inv[extra]] + 3, filed_on[nd:])]
        status = np.r_[status, np.full(k, 3, status.dtype)]
        credited_on = np.r_[credited_on, np.zeros(k, credited_on.dtype)]
        undated = np.r_[undated, np.zeros(k, bool)]
        rows = np.r_[rows, extra]
        nd += k
        dispute_ids = _ids("DSP-", nd)
        d_account = inv_account[e_inv[rows]]
        filed = np.arange(nd - k, nd)
        self.record(cat.DISPUTE_PAST_WINDOW, dispute_ids, np.flatnonzero(d_planted))
        self.record(cat.DISPUTE_CREDIT_MISSING, dispute_ids, filed)
        self.record(cat.DISPUTE_PAST_WINDOW, dispute_ids, filed[self.today - filed_on[filed] > 60])
        is_filed = status == 3
        self.emit("disputes", _table("disputes", {
            "id": dispute_ids,
            "reference": pc.if_else(pa.array(is_filed), dispute_ids, pa.scalar(None, pa.string())),
            "account_id": self.account_ids.take(pa.array(d_account)),
            "charge_id": ids.take(pa.array(errors[rows])),
            "opened_on": _dates(opened, null=undated),
            "filed_on": _dates(filed_on, null=~is_filed),
            "amount": _num(overbilled[rows]),
            "status": _pick(("open", "credited", "rejected", "filed"), status),
            "credited_on": _dates(credited_on, null=status != 1),
        }))
        self._record_unallocated(inv_ids)
        self._contracts_table(recurring + usage, inv_account, inv_period)

    def _record_unallocated(self, inv_ids: pa.Array) -> None:
        """The invoices cost.unallocated-charges finds, as drawn: charges on the few lines with
        no cost centre (nor a holder with one) and the late fees on no line, above 1 % of the
        invoice once account-level taxes and surcharges are spread pro rata. Reads the columns
        of the four tables the builder kept when it handed them on, then lets them go."""
        import duckdb

        kept, self.kept = self.kept, {}
        con = duckdb.connect()
        try:
            for name in ("charges", "lines", "people", "invoices"):
                con.register(name, kept[name])
            found = [r[0] for r in con.execute("""
                WITH placed AS (
                  SELECT c.invoice_id, c.amount,
                         c.line_id IS NULL AND c.charge_type IN ('tax', 'surcharge') AS overhead,
                         nullif(trim(coalesce(nullif(trim(l.cost_center), ''), p.cost_center)), '') AS cc
                  FROM charges c LEFT JOIN lines l ON l.id = c.line_id
                  LEFT JOIN people p ON p.id = l.assigned_to),
                k AS (
                  SELECT invoice_id, sum(amount) FILTER (WHERE NOT overhead) AS direct,
                         coalesce(sum(amount) FILTER (WHERE overhead), 0) AS overhead,
                         coalesce(sum(amount) FILTER (WHERE NOT overhead AND cc IS NULL), 0) AS lost
                  FROM placed GROUP BY invoice_id)
                SELECT i.id FROM invoices i JOIN k ON k.invoice_id = i.id
                WHERE k.direct > 0 AND k.lost > 0
                  AND 100.0 * k.lost * (1 + k.overhead / k.direct) / i.total > 1
                ORDER BY i.id""").fetchall()]
        finally:
            con.close()
        positions = pc.index_in(pa.array(found, pa.string()), inv_ids).to_numpy(zero_copy_only=False)
        self.record(cat.UNALLOCATED, inv_ids, positions)

    def _contracts_table(self, eligible: np.ndarray, inv_account: np.ndarray, inv_period: np.ndarray) -> None:
        """Contracts, with monthly commitments well under the last three months' eligible spend
        (recurring and usage charges), except the planted shortfalls; vendor contracts
        (licences, archiving) commit to nothing."""
        con, acct = self.con, self.acct
        recent = inv_period >= INVOICE_MONTHS - 3
        spend = np.bincount(acct.contract[inv_account[recent]], weights=eligible[recent],
                            minlength=con.n) / 3
        rng = self.rng("contracts.commitment")
        commitment = np.floor(spend * rng.uniform(0.55, 0.8, con.n) / 100) * 100
        short = con.shortfall
        commitment[short] = np.ceil(spend[short] * rng.uniform(1.3, 1.8, len(short)) / 100) * 100
        none = commitment <= 0
        none[con.carrier:] = True
        self.emit("contracts", _table("contracts", {
            "id": self.contract_ids,
            "vendor": _pick([v for v, _ in MARKETS] + [v for v, _ in cat.VENDOR_CONTRACTS],
                            np.r_[con.market, len(MARKETS) + np.arange(con.n - con.carrier)]),
            "started_on": _dates(con.started),
            "ends_on": _dates(con.ends),
            "auto_renew": _bool(con.auto_renew),
            "notice_days": _int(con.notice),
            "monthly_commitment": _num(np.maximum(commitment, 0), null=none),
            "currency": _pick(CURRENCIES, con.currency),
        }))
