"""A carrier's 811 profile: how its bills say what they say.

Carriers follow the OBF/ATIS EDI Telecommunications Billing (ETB) guidelines but differ in
their hierarchical level codes, reference qualifiers and charge codes. What differs is data:
the default below follows the ETB use of the X12 code lists (HL03, element 735: 1 service or
billing provider, 2 billing arrangement, 3 sub-billing arrangement, 4 group, 5 category,
6 sub-category, 7 type, 8 charge detail, 9 line detail), and a source's ``profile`` setting
replaces any of its keys (docs/collectors/x12-811.md, "Profile").
"""

from __future__ import annotations

import re
import typing as t
from dataclasses import dataclass

from dialtone.engine.errors import ConfigError

#: What an HL level means to Dialtone: ``account`` (a billing account: its REF names it),
#: ``service`` (a service or line: its REF or SI names the number), anything else a grouping.
ROLES = ("provider", "account", "service", "group")
CHARGE_TYPES = ("recurring", "usage", "one_time", "tax", "surcharge", "late_fee", "credit")

DEFAULT_PROFILE: dict[str, t.Any] = {
    # HL03 → role.
    "levels": {"1": "provider", "2": "account", "3": "account", "4": "group", "5": "group",
               "6": "group", "7": "group", "8": "group", "9": "service"},
    # REF01 (element 128) naming the billing account: 12 billing account, 11 account number,
    # 14 master account number.
    "account_qualifiers": ["12", "11", "14"],
    # REF01, or an SI qualifier (SI02, SI04, …), naming the service's telephone number or
    # circuit: TN telephone number, CT circuit (ETB's SI*TI pairs).
    "service_qualifiers": ["TN"],
    # REF01 of the dispute reference a carrier quotes on a credit or adjustment.
    "dispute_qualifiers": ["CR"],
    # IT1/SLN product/service ID qualifiers (element 235) that carry the charge code, in order of
    # preference: SV service rendered, VN vendor's item number, ZZ mutually defined.
    "charge_code_qualifiers": ["SV", "VN", "ZZ"],
    # AMT01 of the billed amount of an item (IT1, LX): 1 line item total.
    "amount_qualifiers": ["1"],
    # DTM01 of the period's first and last day: 186/187 invoice period, 150/151 service period.
    "period_start": ["186", "150"],
    "period_end": ["187", "151"],
    # IT103/SLN05 units of measure (element 355) that make a charge usage: MJ minutes, HR hours.
    "usage_units": ["MJ", "HR"],
    # An AMT with an amount qualifier in an LX (service) loop is a charge of that service.
    "service_amounts": True,
    # The carrier's charge codes (IT1/SLN code, TXI01, ITA03, SAC02) → charge type.
    "charge_types": {},
    # Regular expressions (case-insensitive) on the description → charge type, tried in order
    # after charge_types.
    "description_types": {
        r"\blate (payment )?(fee|charge)": "late_fee",
        r"\b(install(ation)?|activation|one[- ]time|non[- ]recurring|set[- ]?up)\b": "one_time",
        r"\bsurcharge": "surcharge",
        r"\busage\b|\bminutes?\b|\bcalls?\b": "usage",
    },
}


@dataclass(frozen=True)
class Profile:
    levels: dict[str, str]
    account_qualifiers: tuple[str, ...]
    service_qualifiers: tuple[str, ...]
    dispute_qualifiers: tuple[str, ...]
    charge_code_qualifiers: tuple[str, ...]
    amount_qualifiers: frozenset[str]
    period_start: frozenset[str]
    period_end: frozenset[str]
    usage_units: frozenset[str]
    service_amounts: bool
    charge_types: dict[str, str]
    description_types: tuple[tuple[re.Pattern[str], str], ...]

    def type_of(self, code: str | None, description: str | None, negative: bool = False) -> str | None:
        """The charge type the carrier's code says, else (for an amount billed, not credited)
        the first description pattern that matches; None when neither decides."""
        if code and code in self.charge_types:
            return self.charge_types[code]
        if negative:   # a reversed late fee is a credit, whatever its description says
            return "credit"
        if description:
            for pattern, kind in self.description_types:
                if pattern.search(description):
                    return kind
        return None


_LIST = {"type": "array", "items": {"type": "string", "minLength": 1}}
#: The ``profile`` setting's schema: any of the default's keys.
PROFILE_SCHEMA = {
    "type": "object", "additionalProperties": False,
    "description": "The carrier's 811 conventions; a key given replaces the default's",
    "properties": {
        "levels": {"type": "object", "additionalProperties": {"enum": list(ROLES)},
                   "description": "HL03 level code → provider, account, service or group"},
        "account_qualifiers": {**_LIST, "description": "REF01 qualifiers naming the billing account"},
        "service_qualifiers": {**_LIST, "description": "REF01 or SI qualifiers naming a service number"},
        "dispute_qualifiers": {**_LIST, "description": "REF01 qualifiers of a dispute reference"},
        "charge_code_qualifiers": {**_LIST, "description": "IT1/SLN product ID qualifiers of the "
                                                             "charge code, preferred first"},
        "amount_qualifiers": {**_LIST, "description": "AMT01 qualifiers of an item's billed amount"},
        "period_start": {**_LIST, "description": "DTM01 qualifiers of a period's first day"},
        "period_end": {**_LIST, "description": "DTM01 qualifiers of a period's last day"},
        "usage_units": {**_LIST, "description": "IT103/SLN05 units of measure of usage"},
        "service_amounts": {"type": "boolean",
                            "description": "an AMT in an LX loop is a charge of that service"},
        "charge_types": {"type": "object", "additionalProperties": {"enum": list(CHARGE_TYPES)},
                         "description": "charge code → charge type"},
        "description_types": {"type": "object", "additionalProperties": {"enum": list(CHARGE_TYPES)},
                              "description": "regular expression on the description → charge type"},
    },
}


def load_profile(source: str, settings: dict | None) -> Profile:
    """The default profile with the source's keys in place of the default's."""
    p = {**DEFAULT_PROFILE, **(settings or {})}
    patterns = []
    for text, kind in p["description_types"].items():
        try:
            patterns.append((re.compile(text, re.IGNORECASE), kind))
        except re.error as exc:
            raise ConfigError(f"sources.{source}.profile.description_types: '{text}' is not a regular "
                              f"expression: {exc}") from None
    return Profile(
        levels=dict(p["levels"]),
        account_qualifiers=tuple(p["account_qualifiers"]),
        service_qualifiers=tuple(p["service_qualifiers"]),
        dispute_qualifiers=tuple(p["dispute_qualifiers"]),
        charge_code_qualifiers=tuple(p["charge_code_qualifiers"]),
        amount_qualifiers=frozenset(p["amount_qualifiers"]),
        period_start=frozenset(p["period_start"]),
        period_end=frozenset(p["period_end"]),
        usage_units=frozenset(p["usage_units"]),
        service_amounts=bool(p["service_amounts"]),
        charge_types=dict(p["charge_types"]),
        description_types=tuple(patterns),
    )
