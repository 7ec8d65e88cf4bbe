"""people: employees and contractors, Teams Phone resource accounts, meeting rooms."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import catalogue as cat
from .catalogue import (
    ACTIVE,
    COUNTRIES,
    COUNTRY_P,
    DEPARTMENTS,
    DEPT,
    PERSON,
    SCOPE_SETS,
    TERMINATED,
    US,
)
from .common import (
    _ascii,
    _dates,
    _exact,
    _ids,
    _join,
    _lists,
    _pick,
    _pick_in_groups,
    _rank_in_groups,
    _table,
    _text,
)


class People:
    """A part of the estate builder (builder.py). Reads ``loc``; leaves ``ppl`` and
    ``person_ids`` for lines, records, devices and licenses."""

    # -- people -----------------------------------------------------------------------------
    def people(self) -> None:
        """Employees and contractors from HR; then the directory's other accounts: Teams Phone
        resource accounts (auto attendants and call queues) and meeting rooms."""
        rng = self.rng("people")
        n = int(round(0.8 * self.n))
        dept = _exact(rng, n, [d[1] for d in DEPARTMENTS])
        country = np.empty(n, np.int64)
        status = np.empty(n, np.int64)
        for d in range(len(DEPARTMENTS)):
            rows = np.flatnonzero(dept == d)
            country[rows] = _exact(rng, len(rows), COUNTRY_P)
            status[rows] = _exact(rng, len(rows), (0.90, 0.03, 0.07))
        scopes = np.zeros(n, np.int64)
        for c, name in enumerate(COUNTRIES):
            rows = np.flatnonzero((dept == DEPT["Trading"]) & (country == c))
            choices, shares = cat.TRADER_SCOPES[name]
            scopes[rows] = np.array(choices)[_exact(rng, len(rows), shares)]
        cs = np.flatnonzero(dept == DEPT["Customer Service"])
        scopes[cs[rng.random(len(cs)) < 0.3]] = SCOPE_SETS.index(("pci",))
        hr = np.flatnonzero(dept == DEPT["HR"])
        scopes[hr[rng.random(len(hr)) < 0.1]] = SCOPE_SETS.index(("hipaa",))
        platform = _exact(rng, n, cat.PLATFORM_P)

        # Terminations keep well clear of any leaver grace period.
        terminated = status == TERMINATED
        terminated_on = self.today - rng.integers(45, 730, n)
        hired_on = np.where(terminated, terminated_on - rng.integers(90, 4000, n),
                            self.today - rng.integers(60, 6000, n))
        cost_center = 1000 + dept * 100 + rng.integers(0, cat.COST_CENTRES_PER_DEPT, n)
        office = _pick_in_groups(rng, country, self.loc.start, self.loc.count)
        rng_u = self.rng("people.unreported")
        # A few leavers whose directory account was disabled without the HR termination date.
        no_date = self.some(rng_u, np.flatnonzero(terminated & (dept != DEPT["Trading"])), 0.03)
        # A few US staff in branch offices the emergency-location service does not fully
        # report, and a few whose office HR does not record (Graph does not map it).
        us_staff = np.flatnonzero((country == US) & ~terminated & (dept != DEPT["Trading"])
                                  & (dept != DEPT["Facilities"]))
        branch = self.some(rng_u, us_staff, 0.004)
        office[branch] = self.loc.branch[np.arange(len(branch)) % len(self.loc.branch)]
        no_office = self.some(rng_u, np.setdiff1d(us_staff, branch), 0.002)

        first = rng.integers(0, len(cat.FIRST_NAMES), n)
        last = rng.integers(0, len(cat.LAST_NAMES), n)
        # Emails are unique: a repeated first.last gets a number, as directories do.
        rank = _rank_in_groups(first * len(cat.LAST_NAMES) + last)
        suffix = pc.if_else(pa.array(rank == 0), "", _text(rank + 1))
        local = [_ascii(x) for x in cat.FIRST_NAMES], [_ascii(x) for x in cat.LAST_NAMES]
        email = _join(_pick(local[0], first), ".", _pick(local[1], last), suffix, "@example.com")
        name = _join(_pick(cat.FIRST_NAMES, first), " ", _pick(cat.LAST_NAMES, last))

        roles = [r for d in DEPARTMENTS for r in d[2]]
        role_start = np.cumsum([0] + [len(d[2]) for d in DEPARTMENTS])[:-1]
        role = _pick_in_groups(rng, dept, role_start, np.array([len(d[2]) for d in DEPARTMENTS]))

        # Resource accounts (a queue per service number, roughly) and meeting rooms.
        rng_d = self.rng("people.directory")
        n_ra = max(6, int(round(0.012 * self.n)))
        n_room = max(2, int(round(0.003 * self.n)))
        k = np.r_[np.full(n_ra, cat.RESOURCE_ACCOUNT), np.full(n_room, cat.ROOM)]
        m = len(k)
        d_country = _exact(rng_d, m, COUNTRY_P, minimum=[1] * len(COUNTRIES))
        d_office = _pick_in_groups(rng_d, d_country, self.loc.start, self.loc.count)
        d_dept = np.where(k == cat.RESOURCE_ACCOUNT, DEPT["Customer Service"], DEPT["Facilities"])
        d_cost = 1000 + d_dept * 100
        ra_name = np.arange(n_ra) % len(cat.RESOURCE_ACCOUNTS)
        ra_no = np.arange(n_ra) // len(cat.RESOURCE_ACCOUNTS) + 1
        seq = _text(np.arange(1, m + 1))
        d_city = _pick([c[0] for cc in COUNTRIES for c in cat.CITIES[cc]], self.loc.city[d_office])
        d_name = pc.if_else(
            pa.array(k == cat.RESOURCE_ACCOUNT),
            _join(_pick(cat.RESOURCE_ACCOUNTS, np.r_[ra_name, np.zeros(n_room, np.int64)]), " ",
                  _text(np.r_[ra_no, np.zeros(n_room, np.int64)])),
            _join("Meeting Room ", seq, " (", d_city, ")"))
        d_email = pc.if_else(pa.array(k == cat.RESOURCE_ACCOUNT), _join("cq", seq, "@example.com"),
                             _join("room", seq, "@example.com"))

        total = n + m
        self.ppl = SimpleNamespace(
            n=total, n_person=n, kind=np.r_[np.full(n, PERSON), k],
            dept=np.r_[dept, d_dept], country=np.r_[country, d_country],
            status=np.r_[status, np.full(m, ACTIVE)], scopes=np.r_[scopes, np.zeros(m, np.int64)],
            terminated_on=np.r_[terminated_on, np.zeros(m, np.int64)],
            hired_on=np.r_[hired_on, np.zeros(m, np.int64)],
            cost_center=np.r_[cost_center, d_cost], office=np.r_[office, d_office],
            platform=np.r_[platform, np.zeros(m, np.int64)],
            no_date=np.r_[np.isin(np.arange(n), no_date), np.zeros(m, bool)])
        ppl = self.ppl
        ppl.person = ppl.kind == PERSON
        ppl.alive = ppl.person & (ppl.status != TERMINATED)
        ppl.dated_leaver = ppl.person & (ppl.status == TERMINATED) & ~ppl.no_date
        ppl.regulated = cat.SCOPE_REGULATED[ppl.scopes]
        ppl.mifid = cat.SCOPE_MIFID[ppl.scopes]
        ppl.cftc = cat.SCOPE_CFTC[ppl.scopes]
        ppl.hipaa = cat.SCOPE_HIPAA[ppl.scopes]
        ppl.branch = np.isin(np.arange(total), branch)
        ppl.no_office = np.isin(np.arange(total), no_office)
        self.person_ids = _ids("P-", total)
        person_kind = ppl.kind == PERSON
        emails = pa.concat_arrays([email, d_email])
        self.emit("people", _table("people", {
            "id": self.person_ids,
            "name": pa.concat_arrays([name, d_name]),
            "kind": _pick(cat.PEOPLE_KINDS, ppl.kind),
            "email": emails,
            "employee_id": pc.if_else(pa.array(person_kind),
                                      _join("E", _text(100_000 + np.arange(total))),
                                      pa.scalar(None, pa.string())),
            "upn": emails,
            "department": _pick([d[0] for d in DEPARTMENTS], np.r_[dept, d_dept],
                                null=np.r_[np.zeros(n, bool), k == cat.RESOURCE_ACCOUNT]),
            "cost_center": _join("CC-", _text(ppl.cost_center)),
            "legal_entity": _pick(cat.LEGAL_ENTITIES, np.array(cat.COUNTRY_LEGAL_ENTITY)[ppl.country]),
            "country": _pick(COUNTRIES, ppl.country),
            "office_location_id": self.loc_ids.take(pa.array(
                ppl.office, mask=np.r_[np.isin(np.arange(n), no_office), k == cat.RESOURCE_ACCOUNT])),
            "status": _pick(cat.PERSON_STATUSES, ppl.status),
            "hired_on": _dates(ppl.hired_on, null=~person_kind),
            "terminated_on": _dates(ppl.terminated_on, null=~ppl.dated_leaver),
            "regulatory_scopes": _lists(SCOPE_SETS, ppl.scopes),
            "role": _pick(roles, np.r_[role, np.zeros(m, np.int64)], null=~person_kind),
        }), keep=("id", "cost_center"))
