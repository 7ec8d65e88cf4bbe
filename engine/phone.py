"""Phone numbers: parsed with ``phonenumbers`` (Google's libphonenumber) into E.164, and placed.

Sources write one number many ways: ``(312) 555-0100`` in a US carrier's export,
``+1 312 555 0100 x123`` in a directory, ``0034688886392``, ``+34688886392`` and
``34688886392`` in one FreeSWITCH file. ``normalise_numbers`` turns each into its
E.164 form (``+13125550100``), reading national forms in the source's default region
(ISO 3166 alpha-2, the ``default_region`` setting of the collectors that take one).

- A value already in strict E.164 form is kept without asking the library (the
  common case: a set-based filter over the distinct values).
- The other distinct values are parsed once each — never once per row — and the
  answers are spread back over the rows with Arrow's ``index_in``/``take``. Values
  that cannot be a complete number (fewer than 7 digits; without a region, anything
  but an international form) are filtered out set-based first, and the answers are
  remembered (an LRU cache), so a party that recurs in a CDR's chunks is parsed once.
- An extension (``x123``, ``ext. 123``, ``;ext=123``) is dropped: no field of the
  estate model stores one, and a line is matched by its number.
- A short internal extension (3 to 6 digits) is not a number and stays as written,
  as does anything that is not a complete number (``anonymous``, ``s``, a number too
  short for its country): validation and identity resolution then report it.
- ``00`` and ``011`` are read as international prefixes when the region's own
  reading gives no complete number (``0044 20 7123 4567`` in a US file is London).

``number_places`` gives an E.164 number's country (ISO 3166 alpha-2) and, for the
US and Canada, its state or province as a two-letter code, from the library's
geocoder (``Chicago, IL`` → ``IL``; ``Massachusetts`` → ``MA``). A country calling
code of one country answers without parsing, and a NANP number is placed by its area
code, once per area code.
"""

from __future__ import annotations

import re
import typing as t
from functools import lru_cache

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
#: Values worth asking the library about when the source has no region: only an international
#: form (+, 00, 011) or a SIP/tel URI can be read without one.
_INTERNATIONAL = r"^\s*(\+|00|011|sips?:|tel:)"
#: Fewer digits than this is no complete number anywhere (extensions, feature codes, text).
MIN_DIGITS = 7
#: Distinct values remembered between chunks of a source (a CDR's parties repeat).
CACHE_SIZE = 1 << 20

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


@lru_cache(maxsize=CACHE_SIZE)
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


def _distinct_others(values: pa.Array | pa.ChunkedArray, region: str | None) -> pa.Array:
    """The distinct non-null values the library may read as a number that is not already
    strict E.164: a set-based filter, so that extensions, text and (without a region)
    national forms never reach the per-value parse."""
    distinct = pc.drop_null(pc.unique(values))
    if isinstance(distinct, pa.ChunkedArray):
        distinct = distinct.combine_chunks()
    # Most exports write E.164 already: those are set aside before the costlier digit count.
    others = distinct.filter(pc.invert(pc.match_substring_regex(distinct, E164)))
    digits = pc.utf8_length(pc.replace_substring_regex(others, r"[^0-9]", ""))
    keep = pc.greater_equal(digits, MIN_DIGITS)
    if region is None:
        keep = pc.and_(keep, pc.match_substring_regex(others, _INTERNATIONAL, ignore_case=True))
    return others.filter(keep)


def normalise_numbers(values: pa.Array | pa.ChunkedArray,
                      region: str | None) -> pa.Array | pa.ChunkedArray:
    """Every value that is a complete phone number in its E.164 form; the rest as written."""
    if not len(values) or not pa.types.is_string(values.type):
        return values
    others = _distinct_others(values, region)
    if not len(others):
        return values
    answers = _answers(others, region)
    if not pc.any(pc.fill_null(pc.not_equal(answers, others), False)).as_py():
        return values
    index = pc.index_in(values, value_set=others)
    return pc.coalesce(pc.take(answers, index), values)


#: Leading characters of a number written as digits (with or without '+') that decide how the
#: library reads it, with its length: its country code, trunk prefix and international prefix.
SHAPE_PREFIX = 5
_COMPACT = r"[\s().\-/]"


def _transformation(written: str, digits: str, region: str | None) -> tuple[int, str] | None | bool:
    """How the library turned ``written`` (``digits`` once compacted) into E.164: (leading
    characters dropped, prefix put in front), None when it is no number, False when the answer
    is not of that form (the value's shape must then be parsed value by value)."""
    out = e164(written, region)
    if out is None:
        return None
    for strip in range(len(digits) + 1):
        kept = digits[strip:]
        head = out[:len(out) - len(kept)]
        if out.endswith(kept) and re.fullmatch(r"\+[0-9]{0,3}", head):
            return strip, head
    return False


