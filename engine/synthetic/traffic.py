"""usage (twelve months per line, as carriers summarise them) and calls (both parties placed)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import catalogue as cat
from .catalogue import (
    CONTACT_CENTRE,
    CURRENCIES,
    DID,
    DID_BLOCK,
    FX,
    HOTSPOT,
    IOT,
    LANDLINE,
    LIFE_SAFETY,
    M2M,
    MOBILE,
    PAYMENT_TERMINAL,
    PFAX,
    SHARED,
    STANDBY,
    TOLL_FREE,
    US,
    VOICE,
)
from .common import (
    _US_PER_DAY,
    _US_PER_S,
    _dates,
    _ids,
    _int,
    _join,
    _month_first,
    _num,
    _pick,
    _stamps,
    _table,
    _text,
)


class Traffic:
    """A part of the estate builder (builder.py). Reads ``ln``; leaves the calls (``cl``,
    ``call_ids``, ``call_columns``) for records."""

    # -- usage ------------------------------------------------------------------------------
    def usage(self) -> None:
        """Twelve months per line, as carriers summarise them. The last three are what the usage
        policies read: every person's or shared line in the zero-usage rule's scope shows
        activity, limited plans are used (a quarter or more of the allowance) but not exceeded,
        international add-ons are used, and only lines with an add-on roam. One carrier gives
        no last-activity date (activity is in the volumes), and one's IoT summaries carry no
        roaming, international or overage amounts."""
        rng = self.rng("usage")
        ln = self.ln
        n = ln.n
        months = self.month - 11 + np.arange(12)
        first = _month_first(months)
        last = np.minimum(_month_first(months + 1) - 1, self.today)
        recent = np.arange(12) >= 9
        end = np.where(ln.active, self.today, ln.status_since)  # silent once suspended or cancelled
        rings_when_tested = ln.life_safety & (ln.kind != IOT)
        p = np.array([0.96, 0.99, 0.9, 0.85, 0.99, 0.99, 0.5, 0.99])[ln.kind]
        p = np.where(rings_when_tested, 0.25, p)
        p = np.where(ln.purpose == PFAX, 0.5, p)
        p = np.where(ln.purpose == STANDBY, 0.1, p)
        used = ((first[None, :] <= end[:, None]) & (last[None, :] >= ln.activated[:, None])
                & (rng.random((n, 12), dtype=np.float32) < p[:, None].astype(np.float32)))
        silent = ln.idle | ln.silent_gap
        used[ln.judged & ~silent, 11] = True
        # Lines whose last three months must show something get one of them for sure.
        force = rng.integers(9, 12, n)
        finite = ln.allowance > 0
        showing = np.flatnonzero(ln.active & ~silent & (finite | (ln.intl & ~ln.intl_unused)
                                                        | ln.roaming | ln.overage))
        used[showing, force[showing]] = True
        # Idle lines went quiet at least four whole months ago, or never spoke at all; idle
        # numbers' carrier usage stops before the window too; the undecidable silent lines
        # last showed something in March.
        quiet_after = np.full(n, 11)
        rows = np.flatnonzero(ln.idle)
        quiet_after[rows] = rng.integers(-1, 7, len(rows))
        rows = np.flatnonzero(ln.idle_number)
        quiet_after[rows] = rng.integers(2, 9, len(rows))
        quiet_after[ln.silent_gap | ln.unseen_number] = 8
        rows = np.flatnonzero(quiet_after < 11)
        used[rows] &= np.arange(12)[None, :] <= quiet_after[rows, None]
        rows = rows[quiet_after[rows] >= 0]
        used[rows, quiet_after[rows]] = True

        span = np.maximum(np.minimum(last[None, :], end[:, None]) - first[None, :] + 1, 1)
        day = (first[None, :] + (rng.random((n, 12), dtype=np.float32) * span).astype(np.int32))
        del span
        # One carrier reports no last-activity date; a few lines miss a month of the window.
        gap = np.zeros(n * 12, bool)
        rows = np.flatnonzero(ln.silent_gap)
        gap[rows * 12 + rng.integers(9, 12, len(rows))] = True
        no_date = np.repeat(ln.market == cat.NO_LAST_ACTIVITY_MARKET, 12)
        last_activity = _dates(day.ravel(), null=~used.ravel() | no_date | gap)
        del day, no_date
        scale = np.where(rings_when_tested, 0.02, 1.0)
        voice_mean = np.array([280, 0, 180, 240, 25_000, 20_000, 15, 6_000], float)[ln.kind] * scale
        sms_mean = np.array([45, 5, 0, 0, 0, 0, 0, 0], float)[ln.kind]
        voice = _num((rng.gamma(2.0, 1.0, (n, 12)) * (voice_mean / 2)[:, None] * used).ravel(),
                     null=gap, decimals=1)
        sms = _int(rng.poisson(sms_mean[:, None] * used).ravel(), null=gap)

        # Data: limited plans use 30-90 % of the allowance, one recent month 45-95 %; ten-gig
        # mobile plans ran over now and then before the last quarter.
        allowance = np.nan_to_num(ln.allowance)[:, None]
        data_mean = np.array([6_000, 0, 0, 0, 0, 0, 0, 0], float)[ln.kind]
        data_mean = np.where(ln.purpose == HOTSPOT, 15_000.0, data_mean)
        data = np.where(finite[:, None], allowance * rng.uniform(0.3, 0.9, (n, 12)),
                        rng.gamma(2.0, 1.0, (n, 12)) * (data_mean / 2)[:, None])
        data[ln.purpose == STANDBY] = rng.gamma(2.0, 1.5, ((ln.purpose == STANDBY).sum(), 12))
        rows = np.flatnonzero(finite)
        data[rows, force[rows]] = allowance[rows, 0] * rng.uniform(0.45, 0.95, len(rows))
        over = ((ln.kind == MOBILE) & finite)[:, None] & ~recent[None, :] & (rng.random((n, 12)) < 0.04)
        data = np.where(over, allowance * rng.uniform(1.02, 1.3, (n, 12)), data)
        del over
        rows = np.flatnonzero(ln.over_provisioned)
        data[rows[:, None], np.arange(9, 12)[None, :]] = (
            allowance[rows] * rng.uniform(0.02, 0.15, (len(rows), 3)))
        used[rows, 11] = True
        rows = np.flatnonzero(ln.overage)
        data[rows, force[rows]] = allowance[rows, 0] * rng.uniform(1.1, 1.5, len(rows))
        data = np.round(data * used, 1)
        fx = FX[ln.currency][:, None]
        overage = np.where(finite[:, None] & (data > allowance),
                           np.ceil((data - allowance) / 1024) * cat.USAGE_CODES[0][2] * fx, 0.0)
        data_mb = _num(data.ravel(), null=gap, decimals=1)
        del data

        # Roaming and international calls on mobiles. With an add-on: day passes and calls
        # abroad, and at least one of the last three months shows them. Without: calls abroad
        # at any time, roaming only before the last quarter.
        mobile = (ln.kind == MOBILE)[:, None] & used
        intl = ln.intl[:, None]
        roam_hit = mobile & (rng.random((n, 12), dtype=np.float32)
                             < np.where(intl, np.float32(0.2), np.where(recent, 0, np.float32(0.01))))
        roaming = np.where(roam_hit, np.where(intl, rng.integers(1, 8, (n, 12)) * cat.USAGE_CODES[2][2],
                                              rng.gamma(2.0, 25.0, (n, 12))) * fx, 0.0)
        del roam_hit
        call_hit = mobile & (rng.random((n, 12), dtype=np.float32)
                             < np.where(intl, np.float32(0.3), np.float32(0.05)))
        international = np.where(call_hit, rng.integers(5, 120, (n, 12)) * cat.USAGE_CODES[1][2] * fx, 0.0)
        del call_hit, mobile
        rows = np.flatnonzero(ln.active & ln.intl & ~ln.intl_unused)
        international[rows, force[rows]] += (rng.integers(5, 60, len(rows)) * cat.USAGE_CODES[1][2]
                                             * fx[rows, 0])
        rows = np.flatnonzero(ln.intl_unused)
        roaming[rows[:, None], np.arange(9, 12)[None, :]] = 0.0
        international[rows[:, None], np.arange(9, 12)[None, :]] = 0.0
        rows = np.flatnonzero(ln.roaming)
        roaming[rows, force[rows]] = rng.gamma(2.0, 25.0, len(rows)) * fx[rows, 0] + 5
        no_charges = np.repeat((ln.kind == IOT) & np.isin(ln.market, cat.IOT_DATA_ONLY_MARKETS), 12)
        periods = np.datetime_as_string(months.astype("datetime64[M]"), unit="M")
        self.emit("usage", _table("usage", {
            "line_id": self.line_ids.take(pa.array(np.repeat(np.arange(n), 12))),
            "period": _pick(periods, np.tile(np.arange(12), n)),
            "voice_minutes": voice,
            "data_mb": data_mb,
            "sms_count": sms,
            "roaming_charges": _num(roaming.ravel(), null=no_charges),
            "international_charges": _num(international.ravel(), null=no_charges),
            "overage_charges": _num(overage.ravel(), null=no_charges),
            "last_activity_on": last_activity,
        }))

    # -- calls ------------------------------------------------------------------------------
    def calls(self) -> None:
        """Five calls per line over two years, both parties placed as the CDR collectors place
        them from the numbers (country, and the state of a US number)."""
        rng = self.rng("calls")
        ln = self.ln
        weight = np.array([1.0, 0, 1.0, 1.5, 10.0, 0, 0, 8.0])[ln.kind] * ln.active
        quiet = (np.isin(ln.purpose, (DID_BLOCK, M2M, PAYMENT_TERMINAL, PFAX, STANDBY) + LIFE_SAFETY)
                 | ln.idle | ln.silent_gap | ln.idle_number | ln.unseen_number)
        weight[quiet] = 0
        n = 5 * ln.n
        # Every active voice number (a person's, shared or service number) took or made a call
        # lately: their holders' telephony licences are in use, and no number is idle. Planted
        # idle numbers have one call, 120 to 400 days ago, and no other.
        desk = np.flatnonzero(ln.active & np.isin(ln.kind, (LANDLINE, DID, TOLL_FREE))
                              & np.isin(ln.purpose, (-1, VOICE, SHARED, CONTACT_CENTRE))
                              & ~ln.unseen_number)
        line = np.r_[desk, rng.choice(ln.n, size=n - len(desk), p=weight / weight.sum())]
        opened = np.maximum(self.now_us - 730 * _US_PER_DAY, (ln.activated[line] + 1) * _US_PER_DAY)
        start = opened + (rng.random(n) * (self.now_us - opened)).astype(np.int64)
        start[:len(desk)] = self.now_us - rng.integers(3600, 60 * 86_400, len(desk)) * _US_PER_S
        idle_call = np.flatnonzero(ln.idle_number[desk])
        rng_p = self.rng("calls.planted")
        start[idle_call] = (self.now_us
                            - rng_p.integers(120 * 86_400, 400 * 86_400, len(idle_call)) * _US_PER_S)
        start -= start % _US_PER_S
        lately = np.zeros(n, bool)
        lately[:len(desk)] = True
        order = np.argsort(start, kind="stable")
        line, start, lately = line[order], start[order], lately[order]
        del order, opened

        direction = np.where(ln.kind[line] == TOLL_FREE, 1, rng.choice(3, n, p=(0.5, 0.4, 0.1)))
        direction[lately] = np.where(ln.kind[line[lately]] == TOLL_FREE, 1, rng.integers(0, 2, lately.sum()))
        # Telephony licences not needed: the DID took only internal calls in the last 90 days.
        direction[ln.internal_only[line] & (start >= self.now_us - 91 * _US_PER_DAY)] = 2
        remote = np.where(rng.random(n) < 0.85, ln.country[line], rng.integers(0, len(cat.REMOTES), n))
        # The add-ons planted as unused saw no call cross a border in the window either.
        home = ln.intl_unused[line] & (start >= _month_first(self.month - 3) * _US_PER_DAY)
        remote[home] = ln.country[line[home]]
        direction[home & (direction == 2)] = 0
        low = np.array([r[2] for r in cat.REMOTES], dtype=np.int64)
        high = np.array([r[3] for r in cat.REMOTES], dtype=np.int64)
        subscriber = low[remote] + (rng.random(n) * (high - low)[remote]).astype(np.int64)
        # US numbers called: a real area code, which gives the state.
        weights = np.array([a[2] for a in cat.US_AREAS], float)
        area = rng.choice(len(cat.US_AREAS), n, p=weights / weights.sum())
        to_us = remote == US
        subscriber = np.where(to_us, np.array([a[0] for a in cat.US_AREAS])[area] * 10_000_000
                              + rng.integers(2_000_000, 10_000_000, n), subscriber)
        remote_number = _join(_pick([r[1] for r in cat.REMOTES], remote), _text(subscriber))
        del subscriber
        remote_region = np.where(to_us, np.array([cat.US_STATES.index(a[1]) for a in cat.US_AREAS])[area], -1)
        del area
        outbound, inbound = direction == 0, direction == 1
        # A few callers withhold their number: neither party's place is then known.
        withheld = inbound & ~lately & (rng.random(n) < 0.01)
        people_lines = np.flatnonzero(ln.active & np.isin(ln.kind, (MOBILE, LANDLINE, DID)))
        other = people_lines[rng.integers(0, len(people_lines), n)]
        own_number = ln.number.take(pa.array(line))
        source = pc.if_else(pa.array(inbound), pc.if_else(pa.array(withheld), "anonymous", remote_number),
                            own_number)
        destination = pc.if_else(pa.array(outbound), remote_number,
                                 pc.if_else(pa.array(inbound), own_number,
                                            ln.number.take(pa.array(other))))
        del remote_number, own_number
        own_c, own_r = ln.country[line], ln.region[line]
        src_c = np.where(withheld, -1, np.where(inbound, remote, own_c))
        src_r = np.where(withheld, -1, np.where(inbound, remote_region, own_r))
        dst_c = np.select([outbound, inbound], [remote, own_c], ln.country[other])
        dst_r = np.select([outbound, inbound], [remote_region, own_r], ln.region[other])
        del other, own_c, own_r, remote_region
        disposition = rng.choice(4, n, p=(0.78, 0.14, 0.05, 0.03))
        disposition[lately] = 0
        answered = disposition == 0
        duration = np.where(answered, 5 + rng.gamma(1.3, 180.0, n), 0).astype(np.int64)
        billable = np.where(answered & outbound, -(-duration // 60) * 60, 0)
        per_minute = np.where(remote == ln.country[line], 0.02, 0.25) * FX[ln.currency[line]]
        cost = billable / 60 * per_minute
        self.cl = SimpleNamespace(n=n, line=line, start=start, answered=answered,
                                  src_c=src_c, src_r=src_r, dst_c=dst_c, dst_r=dst_r)
        self.call_ids = _ids("CALL-", n)
        countries = [r[0] for r in cat.REMOTES]
        self.call_columns = {
            "id": self.call_ids,
            "line_id": self.line_ids.take(pa.array(line)),
            "started_at": _stamps(start),
            "duration_s": _int(duration),
            "billable_s": _int(billable),
            "direction": _pick(("outbound", "inbound", "internal"), direction),
            "source": source,
            "destination": destination,
            "source_country": _pick(countries, np.maximum(src_c, 0), null=src_c < 0),
            "source_region": _pick(cat.US_STATES, np.maximum(src_r, 0), null=src_r < 0),
            "destination_country": _pick(countries, np.maximum(dst_c, 0), null=dst_c < 0),
            "destination_region": _pick(cat.US_STATES, np.maximum(dst_r, 0), null=dst_r < 0),
            "disposition": _pick(("answered", "no_answer", "busy", "failed"), disposition),
            "cost": _num(cost, decimals=4),
            "currency": _pick(CURRENCIES, ln.currency[line]),
        }
