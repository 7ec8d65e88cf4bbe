"""Phone numbers: parsed with ``phonenumbers`` (Google's libphonenumber) into E.164, and placed.

Sources write one number many ways: ``(312) 555-0100`` in a US carrier's export,
``+1 312 555 0100 x123`` in a directory, ``0034688886392``, ``+34688886392`` and
``34688886392`` in one FreeSWITCH file. ``normalise_numbers`` turns each into its
E.164 form (``+13125550100``), reading national forms in the source's default region
(ISO 3166 alpha-2, the ``default_region`` setting of the collectors that take one).

- A value already in strict E.164 form is kept without asking the library (the
  common case: a set-based filter over the distinct values).
- The other distinct values are parsed once each — never once per row — and the
  answers are spread back over the rows with Arrow's ``index_in``/``take``.
- An extension (``x123``, ``ext. 123``, ``;ext=123``) is dropped: no field of the
  estate model stores one, and a line is matched by its number.
- A short internal extension (3 to 6 digits) is not a number and stays as written,
  as does anything that is not a complete number (``anonymous``, ``s``, a number too
  short for its country): validation and identity resolution then report it.
- ``00`` and ``011`` are read as international prefixes when the region's own
  reading gives no complete number (``0044 20 7123 4567`` in a US file is London).

``number_places`` gives an E.164 number's country (ISO 3166 alpha-2) and, for the
US and Canada, its state or province as a two-letter code, from the library's
geocoder (``Chicago, IL`` → ``IL``; ``Massachusetts`` → ``MA``).
"""

from __future__ import annotations

import re
import typing as t

import phonenumbers
import pyarrow as pa
import pyarrow.compute as pc
from phonenumbers import geocoder

from .errors import ConfigError

#: A strict E.164 number: what ``lines.number`` must be, and what needs no parsing.
E164 = r"^\+[1-9][0-9]{1,14}$"
#: Internal extensions (and feature codes such as *97): not phone numbers.
SHORT_EXTENSION = re.compile(r"[*#]?[0-9]{3,6}")
_SIP = re.compile(r"^sips?:([^@;]+)[@;]?", re.IGNORECASE)
_IDD = re.compile(r"^(?:00|011)(?=[1-9])")
_SPACES = re.compile(r"[\s().\-/]")

#: The setting that names a source's region (for the collectors' config schemas).
REGION_SCHEMA = {
    "type": "string", "pattern": "^[A-Z]{2}$",
    "description": "ISO 3166 alpha-2 region in which national numbers are read, e.g. US, GB, ES",
}


def check_region(source: str, region: str | None, setting: str = "default_region") -> str | None:
    """A region phonenumbers knows, or a configuration error naming the source."""
    if region is not None and region not in phonenumbers.SUPPORTED_REGIONS:
        raise ConfigError(f"sources.{source}.{setting}: '{region}' is not a region with a telephone "
                          "numbering plan (use an ISO 3166 alpha-2 code such as US, GB, ES)")
    return region


def _parse(text: str, region: str | None) -> phonenumbers.PhoneNumber | None:
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    # IS_POSSIBLE only: a number complete for its country. IS_POSSIBLE_LOCAL_ONLY (a US number
    # without its area code) names no one line.
    reason = phonenumbers.is_possible_number_with_reason(number)
    return number if reason == phonenumbers.ValidationResult.IS_POSSIBLE else None


