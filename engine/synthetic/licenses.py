"""subscriptions and licenses: each employee's suite, calling plans, Slack, resource accounts'
and rooms' licences; leavers' seats reclaimed."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from . import catalogue as cat
from .catalogue import (
    ACTIVE,
    CURRENCIES,
    DID,
    FX,
    LANDLINE,
    LEAVE,
    PERSON,
    VOICE,
)
from .common import (
    _dates,
    _ids,
    _int,
    _num,
    _pick,
    _table,
)


class Licenses:
    """A part of the estate builder (builder.py). Reads people and lines."""

    # -- subscriptions and licenses ---------------------------------------------------------
    def licenses(self) -> None:
        """Licences of everyone still employed: their platform's suite and meetings, a calling
        plan for those with a DID, Slack for some; a virtual-user licence per Teams Phone
        resource account and a Teams Rooms licence per meeting room. Leavers' seats are
        reclaimed, except a few whose directory account was disabled without an HR date."""
        rng = self.rng("licenses")
        ppl, ln = self.ppl, self.ln
        did = np.zeros(ppl.n, bool)
        did[ln.holder[ln.active & (ln.kind == DID) & (ln.purpose == VOICE) & (ln.holder >= 0)]] = True
        quiet_did = np.zeros(ppl.n, bool)
        quiet_did[ln.holder[ln.internal_only]] = True
        parts, skus = [], []
        for s, (_, _, _, platforms, who) in enumerate(cat.SKUS):
            if who in ("resource", "room"):
                mask = ppl.kind == (cat.RESOURCE_ACCOUNT if who == "resource" else cat.ROOM)
            elif who == "none":
                mask = np.zeros(ppl.n, bool)
            else:
                mask = ppl.alive & np.isin(ppl.platform, platforms)
                if who == "did":
                    mask &= did & ((rng.random(ppl.n) < 0.9) | quiet_did)
                elif who != "all":
                    mask &= rng.random(ppl.n) < who
            rows = np.flatnonzero(mask)
            parts.append(rows)
            skus.append(np.full(len(rows), s))
        # A leaver disabled in the directory without a termination date keeps the main licence.
        rows = np.flatnonzero(ppl.no_date)
        parts.append(rows)
        skus.append(np.array(cat.PLATFORM_MAIN_SKU, np.int64)[ppl.platform[rows]])
        person = np.concatenate(parts)
        sku = np.concatenate(skus)
        n = len(person)
        status = np.zeros(n, np.int64)  # active, disabled, suspended
        p_status = ppl.status[person]
        directory = ppl.kind[person] != PERSON
        hired = np.where(directory, self.today - 900, ppl.hired_on[person])
        assigned = np.minimum(hired + rng.integers(0, 15, n), self.today)
        recent = (p_status == ACTIVE) & ~directory & ~quiet_did[person] & (rng.random(n) < 0.04)
        assigned[recent] = np.maximum(hired[recent], self.today - rng.integers(0, 40, recent.sum()))
        last_active = np.where(p_status == LEAVE, self.today - rng.integers(0, 46, n),
                               self.today - rng.integers(0, 22, n))
        last_active = np.where(ppl.no_date[person], self.today - rng.integers(5, 40, n), last_active)
        last_active = np.maximum(last_active, assigned)
        # Newly assigned seats and resource accounts (which never sign in) have no activity.
        no_activity = recent | (ppl.kind[person] == cat.RESOURCE_ACCOUNT)

        rng = self.rng("licenses.planted")
        busy = np.zeros(ppl.n, bool)
        busy[quiet_did] = True
        telephony = cat.TELEPHONY_SKUS[sku]
        person_active = (p_status == ACTIVE) & ~directory
        # Slack bills only active members (its Fair Billing Policy): an idle Slack seat costs
        # nothing, so it is never planted as unused.
        slack = sku == cat.SKU_INDEX["SLACK_BUSINESS_PLUS"]
        unused = self.plant(rng, np.flatnonzero(person_active & ~recent & ~telephony & ~slack
                                                & (assigned <= self.today - 420)), 0.02,
                            cat.UNUSED_LICENSE)
        last_active[unused] = self.today - rng.integers(75, 400, len(unused))
        busy[person[unused]] = True
        # Undecidable: a few Slack seats nobody has signed in to since they were assigned.
        taken = np.zeros(n, bool)
        taken[unused] = True
        never = self.some(self.rng("licenses.undecidable"),
                          np.flatnonzero(person_active & ~recent & ~taken
                                         & (sku == cat.SKU_INDEX["SLACK_BUSINESS_PLUS"])
                                         & (assigned <= self.today - 120)), 0.01)
        no_activity[never] = True
        # Extra licences, each a violation: (people, sku, status, assigned, last active).
        extra = []
        settled = (ppl.person & (ppl.status == ACTIVE) & (ppl.platform == 0)
                   & (ppl.hired_on <= self.today - 200))
        # Overlapping platforms: a Zoom seat for someone on Teams; the Phone System add-on for
        # someone whose E5 already includes it.
        who = self.plant(rng, np.flatnonzero(settled & ~busy), 0.006, cat.OVERLAPPING, minimum=2)
        busy[who] = True
        extra.append((who, cat.SKU_INDEX["ZOOM_WORKPLACE_BUSINESS"], np.zeros(len(who), np.int64),
                      self.today - rng.integers(100, 180, len(who)),
                      self.today - rng.integers(0, 20, len(who)), cat.OVERLAPPING))
        # The add-on is a telephony licence too: bought for people whose DID takes outside calls,
        # or who have no fixed number on record at all (their telephony use cannot be seen).
        fixed = np.bincount(ln.holder[np.isin(ln.kind, (LANDLINE, DID)) & (ln.holder >= 0)], minlength=ppl.n)
        who = self.plant(rng, np.flatnonzero(settled & ~busy & (did | (fixed == 0))), 0.004,
                         cat.OVERLAPPING, minimum=2)
        busy[who] = True
        extra.append((who, cat.SKU_INDEX["MCOEV"], np.zeros(len(who), np.int64),
                      self.today - rng.integers(120, 190, len(who)),
                      self.today - rng.integers(0, 20, len(who)), cat.OVERLAPPING))
        # Leavers whose main licence was missed: still active shortly after they left (inside
        # the idle limit), or disabled or suspended but still paid for.
        who = self.plant(rng, np.flatnonzero(ppl.dated_leaver), 0.03, cat.LEAVER_LICENSE)
        gone = ppl.terminated_on[who]
        extra.append((who, np.array(cat.PLATFORM_MAIN_SKU)[ppl.platform[who]],
                      np.where(self.today - gone <= 50, 0, 1 + np.arange(len(who)) % 2),
                      ppl.hired_on[who] + rng.integers(0, 15, len(who)), gone, cat.LEAVER_LICENSE))
        tags = np.full(n, -1, np.int64)
        for t, (who, s, st, a, la, _) in enumerate(extra):
            person = np.r_[person, who]
            sku = np.r_[sku, np.broadcast_to(s, len(who))]
            status = np.r_[status, st]
            assigned = np.r_[assigned, a]
            last_active = np.r_[last_active, la]
            no_activity = np.r_[no_activity, np.zeros(len(who), bool)]
            tags = np.r_[tags, np.full(len(who), t)]
        unused_tag = np.zeros(len(person), bool)
        unused_tag[unused] = True
        order = np.lexsort((sku, person))
        person, sku, status, assigned = person[order], sku[order], status[order], assigned[order]
        last_active, no_activity, tags, unused_tag = (last_active[order], no_activity[order],
                                                      tags[order], unused_tag[order])
        n = len(person)
        ids = _ids("LIC-", n)
        self.record(cat.UNUSED_LICENSE, ids, np.flatnonzero(unused_tag))
        for t, item in enumerate(extra):
            self.record(item[5], ids, np.flatnonzero(tags == t))
        # Calling plans whose DID took only internal calls in the last 90 days.
        self.record(cat.TELEPHONY, ids, np.flatnonzero(quiet_did[person] & cat.TELEPHONY_SKUS[sku]
                                                       & (tags < 0)))

        # Subscriptions: a SKU per billing region (US, UK, EU) in its currency, large tenants
        # in tranches. Seats are trued up before renewal; until then there is some headroom.
        region = cat.COUNTRY_REGION[ppl.country[person]]
        group = sku * len(cat.REGION_CURRENCY) + region
        tranches = np.maximum(1, np.bincount(group, minlength=len(cat.SKUS) * 3) // cat.SEATS_PER_TRANCHE)
        key = group * 1000 + (rng.random(n) * tranches[group]).astype(np.int64)
        keys, sub = np.unique(key, return_inverse=True)
        ns = len(keys)
        s_sku, s_region = keys // 1000 // 3, keys // 1000 % 3
        consumed = np.bincount(sub, minlength=ns)
        currency = cat.REGION_CURRENCY[s_region]
        unit_cost = np.round(np.array([s[2] for s in cat.SKUS])[s_sku] * FX[currency], 2)
        soon = rng.random(ns) < 0.15
        renews = np.where(soon, self.today + rng.integers(5, 55, ns), self.today + rng.integers(100, 365, ns))
        prepaid = np.where(soon, consumed, consumed + np.ceil(consumed * rng.uniform(0.02, 0.08, ns)) + 1)
        rows = self.plant(rng, np.flatnonzero(unit_cost > 0), 0.03, cat.UNASSIGNED_SEATS)
        renews[rows] = self.today + rng.integers(10, 50, len(rows))
        spare = np.ceil(consumed[rows] * rng.uniform(0.15, 0.3, len(rows)))
        prepaid[rows] = consumed[rows] + np.maximum(6, spare) + 1
        # Teams Rooms licences are bought month to month: no renewal date (undecidable).
        month_to_month = s_sku == cat.SKU_INDEX["MICROSOFT_TEAMS_ROOMS_PRO"]
        month_to_month[rows] = False
        sub_ids = _ids("SUB-", ns, 3)
        self.record(cat.UNASSIGNED_SEATS, sub_ids, rows)
        self.emit("subscriptions", _table("subscriptions", {
            "id": sub_ids,
            "product": _pick([s[0] for s in cat.SKUS], s_sku),
            "sku": _pick([s[1] for s in cat.SKUS], s_sku),
            "prepaid_units": _int(prepaid),
            "consumed_units": _int(consumed),
            "unit_cost": _num(unit_cost),
            "currency": _pick(CURRENCIES, currency),
            "renews_on": _dates(renews, null=month_to_month),
        }))
        self.emit("licenses", _table("licenses", {
            "id": ids,
            "product": _pick([s[0] for s in cat.SKUS], sku),
            "sku": _pick([s[1] for s in cat.SKUS], sku),
            "subscription_id": sub_ids.take(pa.array(sub)),
            "assigned_to": self.person_ids.take(pa.array(person)),
            "monthly_cost": _num(unit_cost[sub]),
            "currency": _pick(CURRENCIES, currency[sub]),
            "assigned_on": _dates(assigned),
            "last_active_on": _dates(last_active, null=no_activity),
            "status": _pick(("active", "disabled", "suspended"), status),
        }))