def _answers(others: pa.Array, region: str | None) -> pa.Array:
    """The E.164 form (or NULL) of each distinct value, by the library.

    Numbers written as digits alone (spaces and punctuation aside, with or without '+') are
    read the same way by the library when they share their first characters and their
    length: the same country code or trunk prefix is dropped, the same country code put
    in front. So the first value of each such shape is parsed, the last one checks that
    the reading holds, and Arrow applies it to the rest; anything else — an extension, a
    SIP URI, a shape whose two values disagree — is parsed value by value.
    """
    n = len(others)
    compact = pc.replace_substring_regex(others, _COMPACT, "")
    plain = pc.fill_null(pc.match_substring_regex(compact, r"^\+?[0-9]+$"), False)
    digits = pc.replace_substring_regex(compact, r"^\+", "")
    shape = pc.binary_join_element_wise(
        pc.utf8_slice_codeunits(compact, 0, SHAPE_PREFIX),
        pc.cast(pc.utf8_length(compact), pa.string()), "|")
    position = pa.array(range(n), pa.int64())
    groups = pa.table({"shape": shape, "i": position}).filter(plain).group_by("shape").aggregate(
        [("i", "min"), ("i", "max")])
    rules: list[tuple[int, str] | None | bool] = []
    for first, last in zip(groups.column("i_min").to_pylist(), groups.column("i_max").to_pylist(),
                           strict=True):
        rule = _transformation(others[first].as_py(), digits[first].as_py(), region)
        if last != first and _transformation(others[last].as_py(), digits[last].as_py(), region) != rule:
            rule = False
        rules.append(rule)
    # Each value's reading: (strip, head) codes by shape; -1 where it must be parsed alone.
    kinds = sorted({r for r in rules if r not in (None, False)})
    code = pa.array([-1 if r is False else -2 if r is None else kinds.index(r) for r in rules], pa.int64())
    per_value = pc.take(code, pc.index_in(shape, value_set=groups.column("shape")))
    per_value = pc.if_else(plain, per_value, pa.scalar(-1, pa.int64()))
    result = pa.nulls(n, pa.string())
    for k, (strip, head) in enumerate(kinds):
        # Set-based: one reading applied to every value of the shapes that share it.
        mask = pc.fill_null(pc.equal(per_value, k), False)
        filled = pc.binary_join_element_wise(pa.scalar(head), pc.utf8_slice_codeunits(digits, strip), "")
        result = pc.if_else(mask, filled, result)
    alone = pc.fill_null(pc.equal(per_value, -1), False)
    if pc.any(alone).as_py():
        at = pc.indices_nonzero(alone)
        parsed = pa.array([e164(v, region) for v in pc.take(others, at).to_pylist()], pa.string())
        scattered = pc.take(parsed, pc.index_in(position, value_set=at))
        result = pc.if_else(alone, scattered, result)
    return result


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


def _by_prefix(number: str) -> tuple[str | None, str | None] | None:
    """The place every number sharing ``number``'s first five characters and length has, or
    None when its country code is several countries' (each number must then be placed)."""
    if number.startswith("+1"):
        return place(number)
    for size in (1, 2, 3):
        code = number[1:1 + size]
        regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(int(code)) if code.isdigit() else None
        if regions:
            return place(number) if len(regions) == 1 else None
    return None, None


def place(number: str) -> tuple[str | None, str | None]:
    """(country, region) of one E.164 number: region only for the US and Canada.

    Where the country calling code is one country's, that is the answer; a NANP number's
    country and state depend only on its area code (+1 NPA), so each is looked up once."""
    if number.startswith("+1") and len(number) == 12:
        area = number[:5]
        if area not in _AREA_CODES:
            # 555-0100 is valid in every geographic area code; where it is not, the first number
            # seen of that area code speaks for it.
            by_area_code = _place(area + "5550100")
            _AREA_CODES[area] = by_area_code if by_area_code[0] is not None else _place(number)
        return _AREA_CODES[area]
    for size in (1, 2, 3):
        code = number[1:1 + size]
        regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(int(code)) if code.isdigit() else None
        if regions:
            if len(regions) == 1 and regions[0] not in ("001", "ZZ"):
                return regions[0], None
            break
    return _place(number)


#: NANP area code (+1NPA) → (country, state or province).
_AREA_CODES: dict[str, tuple[str | None, str | None]] = {}


@lru_cache(maxsize=CACHE_SIZE)
def _place(number: str) -> tuple[str | None, str | None]:
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
    # A number's place depends on its country code and, in NANP, its area code: one answer per
    # leading five characters and length, unless the code is several countries' (+44: GB, GG,
    # JE, IM), whose numbers are placed one by one.
    key = pc.binary_join_element_wise(pc.utf8_slice_codeunits(distinct, 0, 5),
                                      pc.cast(pc.utf8_length(distinct), pa.string()), "|")
    groups = pa.table({"k": key, "i": pa.array(range(len(distinct)), pa.int64())}).group_by(
        "k").aggregate([("i", "min")])
    by_key = [_by_prefix(distinct[i].as_py()) for i in groups.column("i_min").to_pylist()]
    slot = pc.index_in(key, value_set=groups.column("k"))
    countries = pc.take(pa.array([p[0] if p else None for p in by_key], pa.string()), slot)
    regions = pc.take(pa.array([p[1] if p else None for p in by_key], pa.string()), slot)
    alone = pc.take(pa.array([p is None for p in by_key]), slot)
    if pc.any(alone).as_py():
        at = pc.indices_nonzero(alone)
        each = [place(v) for v in pc.take(distinct, at).to_pylist()]
        back = pc.index_in(pa.array(range(len(distinct)), pa.int64()), value_set=at)
        countries = pc.if_else(alone, pc.take(pa.array([e[0] for e in each], pa.string()), back), countries)
        regions = pc.if_else(alone, pc.take(pa.array([e[1] for e in each], pa.string()), back), regions)
    index = pc.index_in(numbers, value_set=distinct)
    country = pc.take(countries, index)
    region = pc.take(regions, index)
    return country, region


def is_number(values: pa.Array | pa.ChunkedArray) -> t.Any:
    """Mask of the values in strict E.164 form (false for extensions, text and NULL)."""
    return pc.fill_null(pc.match_substring_regex(values, E164), False)