def e164(text: str | None, region: str | None) -> str | None:
    """The E.164 form of one written number, or None when it is no complete number."""
    if text is None:
        return None
    value = text.strip()
    sip = _SIP.match(value)
    if sip:
        value = sip.group(1)
    if not value or SHORT_EXTENSION.fullmatch(value):
        return None
    number = _parse(value, region)
    if number is None:
        compact = _SPACES.sub("", value)
        if _IDD.match(compact):
            number = _parse(_IDD.sub("+", compact), None)
    if number is None:
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _distinct_others(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """The distinct non-null values that are not already strict E.164."""
    distinct = pc.drop_null(pc.unique(values))
    if isinstance(distinct, pa.ChunkedArray):
        distinct = distinct.combine_chunks()
    return distinct.filter(pc.invert(pc.match_substring_regex(distinct, E164)))


def normalise_numbers(values: pa.Array | pa.ChunkedArray,
                      region: str | None) -> pa.Array | pa.ChunkedArray:
    """Every value that is a complete phone number in its E.164 form; the rest as written."""
    if not len(values) or not pa.types.is_string(values.type):
        return values
    others = _distinct_others(values)
    if not len(others):
        return values
    found = [e164(v, region) for v in others.to_pylist()]
    if not any(f is not None and f != v for f, v in zip(found, others.to_pylist(), strict=True)):
        return values
    answers = pa.array(found, pa.string())
    index = pc.index_in(values, value_set=others)
    return pc.coalesce(pc.take(answers, index), values)


#: US states, the District of Columbia and the territories with their own NANP area codes,
#: by the name the geocoder gives → the USPS two-letter code (USPS Publication 28, Appendix B,
#: "Two-Letter State and Possession Abbreviations").
US_STATES = {
    "Alabama": "AL", "Alaska": "AK", "Arizona": "AZ", "Arkansas": "AR", "California": "CA",
    "Colorado": "CO", "Connecticut": "CT", "Delaware": "DE", "District of Columbia": "DC",
    "Washington D.C.": "DC", "Florida": "FL", "Georgia": "GA", "Hawaii": "HI", "Idaho": "ID",
    "Illinois": "IL", "Indiana": "IN", "Iowa": "IA", "Kansas": "KS", "Kentucky": "KY",
    "Louisiana": "LA", "Maine": "ME", "Maryland": "MD", "Massachusetts": "MA", "Michigan": "MI",
    "Minnesota": "MN", "Mississippi": "MS", "Missouri": "MO", "Montana": "MT", "Nebraska": "NE",
    "Nevada": "NV", "New Hampshire": "NH", "New Jersey": "NJ", "New Mexico": "NM", "New York": "NY",
    "North Carolina": "NC", "North Dakota": "ND", "Ohio": "OH", "Oklahoma": "OK", "Oregon": "OR",
    "Pennsylvania": "PA", "Rhode Island": "RI", "South Carolina": "SC", "South Dakota": "SD",
    "Tennessee": "TN", "Texas": "TX", "Utah": "UT", "Vermont": "VT", "Virginia": "VA",
    "Washington": "WA", "Washington State": "WA", "West Virginia": "WV", "Wisconsin": "WI",
    "Wyoming": "WY",
}
#: Canadian provinces and territories → Canada Post's two-letter symbols (Canada Post
#: Addressing Guidelines, "Province and territory symbols").
CA_PROVINCES = {
    "Alberta": "AB", "British Columbia": "BC", "Manitoba": "MB", "New Brunswick": "NB",
    "Newfoundland and Labrador": "NL", "Newfoundland": "NL", "Nova Scotia": "NS",
    "Northwest Territories": "NT", "Nunavut": "NU", "Ontario": "ON", "Prince Edward Island": "PE",
    "Quebec": "QC", "Québec": "QC", "Saskatchewan": "SK", "Yukon": "YT",
}
_NAMES = {"US": US_STATES, "CA": CA_PROVINCES}
_CITY_STATE = re.compile(r",\s*([A-Z]{2})$")


def place(number: str) -> tuple[str | None, str | None]:
    """(country, region) of one E.164 number: region only for the US and Canada."""
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return None, None
    country = phonenumbers.region_code_for_number(parsed)
    if country in (None, "ZZ", "001"):
        return None, None
    names = _NAMES.get(country)
    if names is None:
        return country, None
    text = geocoder.description_for_number(parsed, "en")
    city_state = _CITY_STATE.search(text)
    region = city_state.group(1) if city_state else names.get(text)
    if region is not None and region not in names.values():
        region = None
    return country, region


def number_places(numbers: pa.Array | pa.ChunkedArray) -> tuple[pa.Array | pa.ChunkedArray,
                                                                  pa.Array | pa.ChunkedArray]:
    """(country, region) columns for a column of numbers; NULL where a value is no E.164 number.

    Each distinct number is placed once.
    """
    n = len(numbers)
    if not n:
        return pa.nulls(0, pa.string()), pa.nulls(0, pa.string())
    distinct = pc.drop_null(pc.unique(numbers))
    if isinstance(distinct, pa.ChunkedArray):
        distinct = distinct.combine_chunks()
    distinct = distinct.filter(pc.match_substring_regex(distinct, E164))
    if not len(distinct):
        return pa.nulls(n, pa.string()), pa.nulls(n, pa.string())
    places = [place(v) for v in distinct.to_pylist()]
    index = pc.index_in(numbers, value_set=distinct)
    country = pc.take(pa.array([p[0] for p in places], pa.string()), index)
    region = pc.take(pa.array([p[1] for p in places], pa.string()), index)
    return country, region


def is_number(values: pa.Array | pa.ChunkedArray) -> t.Any:
    """Mask of the values in strict E.164 form (false for extensions, text and NULL)."""
    return pc.fill_null(pc.match_substring_regex(values, E164), False)
