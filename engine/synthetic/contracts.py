"""Carrier and vendor contracts, accounts and rates (the contracts table is written by
billing.py, since commitments follow spend)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pyarrow as pa

from . import catalogue as cat
from .catalogue import (
    COUNTRIES,
    COUNTRY_P,
    CURRENCIES,
    FX,
    MARKETS,
    PLANS,
)
from .common import (
    _dates,
    _ids,
    _int,
    _month_first,
    _num,
    _pick,
    _rank_in_groups,
    _table,
    _text,
)


class Contracts:
    """A part of the estate builder (builder.py). Leaves ``con``, ``acct``, ``rates`` and
    their ids for lines and billing."""

    # -- contracts, accounts, rates ---------------------------------------------------------
    def contracts(self) -> None:
        """Carrier contracts (a few accounts each), vendor contracts, accounts and rates.

        The contracts table itself is written by ``billing()``: commitments follow spend.
        """
        rng = self.rng("contracts")
        markets = len(MARKETS)
        market_currency = np.array([cat.COUNTRY_CURRENCY[COUNTRIES.index(c)] for _, c in MARKETS])
        weight = np.array([COUNTRY_P[COUNTRIES.index(c)] * w
                           for (_, c), w in zip(MARKETS, cat.MARKET_WEIGHT, strict=True)])
        wanted = max(markets * cat.MIN_ACCOUNTS_PER_MARKET, self.n // 2500)
        per_market = np.maximum(cat.MIN_ACCOUNTS_PER_MARKET,
                                np.round(weight / weight.sum() * wanted)).astype(np.int64)
        contracts_per_market = np.maximum(2, -(-per_market // cat.ACCOUNTS_PER_CONTRACT))
        carrier = int(contracts_per_market.sum())
        c_market = np.repeat(np.arange(markets), contracts_per_market)
        n = carrier + len(cat.VENDOR_CONTRACTS)
        currency = np.r_[market_currency[c_market], [CURRENCIES.index(c) for _, c in cat.VENDOR_CONTRACTS]]
        started = self.today - rng.integers(420, 1400, n)
        term = rng.choice([730, 1095], n)
        auto_renew = rng.random(n) < 0.6
        notice = rng.choice([30, 60, 90], n)
        # Terms roll on a year at a time; an auto-renewing term's notice deadline is more than
        # the policy's 90 days of warning away (the contracts due for renewal are planted).
        first_end = started + term
        floor = self.today + np.where(auto_renew, notice + 90 + 25, 20)
        ends = first_end + np.maximum(0, -(-(floor - first_end) // 365)) * 365

        rng_p = self.rng("contracts.planted")
        taken = np.zeros(n, bool)
        # Ended before the latest invoiced month, not renewed, still billed.
        out = self.plant(rng_p, np.arange(carrier), 0.03, cat.OUT_OF_CONTRACT)
        taken[out] = True
        auto_renew[out] = False
        ends[out] = self.inv_first[-1] - rng_p.integers(20, 60, len(out))
        renew = self.plant(rng_p, np.flatnonzero(~taken), 0.03, cat.AUTO_RENEWAL)
        taken[renew] = True
        auto_renew[renew] = True
        ends[renew] = self.today + notice[renew] + rng_p.integers(-notice[renew] + 7, 90 - 7)
        shortfall = self.plant(rng_p, np.flatnonzero(~taken[:carrier]), 0.03, cat.SHORTFALL)
        self.contract_ids = _ids("CON-", n, 3)
        self.record(cat.AUTO_RENEWAL, self.contract_ids, renew)
        self.record(cat.SHORTFALL, self.contract_ids, shortfall)

        # Rates: each carrier contract has its own discount and was re-priced once; half of
        # them inside the invoiced months, so the effective-date lookup matters.
        codes = len(cat.CHARGE_CODES)
        list_price = np.array([p[3] for p in PLANS] + [u[2] for u in cat.USAGE_CODES])
        decimals = np.array([2] * len(PLANS) + [2, 4, 2])
        cur = currency[:carrier]
        discount = rng.uniform(0.82, 0.97, carrier)
        new = (list_price[None, :] * FX[cur][:, None] * discount[:, None]
               * rng.uniform(0.97, 1.03, (carrier, codes)))
        old = new * rng.uniform(1.04, 1.12, (carrier, codes))
        new = np.where(decimals == 4, np.round(new, 4), np.round(new, 2))
        old = np.where(decimals == 4, np.round(old, 4), np.round(old, 2))
        change_month = np.where(rng.random(carrier) < 0.5, self.inv_months[1],
                                self.month - rng.integers(8, 14, carrier))
        started_month = started[:carrier].astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)
        change = _month_first(np.maximum(change_month, started_month + 2))
        self.rates = SimpleNamespace(new=new, old=old, change=change, currency=cur)

        c = np.repeat(np.arange(carrier), codes)
        k = np.tile(np.arange(codes), carrier)
        units = [None] * len(PLANS) + [u[3] for u in cat.USAGE_CODES]
        unit = np.array([-1 if u is None else i for i, u in enumerate(units)])[k]
        unit_vocab = ["" if u is None else u for u in units]

        def both(old_rows: np.ndarray, new_rows: np.ndarray) -> np.ndarray:
            return np.concatenate([old_rows, new_rows])

        self.emit("rates", _table("rates", {
            "contract_id": self.contract_ids.take(pa.array(both(c, c))),
            "charge_code": _pick(cat.CHARGE_CODES, both(k, k)),
            "unit_rate": _num(both(old[c, k], new[c, k]), decimals=4),
            "currency": _pick(CURRENCIES, both(cur[c], cur[c])),
            "unit": _pick(unit_vocab, both(np.maximum(unit, 0), np.maximum(unit, 0)),
                          null=both(unit < 0, unit < 0)),
            "effective_from": _dates(both(started[c], change[c])),
            "effective_to": _dates(both(change[c] - 1, change[c]),
                                   null=both(np.zeros(len(c), bool), np.ones(len(c), bool))),
        }))

        rng = self.rng("accounts")
        market = np.repeat(np.arange(markets), per_market)
        na = len(market)
        rank = _rank_in_groups(market)
        c_start = np.r_[0, np.cumsum(contracts_per_market)[:-1]]
        contract = c_start[market] + rank % contracts_per_market[market]
        self.acct = SimpleNamespace(n=na, market=market, contract=contract,
                                    start=np.r_[0, np.cumsum(per_market)[:-1]], count=per_market,
                                    currency=market_currency[market],
                                    window=rng.choice([60, 90, 120, 180], na, p=(0.5, 0.3, 0.1, 0.1)))
        self.con = SimpleNamespace(n=n, carrier=carrier, market=c_market, currency=currency,
                                   started=started, ends=ends, auto_renew=auto_renew, notice=notice,
                                   shortfall=shortfall)
        self.account_ids = _ids("ACC-", na)
        self.record(cat.OUT_OF_CONTRACT, self.account_ids, np.flatnonzero(np.isin(contract, out)))
        self.account_numbers = _text(rng.integers(100_000_000, 999_999_999, na))
        self.emit("accounts", _table("accounts", {
            "id": self.account_ids,
            "vendor": _pick([v for v, _ in MARKETS], market),
            "account_number": self.account_numbers,
            "contract_id": self.contract_ids.take(pa.array(contract)),
            "currency": _pick(CURRENCIES, market_currency[market]),
            "legal_entity": _pick(cat.LEGAL_ENTITIES, np.array(
                [cat.COUNTRY_LEGAL_ENTITY[COUNTRIES.index(c)] for _, c in MARKETS])[market]),
            "dispute_window_days": _int(self.acct.window),
        }))
