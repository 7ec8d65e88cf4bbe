"""devices (one per phone line, SIM and desk number, plus tablets, room phones, spares) and
device_apps."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import catalogue as cat
from .catalogue import (
    DATA,
    DID,
    HOTSPOT,
    IOT,
    LANDLINE,
    MOBILE,
    SHARED,
    US,
    VOICE,
)
from .common import (
    _US_PER_DAY,
    _US_PER_S,
    _bool,
    _dates,
    _day,
    _distinct,
    _ids,
    _join,
    _luhn_imei,
    _pick,
    _pick_in_groups,
    _stamps,
    _table,
    _text,
    _tristate,
)


class Devices:
    """A part of the estate builder (builder.py). Reads people, lines and locations; leaves
    ``dev`` and ``device_ids``."""

    # -- devices ----------------------------------------------------------------------------
    def devices(self) -> None:
        """One device per phone line, IoT SIM and desk number, Wi-Fi tablets, a conference phone
        per meeting room and a few spares.

        Company devices in use are under three years old (bought, or for a few only enrolled,
        within that time), encrypted, locked, enrolled and compliant or in their grace period,
        and checked in today; desk phones sit at their user's office."""
        rng = self.rng("devices")
        ln, ppl = self.ln, self.ppl
        with_device = ((ln.kind == MOBILE) | (ln.kind == IOT)
                       | (np.isin(ln.kind, (LANDLINE, DID)) & (ln.purpose == VOICE))
                       | ((ln.kind == DID) & (ln.purpose == SHARED))) & ~ln.no_device & ~ln.no_device_tablet
        line = np.flatnonzero(with_device)
        # Wi-Fi tablets, never for the holders of a planted line without a device; always for
        # those whose phone line has no device of its own (undecidable: the SIM may be in it).
        no_tablet = np.zeros(ppl.n, bool)
        no_tablet[ln.holder[ln.no_device]] = True
        must = np.unique(ln.holder[ln.no_device_tablet])
        tablets = max(12, int(round(0.03 * ln.n)))
        pool = np.setdiff1d(np.flatnonzero(ppl.alive & ~no_tablet), must)
        tablet_people = np.r_[must, _distinct(rng, pool, tablets - len(must), "tablets")]
        rooms = np.flatnonzero(ppl.kind == cat.ROOM)
        spares = max(5, int(round(0.03 * ln.n)))
        n_line, n_tab, n_room = len(line), len(tablet_people), len(rooms)
        n = n_line + n_tab + n_room + spares
        lk, lp = ln.kind[line], ln.purpose[line]
        kind = np.select([lk == IOT, np.isin(lk, (LANDLINE, DID)), lp == DATA, lp == HOTSPOT],
                         [cat.IOT_DEVICE, cat.DESK_PHONE, cat.TABLET, cat.HOTSPOT_DEVICE], cat.SMARTPHONE)
        kind = np.r_[kind, np.full(n_tab, cat.TABLET), np.full(n_room, cat.DESK_PHONE),
                     np.full(spares, cat.SMARTPHONE)]
        current = np.array([not m[7] for m in cat.DEVICE_MODELS])
        current[cat.ROOM_PHONE] = False
        model = np.empty(n, np.int64)
        for k, name in enumerate(cat.DEVICE_KINDS):
            rows = np.flatnonzero(kind == k)
            ms = np.array([i for i, m in enumerate(cat.DEVICE_MODELS) if m[0] == name and current[i]])
            model[rows] = ms[rng.integers(0, len(ms), len(rows))]
        model[n_line + n_tab:n_line + n_tab + n_room] = cat.ROOM_PHONE

        # Status follows the line: a suspended line's phone is lost or back in the drawer; a
        # cancelled line's device is retired, unless a life-safety communicator still runs on it.
        line_status = ln.status[line]
        status = np.select([line_status == 0, line_status == 1],
                           [cat.IN_USE, np.where(rng.random(n_line) < 0.3, cat.LOST, cat.SPARE)], cat.RETIRED)
        status[ln.ls_device[line]] = cat.IN_USE
        status = np.r_[status, np.full(n_tab + n_room, cat.IN_USE), np.full(spares, cat.SPARE)]
        has_line = np.r_[np.ones(n_line, bool), np.zeros(n_tab + n_room + spares, bool)]
        line_of = np.r_[line, np.zeros(n_tab + n_room + spares, np.int64)]
        person = np.r_[np.maximum(ln.holder[line], 0), tablet_people, rooms, np.zeros(spares, np.int64)]
        # A leaver's device on a line nobody cancelled: the directory account is gone, so
        # MDM shows no user.
        assigned = (np.r_[(ln.holder[line] >= 0) & ~ln.leaver_line[line], np.ones(n_tab + n_room, bool),
                          np.zeros(spares, bool)] & (status != cat.SPARE))
        # A few spare phones went missing from the cupboard: lost, with no line on record.
        spare_rows = np.arange(n - spares, n)
        lost_spares = spare_rows[:max(1, spares // 20)]
        status[lost_spares] = cat.LOST
        in_use = status == cat.IN_USE
        handheld = (kind == cat.SMARTPHONE) | (kind == cat.TABLET)
        managed = handheld | (kind == cat.HOTSPOT_DEVICE)
        personal = in_use & (kind == cat.SMARTPHONE) & assigned & (rng.random(n) < 0.1)
        # Flags: 1 true, 0 false, -1 unknown. Desk phones and IoT modules are not in MDM. A lost
        # phone was controlled while in use (a gap on it is unencrypted-devices' finding); spare
        # and retired ones are not judged.
        controlled = in_use | (status == cat.LOST)
        flags = np.where(controlled[:, None], 1, (rng.random((n, 3)) < (0.7, 0.8, 0.8)).astype(np.int64))
        flags[~managed, :2] = -1
        flags[~managed, 2] = 0
        state = np.where(managed, np.where(in_use, cat.ST_COMPLIANT, cat.ST_UNKNOWN), -1)
        # The organisation's own grace period, and co-management, are not failures.
        draw = rng.random(n)
        state[managed & in_use & (draw < 0.04)] = cat.ST_GRACE
        state[managed & in_use & (draw >= 0.04) & (draw < 0.05)] = cat.ST_ELSEWHERE

        released = np.array([_day(m[6]) for m in cat.DEVICE_MODELS])[model]
        activated = np.r_[ln.activated[line], np.full(n_tab + n_room + spares, self.today - 900)]
        newest = np.maximum(released + 14, np.maximum(activated - 30, self.today - cat.REFRESH_DAYS))
        purchased = newest + (rng.random(n) * (self.today - 5 - newest)).astype(np.int64)
        not_used = ~in_use
        purchased[not_used] = np.maximum(released[not_used] + 14,
                                         self.today - rng.integers(60, 1400, not_used.sum()))
        # Enrolled in MDM a few days after purchase (a personal phone when its owner joined the
        # programme); Intune gives some company devices no purchase date, only the enrolment.
        enrolled = np.where(personal, self.today - rng.integers(30, 900, n),
                            np.minimum(purchased + rng.integers(0, 20, n), self.today))
        purchase_unknown = managed & ~personal & (rng.random(n) < 0.15)
        check_in = np.where(in_use, self.now_us - rng.integers(0, 72 * 3600, n) * _US_PER_S,
                            (self.today - rng.integers(20, 400, n)) * _US_PER_DAY
                            + rng.integers(0, 86_400, n) * _US_PER_S)
        office = np.r_[ln.office[line], ppl.office[tablet_people], ppl.office[rooms],
                       np.zeros(spares, np.int64)]
        e911 = np.where(kind == cat.DESK_PHONE, office, -1)
        version_of = np.array([0] + [len(m[3]) for m in cat.DEVICE_MODELS]).cumsum()
        version = version_of[model] + (rng.random(n) * np.diff(version_of)[model]).astype(np.int64)
        versions = [v for m in cat.DEVICE_MODELS for v in m[3]]

        # -- planted violations: each device breaks exactly one rule -------------------------
        rng = self.rng("devices.planted")
        rng_u = self.rng("devices.undecidable")
        ids = _ids("D-", n)
        clean = np.ones(n, bool)
        line_active = has_line & ln.active[line_of]
        is_person = assigned & ppl.person[person]
        us_user = is_person & (ppl.country[person] == US) & ~ppl.branch[person] & ~ppl.no_office[person]
        regulated = is_person & ppl.regulated[person]

        def plant(mask: np.ndarray, share: float, policy: str) -> np.ndarray:
            rows = self.plant(rng, np.flatnonzero(mask & clean), share, policy)
            clean[rows] = False
            self.record(policy, ids, rows)
            return rows

        def some(mask: np.ndarray, share: float) -> np.ndarray:
            rows = self.some(rng_u, np.flatnonzero(mask & clean), share)
            clean[rows] = False
            return rows

        def legacy(rows: np.ndarray, supported: bool) -> None:
            """An older model of the same kind; its OS below the floor unless ``supported``."""
            for k, name in enumerate(cat.DEVICE_KINDS):
                sel = rows[kind[rows] == k]
                ms = [i for i, m in enumerate(cat.DEVICE_MODELS) if m[0] == name and m[7]]
                if not len(sel):
                    continue
                pick = np.array(ms)[np.arange(len(sel)) % len(ms)]
                model[sel] = pick
                pool = [cat.DEVICE_MODELS[i][3] if supported else cat.DEVICE_MODELS[i][8] for i in pick]
                extra.extend(zip(sel, [p[j % len(p)] for j, p in enumerate(pool)], strict=True))

        extra: list[tuple[int, str]] = []
        rows = plant(in_use & handheld & regulated, 0.05, cat.OFF_CHANNEL)
        off_channel = rows
        rows = plant(in_use & (kind == cat.SMARTPHONE) & regulated & ~personal, 0.05, cat.BYOD)
        personal[rows] = True
        enrolled[rows] = self.today - rng.integers(30, 900, len(rows))
        byod_no_agent = rows
        rows = plant(in_use & handheld, 0.015, cat.UNENCRYPTED)
        flags[rows, np.arange(len(rows)) % 2] = 0  # MDM has no encryption rule for them
        rows = plant(in_use & handheld, 0.01, cat.NONCOMPLIANT)
        state[rows] = np.array([cat.ST_NONCOMPLIANT, cat.ST_ERROR, cat.ST_CONFLICT])[np.arange(len(rows)) % 3]
        rows = plant(in_use & handheld, 0.01, cat.OS_FLOOR)
        legacy(rows, supported=False)
        rows = plant(in_use & ~personal & handheld, 0.01, cat.REFRESH)
        legacy(rows[kind[rows] == cat.SMARTPHONE], supported=True)
        purchased[rows] = self.today - rng.integers(1200, 1900, len(rows))
        enrolled[rows] = purchased[rows] + rng.integers(0, 20, len(rows))
        purchase_unknown[rows] = np.arange(len(rows)) % 4 == 3  # aged by its enrolment
        iot_lines = line_active & (kind == cat.IOT_DEVICE)
        iot_lines[has_line] &= ~ln.taken[line] & ~ln.life_safety[line]
        rows = plant(in_use & iot_lines, 0.02, cat.LOST_BILLED)
        status[rows] = cat.LOST
        check_in[rows] = (self.today - rng.integers(20, 80, len(rows))) * _US_PER_DAY
        in_use = status == cat.IN_USE
        paid = line_active & (np.r_[ln.monthly_cost[line], np.zeros(n - n_line)] > 0)
        rows = plant(in_use & paid & managed & ~personal, 0.01, cat.STALE_MDM)
        check_in[rows] = ((self.today - rng.integers(95, 300, len(rows))) * _US_PER_DAY
                          + rng.integers(0, 86_400, len(rows)) * _US_PER_S)
        desk_us = in_use & (kind == cat.DESK_PHONE) & us_user & has_line
        # No location at all: a location elsewhere, even a rejected one, would also differ from
        # the user's office. Nor a line: a desk phone is located by its line's registration when
        # it has none of its own (every line of a US desk is registered at its keeper's office).
        unlocated = plant(desk_us, 0.03, cat.E911_DEVICE)
        e911[unlocated] = -1
        lineless = np.zeros(n, bool)
        lineless[unlocated] = True
        rows = plant(desk_us, 0.03, cat.E911_DIFFERS)
        # Registered at another US office: a different city, so a different address.
        us_good = np.flatnonzero(self.loc.country[:self.loc.good] == US)
        city = self.loc.city[office[rows]]
        for c in np.unique(city):
            elsewhere = us_good[self.loc.city[us_good] != c]
            sel = rows[city == c]
            e911[sel] = elsewhere[rng.integers(0, len(elsewhere), len(sel))]
        tablet_rows = np.arange(n_line, n_line + n_tab)
        rows = plant(np.isin(np.arange(n), tablet_rows) & in_use & ~np.isin(person, must), 0.1,
                     cat.LEAVER_DEVICE)
        person[rows] = _distinct(rng, np.flatnonzero(ppl.dated_leaver), len(rows), "leavers")
        office[rows] = ppl.office[person[rows]]

        # Undecidable, never found: an enrolled phone whose check-in time MDM does not export;
        # company phones with neither a purchase nor an enrolment date; an MDM state not yet
        # evaluated; an OS version not reported; no passcode flag (Graph gives none); regulated
        # staff's personal phones with no agent flag and no app inventory.
        check_null = np.zeros(n, bool)
        check_null[some(in_use & paid & managed & ~personal & (kind == cat.SMARTPHONE), 0.002)] = True
        rows = some(in_use & handheld & ~personal, 0.002)
        purchase_unknown[rows] = True
        enrolled[rows] = -1
        state[some(in_use & handheld, 0.002)] = cat.ST_UNKNOWN
        version[some(in_use & handheld, 0.002)] = -1
        flags[some(in_use & handheld, 0.005), 1] = -1
        no_inventory = some(in_use & (kind == cat.SMARTPHONE) & regulated & personal & ~np.isin(
            np.arange(n), byod_no_agent), 0.2)

        regulated = is_person & ppl.regulated[person]
        agent = np.where(in_use & handheld & regulated, 1, 0)
        agent[byod_no_agent] = 0
        # On personal phones the capture app is the agent; some inventories do not say more.
        capture = in_use & personal & regulated & (agent == 1) & ~np.isin(np.arange(n), no_inventory)
        agent[capture & (rng.random(n) < 0.3)] = -1
        agent[no_inventory] = -1
        self.dev = SimpleNamespace(n=n, handheld=handheld, assigned=assigned, regulated=regulated,
                                   off_channel=off_channel, capture=capture, no_inventory=no_inventory)
        if extra:
            sel, text = zip(*extra, strict=True)
            versions = versions + list(text)
            version[np.array(sel)] = len(versions) - len(text) + np.arange(len(text))

        tac = np.array([m[4] or 0 for m in cat.DEVICE_MODELS], dtype=np.int64)[model]
        # Serial numbers are a permutation of the row number: unique, yet not in sequence.
        idx = np.arange(n, dtype=np.int64)
        body = (tac + idx // 1_000_000) * 1_000_000 + (idx * 7_919 + 123_457) % 1_000_000
        serial = (idx * 7_919 + 4_815_162) % 100_000_000
        self.device_ids = ids
        self.emit("devices", _table("devices", {
            "id": ids,
            "kind": _pick(cat.DEVICE_KINDS, kind),
            "fixed": _bool(kind == cat.DESK_PHONE),
            "serial": _join(_pick([m[5] for m in cat.DEVICE_MODELS], model),
                            pc.utf8_lpad(_text(serial), width=8, padding="0")),
            "imei": pc.if_else(pa.array(tac > 0), _text(_luhn_imei(body)),
                               pa.scalar(None, pa.string())),
            "model": _pick([m[1] for m in cat.DEVICE_MODELS], model),
            "os": _pick([m[2] for m in cat.DEVICE_MODELS], model),
            "os_version": _pick(versions, np.maximum(version, 0), null=version < 0),
            "assigned_to": self.person_ids.take(pa.array(person, mask=~assigned)),
            "line_id": self.line_ids.take(pa.array(line_of,
                                                   mask=~has_line | (status == cat.SPARE) | lineless)),
            "ownership": _pick(("company", "personal"), personal.astype(np.int64)),
            "status": _pick(cat.DEVICE_STATUSES, status),
            "mdm_enrolled": _tristate(flags[:, 2]),
            "compliance_state": _pick(cat.COMPLIANCE_STATES, np.maximum(state, 0), null=state < 0),
            "encrypted": _tristate(flags[:, 0]),
            "passcode_set": _tristate(flags[:, 1]),
            "archiving_agent": _tristate(agent),
            # A personal phone's purchase is the owner's business.
            "purchased_on": _dates(purchased, null=personal | purchase_unknown),
            "enrolled_on": _dates(enrolled, null=~managed | (enrolled < 0)),
            "last_check_in_at": _stamps(check_in, null=check_null),
            "e911_location_id": self.loc_ids.take(pa.array(np.maximum(e911, 0), mask=e911 < 0)),
        }))

    # -- device_apps ------------------------------------------------------------------------
    def device_apps(self) -> None:
        rng = self.rng("device_apps")
        dev = self.dev
        eligible = dev.handheld & dev.assigned & ~np.isin(np.arange(dev.n), dev.no_inventory)
        device_parts, app_parts = [], []
        for a, (_, _, _, share, approved) in enumerate(cat.APPS):
            mask = eligible & (rng.random(dev.n) < share)
            if not approved:
                mask &= ~dev.regulated  # regulated staff keep these off, except where planted
            rows = np.flatnonzero(mask)
            device_parts.append(rows)
            app_parts.append(np.full(len(rows), a))
        device_parts.append(np.flatnonzero(dev.capture))
        app_parts.append(np.full(int(dev.capture.sum()), cat.CAPTURE_APP))
        device_parts.append(dev.off_channel)
        app_parts.append(np.array(cat.UNAPPROVED_APPS)[np.arange(len(dev.off_channel))
                                                      % len(cat.UNAPPROVED_APPS)])
        device = np.concatenate(device_parts)
        app = np.concatenate(app_parts)
        order = np.lexsort((app, device))
        device, app = device[order], app[order]
        # A planted app may already be there: one row per device and app.
        keep = np.r_[True, (device[1:] != device[:-1]) | (app[1:] != app[:-1])]
        device, app = device[keep], app[keep]
        versions = [v for a in cat.APPS for v in a[2]]
        v_count = np.array([len(a[2]) for a in cat.APPS])
        version = _pick_in_groups(rng, app, np.r_[0, np.cumsum(v_count)[:-1]], v_count)
        self.emit("device_apps", _table("device_apps", {
            "device_id": self.device_ids.take(pa.array(device)),
            "app_id": _pick([a[0] for a in cat.APPS], app),
            "name": _pick([a[1] for a in cat.APPS], app),
            "version": _pick(versions, version),
        }))
