"""e911_locations: validated offices, locations an E911 audit rejects, unreported branches."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import catalogue as cat
from .catalogue import (
    COUNTRIES,
    COUNTRY_P,
    US,
)
from .common import (
    _exact,
    _ids,
    _join,
    _pick,
    _pick_in_groups,
    _table,
    _text,
    _tristate,
)


class Locations:
    """A part of the estate builder (builder.py). Leaves ``loc`` (offices per country) and
    ``loc_ids`` for people, lines and devices."""

    # -- e911_locations ---------------------------------------------------------------------
    def locations(self) -> None:
        """Validated offices in every city; a few locations an E911 audit rejects (half of them
        in the US); and a few US branch offices whose validation or dispatchability the
        emergency-location service does not report (single-storey, no floor or room)."""
        rng = self.rng("e911_locations")
        good = max(len(COUNTRIES) * 3, self.n // 200)
        bad = max(8, self.n // 5000)
        unreported = max(2, self.n // 50_000)
        n = good + bad + unreported
        bad_country = np.where(np.arange(bad) % 4 < 2, US, _exact(rng, bad, COUNTRY_P))
        country = np.concatenate([
            np.sort(_exact(rng, good, COUNTRY_P, minimum=[3] * len(COUNTRIES))),
            bad_country, np.full(unreported, US)])
        cities = [(c, *city) for c in COUNTRIES for city in cat.CITIES[c]]
        city_start = np.cumsum([0] + [len(cat.CITIES[c]) for c in COUNTRIES])[:-1]
        city_count = np.array([len(cat.CITIES[c]) for c in COUNTRIES])
        # Validated offices take the country's cities in turn, so every city has one.
        city = np.empty(n, np.int64)
        rank = np.arange(good) - np.searchsorted(country[:good], country[:good])
        city[:good] = city_start[country[:good]] + rank % city_count[country[:good]]
        city[good:] = _pick_in_groups(rng, country[good:], city_start, city_count)
        postal_of = [p for c in cities for p in c[3]]
        postal_start = np.cumsum([0] + [len(c[3]) for c in cities])[:-1]
        postal = _pick_in_groups(rng, city, postal_start, np.array([len(c[3]) for c in cities]))
        street_of = [s for c in cities for s in c[4]]
        street_start = np.cumsum([0] + [len(c[4]) for c in cities])[:-1]
        street = _pick_in_groups(rng, city, street_start, np.array([len(c[4]) for c in cities]))
        number = _text(rng.integers(1, 400, n))
        street_text = _pick(street_of, street)
        address = pc.if_else(pa.array(country == COUNTRIES.index("DE")),
                             _join(street_text, " ", number), _join(number, " ", street_text))
        validated = np.ones(n, np.int64)
        dispatchable = np.ones(n, np.int64)
        # The ``bad`` locations after the good ones are those an E911 audit would reject: every
        # other one not validated, the others not dispatchable; US ones at positions 0 and 1 of 4.
        validated[good:good + bad:2] = 0
        dispatchable[good + 1:good + bad:2] = 0
        # Branch offices: dispatchability not reported; the first not yet validated either.
        branch = np.arange(good + bad, n)
        dispatchable[branch] = -1
        validated[branch[0]] = -1
        floor = np.where(np.arange(n) >= good + bad, -1, rng.integers(1, 45, n))
        room = np.where((rng.random(n) < 0.1) & (floor >= 0), rng.integers(0, 2, n), -1)
        self.loc = SimpleNamespace(
            n=n, good=good, country=country, city=city,
            # validated locations per country, contiguous because ``country`` is sorted there
            start=np.searchsorted(country[:good], np.arange(len(COUNTRIES))),
            count=np.bincount(country[:good], minlength=len(COUNTRIES)),
            not_validated_us=good + np.flatnonzero(np.arange(bad) % 4 == 0),
            not_dispatchable_us=good + np.flatnonzero(np.arange(bad) % 4 == 1),
            branch=branch)
        self.loc_ids = _ids("LOC-", n)
        self.emit("e911_locations", _table("e911_locations", {
            "id": self.loc_ids,
            "address": address,
            "floor": _pick([str(f) for f in range(45)], np.maximum(floor, 0), null=floor < 0),
            "room": _pick(["Trading Floor", "Server Room"], np.maximum(room, 0), null=room < 0),
            "city": _pick([c[1] for c in cities], city),
            "region": _pick([c[2] for c in cities], city),
            "country": _pick(COUNTRIES, country),
            "postal_code": _pick(postal_of, postal),
            "validated": _tristate(validated),
            "dispatchable": _tristate(dispatchable),
        }))
