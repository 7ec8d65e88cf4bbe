"""Catalogues for the synthetic estate: names, places, products, plans.

Only small, hand-written tables live here; everything per row is drawn by the
entity-group modules beside this one. Prices are USD list prices, converted with
``FX`` where a contract or a subscription is billed in another currency.
"""

from __future__ import annotations

import datetime as dt
import re

import numpy as np

from ..obligations import load_obligations

_OBLIGATIONS = load_obligations()

# -- countries, currencies, places -----------------------------------------------------------
COUNTRIES = ("US", "GB", "DE", "FR", "IE")
#: The group's legal entities, and which one employs the staff and holds the lines and accounts
#: of each country (by index of COUNTRIES): three, so the demo can show scoped access.
LEGAL_ENTITIES = ("Example Inc.", "Example UK Ltd", "Example Europe GmbH")
COUNTRY_LEGAL_ENTITY = (0, 1, 2, 2, 1)
COUNTRY_P = (0.55, 0.20, 0.10, 0.08, 0.07)
US = 0
CURRENCIES = ("USD", "GBP", "EUR")
COUNTRY_CURRENCY = np.array([0, 1, 2, 2, 2])
FX = np.array([1.0, 0.79, 0.92])  # USD list prices → local contract currency
#: Billing region of licence subscriptions per country: US, UK, EU.
COUNTRY_REGION = np.array([0, 1, 2, 2, 2])
REGIONS = ("US", "UK", "EU")
REGION_CURRENCY = np.array([0, 1, 2])

# (city, region, postal codes, streets); German addresses put the number last.
CITIES = {
    "US": [("New York", "NY", ("10004", "10005", "10017", "10022"),
            ("Broadway", "Wall Street", "Park Avenue", "Madison Avenue")),
           ("Chicago", "IL", ("60601", "60603", "60606"), ("Wacker Drive", "LaSalle Street")),
           ("San Francisco", "CA", ("94105", "94111"), ("Market Street", "Mission Street")),
           ("Dallas", "TX", ("75201", "75202"), ("Main Street", "Ross Avenue")),
           ("Boston", "MA", ("02109", "02110"), ("State Street", "Federal Street"))],
    "GB": [("London", "England", ("EC2V 7HH", "EC4M 9AF", "E14 5AB", "W1G 0PW"),
            ("Cheapside", "Bishopsgate", "Canada Square", "Wimpole Street")),
           ("Manchester", "England", ("M2 3AW", "M1 4BT"), ("King Street", "Deansgate")),
           ("Edinburgh", "Scotland", ("EH2 4AD", "EH3 8EX"), ("George Street", "Lothian Road"))],
    "DE": [("Frankfurt am Main", "Hesse", ("60311", "60313"), ("Taunusanlage", "Neue Mainzer Straße")),
           ("Berlin", "Berlin", ("10117", "10785"), ("Friedrichstraße", "Potsdamer Platz")),
           ("Munich", "Bavaria", ("80331", "80333"), ("Maximilianstraße", "Brienner Straße"))],
    "FR": [("Paris", "Île-de-France", ("75002", "75008", "75009"),
            ("Rue de la Paix", "Boulevard Haussmann", "Rue de Rivoli")),
           ("Lyon", "Auvergne-Rhône-Alpes", ("69002", "69003"), ("Rue de la République",))],
    "IE": [("Dublin", "Leinster", ("D02 X285", "D01 K0F1"), ("Harcourt Street", "Grand Canal Quay")),
           ("Cork", "Munster", ("T12 X70A",), ("South Mall",))],
}
#: Geographic area code of each US office city (same order as CITIES["US"]).
US_CITY_AREA = (212, 312, 415, 214, 617)

FIRST_NAMES = (
    "Olivia", "Liam", "Emma", "Noah", "Amelia", "Oliver", "Ava", "Elijah", "Sophia", "James",
    "Isabella", "William", "Mia", "Lucas", "Charlotte", "Henry", "Harper", "Theodore", "Aisling",
    "Jack", "Chloé", "Louis", "Léa", "Hugo", "Hannah", "Leon", "Marie", "Felix", "Priya", "Arjun",
    "Wei", "Mei", "Fatima", "Omar", "Sofia", "Mateo", "Grace", "Conor", "Niamh", "Ethan",
)
LAST_NAMES = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Martinez",
    "Wilson", "Taylor", "Thomas", "Moore", "Jackson", "White", "Harris", "Clark", "Lewis", "Walker",
    "Young", "Evans", "Hughes", "Murphy", "Kelly", "O'Brien", "Byrne", "Müller", "Schmidt",
    "Schneider", "Fischer", "Weber", "Martin", "Bernard", "Dubois", "Moreau", "Laurent", "Patel",
    "Khan", "Chen", "Nguyen",
)

# (department, share of people, roles)
DEPARTMENTS = (
    ("Trading", 0.12, ("Trader", "Sales Trader", "Desk Head", "Quantitative Analyst")),
    ("Sales", 0.16, ("Account Executive", "Sales Manager")),
    ("Engineering", 0.16, ("Software Engineer", "Staff Engineer", "Engineering Manager")),
    ("Operations", 0.10, ("Operations Analyst", "Operations Manager")),
    ("Finance", 0.08, ("Accountant", "Controller", "FP&A Analyst")),
    ("Customer Service", 0.10, ("Service Agent", "Team Lead")),
    ("IT", 0.08, ("Network Engineer", "Telecom Analyst", "Service Desk Analyst")),
    ("Facilities", 0.05, ("Facilities Coordinator", "Facilities Manager")),
    ("HR", 0.06, ("HR Business Partner", "Recruiter")),
    ("Legal & Compliance", 0.09, ("Counsel", "Compliance Officer")),
)
DEPT = {name: i for i, (name, _, _) in enumerate(DEPARTMENTS)}
COST_CENTRES_PER_DEPT = 5

PERSON_STATUSES = ("active", "leave", "terminated")
#: What a directory account is: a person, a Teams Phone resource account, a meeting room.
PEOPLE_KINDS = ("person", "resource_account", "room")
PERSON, RESOURCE_ACCOUNT, ROOM = range(3)
#: Teams Phone resource accounts: the auto attendants and call queues behind service numbers.
RESOURCE_ACCOUNTS = ("Main Line Auto Attendant", "Service Desk Call Queue", "Card Payments Call Queue",
                     "Claims Call Queue", "Benefits Helpline Call Queue", "Reception Auto Attendant",
                     "Trade Support Call Queue", "Facilities Help Call Queue")
ACTIVE, LEAVE, TERMINATED = range(3)

# -- regulatory scopes -----------------------------------------------------------------------
# Scope sets; index 0 is "no scopes" (NULL).
SCOPE_SETS = (None, ("finra_bd",), ("finra_bd", "sec_ria"), ("cftc", "finra_bd"), ("fca",),
              ("fca", "mifid"), ("mifid",), ("pci",), ("hipaa",))
_REGULATED = {"finra_bd", "sec_ria", "cftc", "mifid", "fca"}
SCOPE_REGULATED = np.array([bool(s and _REGULATED & set(s)) for s in SCOPE_SETS])
SCOPE_MIFID = np.array([bool(s and {"mifid", "fca"} & set(s)) for s in SCOPE_SETS])
SCOPE_CFTC = np.array([bool(s and "cftc" in s) for s in SCOPE_SETS])
SCOPE_HIPAA = np.array([bool(s and "hipaa" in s) for s in SCOPE_SETS])
#: Days a recorded call must be kept, per scope (the obligations catalogue): SEC 17a-4(b)(4) for
#: broker-dealers, CFTC 1.31(b)(2) for oral communications, MiFID II and FCA SYSC 10A five years;
#: an adviser's duty (Rule 204-2) is for written communications only.
VOICE_DUTY = {scope: _OBLIGATIONS.get(o).value for scope, o in (
    ("finra_bd", "sec-17a-4-b4"), ("cftc", "cftc-1-31-oral"), ("mifid", "mifid-ii-16-7"),
    ("fca", "fca-sysc-10a-1-15"))}
#: The longest recording duty of a scope set, in days (0: none).
SCOPE_VOICE_DUTY = np.array([max([VOICE_DUTY.get(x, 0) for x in s or ()] or [0]) for s in SCOPE_SETS])
# Scope sets a trader gets, by country: (scope set indices, shares).
TRADER_SCOPES = {"US": ((1, 2, 3), (0.25, 0.25, 0.5)), "GB": ((4, 5), (0.5, 0.5)),
                 "DE": ((6,), (1.0,)), "FR": ((6,), (1.0,)), "IE": ((6,), (1.0,))}

# Meeting platform each person works on: one per person, as consolidation leaves it.
PLATFORMS = ("teams", "zoom", "webex")
PLATFORM_P = (0.86, 0.09, 0.05)

# -- carriers, contracts ---------------------------------------------------------------------
# Carrier markets: (vendor, country).
MARKETS = (("Verizon", "US"), ("AT&T", "US"), ("T-Mobile", "US"), ("Vodafone", "GB"),
           ("BT", "GB"), ("Vodafone", "DE"), ("Deutsche Telekom", "DE"), ("Orange", "FR"),
           ("Vodafone", "IE"))
MARKET_WEIGHT = (0.45, 0.35, 0.20, 0.55, 0.45, 0.4, 0.6, 1.0, 1.0)  # within the country
#: The carrier whose usage summaries give no last-activity date (activity is in the volumes).
NO_LAST_ACTIVITY_MARKET = 2
#: Markets whose IoT connectivity platform reports data only: no roaming, international or
#: overage amounts in those lines' usage.
IOT_DATA_ONLY_MARKETS = tuple(i for i, (v, _) in enumerate(MARKETS) if v == "Vodafone")
#: Accounts per market at least, and accounts a carrier contract covers at most.
MIN_ACCOUNTS_PER_MARKET = 3
ACCOUNTS_PER_CONTRACT = 4
#: Vendors other than carriers: licences and archiving are prepaid, no spend commitment.
VENDOR_CONTRACTS = (("Microsoft", "USD"), ("Zoom", "USD"), ("Cisco", "USD"), ("Slack", "USD"),
                    ("NICE", "USD"), ("Smarsh", "USD"), ("Global Relay", "GBP"))

# -- lines -----------------------------------------------------------------------------------
LINE_KINDS = ("mobile", "iot", "landline", "did", "sip_trunk", "circuit", "fax", "toll_free")
MOBILE, IOT, LANDLINE, DID, SIP, CIRCUIT, FAX, TOLL_FREE = range(8)
KIND_P = (0.70, 0.07, 0.06, 0.10, 0.02, 0.01, 0.015, 0.025)
KIND_MIN = (0, 20, 30, 32, 10, 2, 2, 10)
LINE_STATUSES = ("active", "suspended", "cancelled")
LINE_STATUS_P = (0.87, 0.05, 0.08)
#: What a line is for (docs/estate.md "Line purposes"); -1 is an unknown (NULL) purpose.
PURPOSES = ("voice", "data", "hotspot", "shared", "contact_centre", "trunk", "did_block", "m2m",
            "payment_terminal", "fax", "standby", "lift", "alarm", "emergency")
(VOICE, DATA, HOTSPOT, SHARED, CONTACT_CENTRE, TRUNK, DID_BLOCK, M2M, PAYMENT_TERMINAL, PFAX,
 STANDBY, LIFT, ALARM, EMERGENCY) = range(len(PURPOSES))
#: Held by one person: the person rules apply (an unknown purpose is read as a person's line).
PERSON_PURPOSES = (-1, VOICE, DATA, HOTSPOT)
#: Lift, alarm and emergency phones: never a saving, always in service and located.
LIFE_SAFETY = (LIFT, ALARM, EMERGENCY)
#: Lines whose silence is their job: nobody expects their usage or calls.
QUIET_PURPOSES = (TRUNK, DID_BLOCK, M2M, PAYMENT_TERMINAL, PFAX, STANDBY, LIFT, ALARM, EMERGENCY)
# kind → (purposes, probabilities); -1 is a NULL purpose (unknown: a carrier file does not say).
KIND_PURPOSES = {
    MOBILE: ((-1, VOICE, DATA, HOTSPOT, SHARED), (0.06, 0.74, 0.12, 0.05, 0.03)),
    IOT: ((M2M, PAYMENT_TERMINAL, ALARM, LIFT, DATA, STANDBY, -1),
          (0.33, 0.10, 0.15, 0.10, 0.20, 0.06, 0.06)),
    LANDLINE: ((-1, VOICE, SHARED, ALARM, LIFT, EMERGENCY, PFAX, PAYMENT_TERMINAL),
               (0.04, 0.52, 0.12, 0.08, 0.08, 0.06, 0.05, 0.05)),
    DID: ((VOICE, SHARED, CONTACT_CENTRE, DID_BLOCK), (0.85, 0.05, 0.05, 0.05)),
    SIP: ((TRUNK,), (1.0,)),
    CIRCUIT: ((TRUNK,), (1.0,)),
    FAX: ((PFAX,), (1.0,)),
    TOLL_FREE: ((CONTACT_CENTRE,), (1.0,)),
}
#: Lines of each purpose a kind has at least (as KIND_PURPOSES orders them), so that small
#: estates have life-safety, card-terminal and shared lines to keep clean and to plant on.
KIND_PURPOSE_MIN = {
    IOT: (6, 1, 3, 3, 2, 1, 1),
    LANDLINE: (1, 4, 3, 3, 4, 3, 1, 1),
    DID: (4, 1, 1, 1),
}
# Numbering outside the US: country → (E.164 prefix, first subscriber number); the line's index
# is added. US numbers take the office's area code (US_CITY_AREA), toll-free numbers 800.
NUMBERING = (("+1", 2_125_000_000), ("+44", 7_400_000_000), ("+49", 15_100_000_000),
             ("+33", 600_000_000), ("+353", 870_000_000))
US_TOLL_FREE_AREA = 800
# Remote parties of calls: (country, prefix, low, high) subscriber numbers.
REMOTES = (("US", "+1", 2_010_000_000, 9_899_999_999), ("GB", "+44", 7_000_000_000, 7_999_999_999),
           ("DE", "+49", 15_000_000_000, 17_999_999_999), ("FR", "+33", 600_000_000, 799_999_999),
           ("IE", "+353", 830_000_000, 899_999_999), ("JP", "+81", 300_000_000, 399_999_999),
           ("SG", "+65", 60_000_000, 99_999_999), ("CH", "+41", 440_000_000, 449_999_999),
           ("IN", "+91", 9_000_000_000, 9_999_999_999))
# US area codes called, with their state and a weight (finance centres first).
US_AREAS = (
    (212, "NY", 8), (646, "NY", 5), (718, "NY", 3), (917, "NY", 4), (516, "NY", 1),
    (201, "NJ", 2), (973, "NJ", 1), (203, "CT", 2), (617, "MA", 3), (312, "IL", 4), (773, "IL", 1),
    (415, "CA", 3), (213, "CA", 2), (310, "CA", 2), (408, "CA", 1), (214, "TX", 2), (713, "TX", 2),
    (512, "TX", 1), (305, "FL", 2), (407, "FL", 1), (404, "GA", 1), (202, "DC", 2), (206, "WA", 1),
    (303, "CO", 1), (602, "AZ", 1), (215, "PA", 1), (412, "PA", 1), (313, "MI", 1), (410, "MD", 1),
    (702, "NV", 1), (503, "OR", 1), (302, "DE", 1), (603, "NH", 1), (406, "MT", 1), (704, "NC", 1),
    (612, "MN", 1), (314, "MO", 1), (615, "TN", 1), (801, "UT", 1),
)
US_STATES = tuple(sorted({s for _, s, _ in US_AREAS} | {c[1] for c in CITIES["US"]}))
#: States that require every party's consent to record a call: the obligations catalogue's cited
#: list, which the consent policy reads too.
ALL_PARTY_STATES = tuple(_OBLIGATIONS.get("us-all-party-consent").value)

# (kind, plan name, charge code, USD list price, weight within the kind, data allowance in MB
#  (None: unlimited or not a data plan), IoT purposes the plan is for)
PLANS = (
    (MOBILE, "Business Unlimited", "MOB-UNL", 45.0, 0.5, None, ()),
    (MOBILE, "Business 10GB", "MOB-10GB", 30.0, 0.35, 10_240, ()),
    (MOBILE, "Executive Unlimited Plus", "MOB-EXEC", 65.0, 0.15, None, ()),
    (IOT, "IoT 50MB", "IOT-50MB", 4.0, 1.0, 50, (M2M, -1)),
    (IOT, "IoT 1GB", "IOT-1GB", 9.0, 1.0, 1_024, (DATA,)),
    (IOT, "IoT Alarm 10MB", "IOT-ALARM", 3.0, 1.0, 10, (ALARM, LIFT)),
    (IOT, "IoT Standby (pay as you go)", "IOT-STBY", 1.0, 1.0, 0, (STANDBY,)),
    (IOT, "IoT Card Terminal 100MB", "IOT-POS", 5.0, 1.0, 100, (PAYMENT_TERMINAL,)),
    (LANDLINE, "Business Line", "POTS", 38.0, 1.0, None, ()),
    (DID, "DID Number", "DID", 1.5, 1.0, None, ()),
    (SIP, "SIP Trunk 23 channels", "SIP-23CH", 180.0, 0.6, None, ()),
    (SIP, "SIP Trunk 46 channels", "SIP-46CH", 330.0, 0.4, None, ()),
    (CIRCUIT, "ISDN PRI 23B+D", "PRI-23B", 420.0, 1.0, None, ()),
    (FAX, "Fax Line", "FAX", 32.0, 1.0, None, ()),
    (TOLL_FREE, "Toll-Free Number", "TF", 12.0, 1.0, None, ()),
)
PLAN_ALLOWANCE = np.array([np.nan if p[5] is None else p[5] for p in PLANS])
# (charge code, description, USD list rate, unit)
USAGE_CODES = (("DATA-OVG", "Data overage", 10.0, "GB"),
               ("INTL-MIN", "International calls", 0.25, "minute"),
               ("ROAM-DAY", "International roaming day pass", 10.0, "day"))
CHARGE_CODES = tuple(p[2] for p in PLANS) + tuple(u[0] for u in USAGE_CODES)
#: Invoice-level charges: (code, description, charge type index in CHARGE_TYPES).
CHARGE_TYPES = ("recurring", "usage", "one_time", "tax", "surcharge", "late_fee", "credit")
INVOICE_CODES = (("TAX", "Sales tax / VAT"), ("REG-RECOVERY", "Regulatory cost recovery"),
                 ("LATE-FEE", "Late payment charge"), ("SLA-CREDIT", "Service level credit"))
#: Regulatory cost recovery, as a share of recurring charges; sales tax (US) and VAT.
SURCHARGE_SHARE = 0.02
TAX_RATE = {0: 0.07, 1: 0.20, 2: 0.20}  # by contract currency: USD, GBP, EUR

FEATURES = {
    MOBILE: ((("voicemail",), 0.45), (("voicemail", "hotspot"), 0.40),
             (("voicemail", "intl_roaming"), 0.08), (("voicemail", "hotspot", "intl_roaming"), 0.07)),
    LANDLINE: ((("caller_id", "voicemail"), 1.0),),
    DID: ((("caller_id",), 1.0),),
    SIP: ((("failover",), 0.5), (("failover", "burst_channels"), 0.5)),
    TOLL_FREE: ((("ivr", "call_recording"), 1.0),),
}

# -- devices ---------------------------------------------------------------------------------
# (kind, model, os, os versions, TAC or None, serial prefix, released, legacy: only on
#  devices bought long ago, versions below the supported floor)
DEVICE_MODELS = (
    ("smartphone", "iPhone 15", "iOS", ("17.6.1", "18.5", "18.6"), 35395511, "DNPX",
     dt.date(2023, 9, 22), False, ()),
    ("smartphone", "iPhone 16 Pro", "iOS", ("18.5", "18.6"), 35672829, "G6TY",
     dt.date(2024, 9, 20), False, ()),
    ("smartphone", "Galaxy S24", "Android", ("14", "15"), 35067331, "R5CW",
     dt.date(2024, 1, 31), False, ()),
    ("smartphone", "Pixel 9", "Android", ("15", "16"), 35892612, "3A1B",
     dt.date(2024, 8, 22), False, ()),
    ("tablet", "iPad Air 11", "iPadOS", ("17.7", "18.5"), 35480119, "DMPX",
     dt.date(2024, 5, 15), False, ()),
    ("tablet", "Galaxy Tab S9", "Android", ("14",), 35277915, "R52T",
     dt.date(2023, 8, 11), False, ()),
    ("hotspot", "Nighthawk M6", "Netgear firmware", ("NTG9.2",), 35324418, "NTG",
     dt.date(2022, 10, 1), False, ()),
    ("desk_phone", "Poly VVX 450", "UC Software", ("6.4.6",), None, "64167F",
     dt.date(2017, 6, 1), False, ()),
    ("desk_phone", "Cisco 8845", "PhoneOS", ("14.2",), None, "FCH",
     dt.date(2015, 10, 1), False, ()),
    ("desk_phone", "Yealink T54W", "Yealink firmware", ("96.86",), None, "YLK",
     dt.date(2019, 6, 1), False, ()),
    ("iot", "Telit LE910C4", "Telit firmware", ("25.30",), 35484909, "TLT",
     dt.date(2018, 1, 1), False, ()),
    ("iot", "Quectel EG25-G", "Quectel firmware", ("EG25GGBR07A08M2G",), 86698503, "QTL",
     dt.date(2017, 1, 1), False, ()),
    ("smartphone", "iPhone 12", "iOS", ("18.5",), 35302811, "F17D",
     dt.date(2020, 10, 23), True, ("16.7.10", "15.8.3")),
    ("smartphone", "Galaxy S21", "Android", ("14",), 35382611, "R58R",
     dt.date(2021, 1, 29), True, ("12", "11")),
    ("tablet", "iPad (9th generation)", "iPadOS", ("18.5",), 35875312, "GG7X",
     dt.date(2021, 9, 24), True, ("16.7.10",)),
    ("desk_phone", "Poly Trio C60", "UC Software", ("7.2.4",), None, "82B",
     dt.date(2020, 6, 1), False, ()),
)
#: The meeting rooms' conference phone (not drawn for people's desks).
ROOM_PHONE = len(DEVICE_MODELS) - 1
DEVICE_KINDS = ("smartphone", "tablet", "hotspot", "desk_phone", "iot")
SMARTPHONE, TABLET, HOTSPOT_DEVICE, DESK_PHONE, IOT_DEVICE = range(5)
DEVICE_STATUSES = ("in_use", "spare", "lost", "retired")
IN_USE, SPARE, LOST, RETIRED = range(4)
COMPLIANCE_STATES = ("compliant", "noncompliant", "in_grace_period", "unknown", "error", "conflict",
                     "managed_elsewhere")
ST_COMPLIANT, ST_NONCOMPLIANT, ST_GRACE, ST_UNKNOWN, ST_ERROR, ST_CONFLICT, ST_ELSEWHERE = range(7)
#: Company devices are replaced before this age (the refresh policy's limit is 1095 days).
REFRESH_DAYS = 1050

# (app id, name, versions, share of phones and tablets, approved for business messaging)
APPS = (
    ("com.microsoft.teams", "Microsoft Teams", ("1416/1.0.0.2024", "1416/1.0.0.2025"), 1.0, True),
    ("com.microsoft.office.outlook", "Microsoft Outlook", ("4.2425.0", "4.2431.1"), 0.98, True),
    ("com.azure.authenticator", "Microsoft Authenticator", ("6.8.15",), 0.8, True),
    ("com.Slack", "Slack", ("25.06.10", "25.05.20"), 0.45, True),
    ("us.zoom.videomeetings", "Zoom Workplace", ("6.5.1", "6.4.10"), 0.5, True),
    ("com.cisco.webex.meetings", "Webex", ("45.6.0",), 0.1, True),
    ("com.linkedin.android", "LinkedIn", ("4.1.1050",), 0.25, True),
    ("com.whatsapp", "WhatsApp", ("2.25.18.80", "2.25.17.76"), 0.3, False),
    ("org.thoughtcrime.securesms", "Signal", ("7.46.2",), 0.06, False),
    ("com.tencent.mm", "WeChat", ("8.0.60",), 0.03, False),
    ("com.telemessage.archiver", "TeleMessage Archiver", ("4.1.2",), 0.0, True),
)
#: The approved capture app, installed on regulated staff's personal phones.
CAPTURE_APP = len(APPS) - 1
UNAPPROVED_APPS = tuple(i for i, a in enumerate(APPS) if not a[4])

# -- licences --------------------------------------------------------------------------------
# (product, sku, USD unit cost, platforms it is bought for, who gets it)
#   "all": everyone on those platforms; "did": those of them with an active DID (telephony: a
#   Teams Phone calling plan, E5 already including Phone System); a number: that share of them;
#   "resource": Teams Phone resource accounts (auto attendants, call queues); "room": meeting
#   rooms; "none": nobody (the Phone System add-on, bought for E5 users only by mistake).
SKUS = (
    ("teams", "SPE_E5", 57.0, (0,), "all"),
    ("teams", "MCOPSTN1", 12.0, (0,), "did"),
    ("microsoft365", "SPE_E5_NOTEAMS", 54.75, (1, 2), "all"),
    ("zoom", "ZOOM_WORKPLACE_BUSINESS", 18.32, (1,), "all"),
    ("zoom", "ZOOM_PHONE_PRO", 10.0, (1,), "did"),
    ("webex", "WEBEX_SUITE_MEET", 14.5, (2,), "all"),
    ("webex", "WEBEX_CALLING_PRO", 17.0, (2,), "did"),
    ("slack", "SLACK_BUSINESS_PLUS", 12.5, (0, 1, 2), 0.45),
    ("teams", "MCOEV", 8.0, (), "none"),
    ("teams", "PHONESYSTEM_VIRTUALUSER", 0.0, (), "resource"),
    ("teams", "MICROSOFT_TEAMS_ROOMS_PRO", 40.0, (), "room"),
)
SKU_INDEX = {s[1]: i for i, s in enumerate(SKUS)}
#: The platform's own licence, which a leaver keeps when offboarding misses it.
PLATFORM_MAIN_SKU = (SKU_INDEX["SPE_E5"], SKU_INDEX["SPE_E5_NOTEAMS"], SKU_INDEX["SPE_E5_NOTEAMS"])
#: Telephony SKUs, as the telephony-licence policy's default pattern reads them.
TELEPHONY_SKUS = np.array([bool(re.search("phone|pstn|calling|mcoev", s[1].lower())) for s in SKUS])
#: Seats per subscription tranche: large tenants buy a SKU in several tranches.
SEATS_PER_TRANCHE = 40_000

# -- calls and recordings --------------------------------------------------------------------
REC_NONE, REC_REGULATORY, REC_QUALITY, REC_PAYMENT = range(4)
REC_PURPOSES = (None, "regulatory", "quality", "payment")
RETENTION_DAYS = {REC_REGULATORY: 2557, REC_QUALITY: 365, REC_PAYMENT: 90}
# Recording storage per line country: (AWS region, storage country); index 0 is the US.
STORAGE = (("us-east-1", "US"), ("eu-west-2", "GB"), ("eu-central-1", "DE"), ("eu-west-3", "FR"),
           ("eu-west-1", "IE"))

# -- communications stores and channels ------------------------------------------------------
# Populations whose communications are kept: (scope set index in SCOPE_SETS, label, country).
POPULATIONS = (
    (1, "US broker-dealer", "US"),
    (2, "US broker-dealer and adviser", "US"),
    (3, "US futures and swaps", "US"),
    (4, "UK regulated", "GB"),
    (5, "UK investment firm", "GB"),
    (6, "EU investment firms", "DE"),
    (7, "Contact centre", "US"),
    (8, "Benefits and health plan", "US"),
    (0, "Corporate", "US"),
)
STORE_REGION = {"US": "US", "GB": "UK", "DE": "EU"}
# Record types (the obligations catalogue's vocabulary).
VOICE_REC, EMAIL, CHAT, SMS, MEETING = ("communication.voice", "communication.email",
                                        "communication.chat", "communication.sms",
                                        "communication.meeting")
BOOKS, ACCOUNT_RECORD, REGULATORY_RECORD, HIPAA_DOC = ("books", "account_record",
                                                       "regulatory_record", "hipaa.documentation")
# Store templates: (key, system, scope, retention days, action, immutable, audit trail, holds
# take precedence over the retention, record types). Purview, Exchange, Smarsh, Global Relay,
# Slack Enterprise Grid and NICE keep held items whatever their retention action.
REGULATED_STORES = (
    ("teams", "Microsoft Purview", "Teams chats, channel messages and meeting recordings", 2557,
     "keep_and_delete", True, True, True, (CHAT, MEETING)),
    ("email", "Exchange Online", "Mailboxes", 2557, "keep_and_delete", True, True, True, (EMAIL,)),
    ("slack", "Slack Enterprise Grid", "Workspaces", 2557, "keep_and_delete", True, True, True,
     (CHAT,)),
    ("archive", None, "E-mail, chat and SMS archive", 2557, "keep_and_delete", True, True, True,
     (EMAIL, CHAT, SMS)),
    ("voice", "NICE Engage", "Turret and mobile voice recordings", 2557, "keep_and_delete",
     True, True, True, (VOICE_REC,)),
    ("books", "Iron Mountain Records Vault", "Books and records (blotters, ledgers, account records)",
     2557, "keep_and_delete", True, True, True, (BOOKS, ACCOUNT_RECORD, REGULATORY_RECORD)),
)
#: The regulatory archive: Smarsh in the US, Global Relay in the UK and the EU.
ARCHIVE_SYSTEM = {"US": "Smarsh Enterprise Archive", "GB": "Global Relay Archive",
                  "DE": "Global Relay Archive"}
OTHER_STORES = {
    7: (("voice", "NICE Engage", "Payment call recordings", 90, "delete", False, True, True,
         (VOICE_REC,)),
        ("quality", "NICE Engage", "Quality monitoring recordings", 365, "delete", False, True, True,
         (VOICE_REC,))),
    8: (("email", "Microsoft Purview", "Benefits team mailboxes and HIPAA documentation", 2557,
         "keep_and_delete", False, True, True, (EMAIL, CHAT, HIPAA_DOC)),
        ("quality", "NICE Engage", "Benefits helpline recordings", 365, "delete", False, True, True,
         (VOICE_REC,))),
    0: (("teams", "Microsoft Purview", "Teams chats and channel messages", 1095,
         "keep_and_delete", False, True, True, (CHAT,)),
        ("email", "Exchange Online", "Mailboxes", 2557, "keep_and_delete", False, True, True, (EMAIL,)),
        ("slack", "Slack Enterprise Grid", "Workspaces (custom retention)", 1095, "keep_and_delete",
         False, True, False, (CHAT,)),
        ("meetings", "Microsoft Teams", "Meeting recording expiry (OneDrive and SharePoint)", 120,
         "delete", False, True, False, (MEETING,))),
}
# Approved channels per population: (product, app id, store key).
APPROVED_CHANNELS = {
    "regulated": (("teams", "com.microsoft.teams", "teams"),
                  ("email", "com.microsoft.office.outlook", "archive"),
                  ("slack", "com.Slack", "slack"),
                  ("sms", None, "archive"),
                  ("voice", None, "voice")),
    7: (("voice", None, "voice"),),
    8: (("email", "com.microsoft.office.outlook", "email"),
        ("teams", "com.microsoft.teams", "email")),
    0: (("teams", "com.microsoft.teams", "teams"),
        ("email", "com.microsoft.office.outlook", "email"),
        ("slack", "com.Slack", "slack")),
}
# Messaging apps nobody may use for business: (product, app id).
UNAPPROVED_CHANNELS = (("whatsapp", "com.whatsapp"), ("signal", "org.thoughtcrime.securesms"),
                       ("wechat", "com.tencent.mm"), ("telegram", "org.telegram.messenger"),
                       ("imessage", "com.apple.MobileSMS"))
#: One set of populations per this many lines (business lines, regions, legal entities).
LINES_PER_STORE_SET = 50_000

#: Names of the store sets (business lines) when an estate has several.
BUSINESS_LINES = ("Equities", "Fixed Income", "FX", "Commodities", "Wealth", "Prime Services",
                  "Research", "Treasury")

# -- the built-in policies the planting targets -----------------------------------------------
ZERO_USAGE = "cost.zero-usage-lines"
IDLE_NUMBERS = "cost.idle-voice-numbers"
LEAVER = "cost.leaver-lines"
ORPHAN = "cost.orphan-lines"
MULTIPLE_LINES = "cost.multiple-active-lines"
LONG_SUSPENSION = "cost.long-suspension"
NO_MANAGED_DEVICE = "cost.line-without-managed-device"
INTL_UNUSED = "cost.international-addon-unused"
ROAMING = "cost.roaming-without-international-plan"
OVER_PROVISIONED = "cost.over-provisioned-plan"
OVERAGE = "cost.overage-charges"
E911 = "regulatory.e911-location-missing"
LIFE_SAFETY_POLICY = "regulatory.life-safety-line-integrity"
MIFID = "regulatory.mifid-voice-not-recorded"
CFTC = "regulatory.cftc-oral-not-recorded"
SIP_UNENCRYPTED = "security.sip-trunk-without-encryption"

ABOVE_RATE = "cost.charge-above-contract-rate"
AFTER_CANCELLATION = "cost.charge-after-cancellation"
NOT_IN_INVENTORY = "cost.charge-for-line-not-in-inventory"
DUPLICATE = "cost.duplicate-charges"
LATE_FEE = "cost.late-payment-fees"
UNAPPROVED_NEAR_DUE = "cost.invoice-unapproved-near-due"
SPEND_SPIKE = "cost.spend-spike"
TAX_ANOMALY = "cost.tax-surcharge-anomaly"
DISPUTE_PAST_WINDOW = "cost.dispute-open-past-window"
DISPUTE_CREDIT_MISSING = "cost.dispute-credit-missing"
UNALLOCATED = "cost.unallocated-charges"
SHORTFALL = "cost.commitment-shortfall"
AUTO_RENEWAL = "cost.contract-auto-renewal-in-notice-window"
OUT_OF_CONTRACT = "cost.service-out-of-contract"

UNUSED_LICENSE = "cost.unused-licenses"
LEAVER_LICENSE = "cost.leaver-licenses"
OVERLAPPING = "cost.overlapping-meeting-platforms"
TELEPHONY = "cost.telephony-licence-without-pstn"
UNASSIGNED_SEATS = "cost.unassigned-seats-near-renewal"

REFRESH = "cost.device-past-refresh-age"
LOST_BILLED = "cost.lost-device-still-billed"
STALE_MDM = "cost.stale-mdm-check-in"
LEAVER_DEVICE = "lifecycle.leaver-devices-not-returned"
BYOD = "regulatory.byod-regulated-without-archiving-agent"
E911_DEVICE = "regulatory.e911-fixed-device-without-location"
E911_DIFFERS = "regulatory.e911-location-differs-from-office"
OFF_CHANNEL = "regulatory.off-channel-messaging-apps"
NONCOMPLIANT = "security.device-noncompliant"
OS_FLOOR = "security.os-version-below-floor"
UNENCRYPTED = "security.unencrypted-devices"

ALL_PARTY = "regulatory.all-party-consent-call-without-announcement"
PHI_UNENCRYPTED = "regulatory.phi-line-recorded-unencrypted"
QUALITY_OVERDUE = "retention.quality-recordings-overdue-deletion"
HOLD_DELETED = "retention.recordings-deleted-under-legal-hold"
OUTSIDE_EEA = "retention.recordings-outside-eea-without-transfer-mechanism"
REG_DELETED_EARLY = "retention.regulatory-recordings-deleted-early"
REG_RETENTION = "retention.regulatory-recordings-retention"
PAYMENT_UNREDACTED = "security.payment-recordings-unredacted"

UNAPPROVED_CHANNEL = "regulatory.unapproved-messaging-channel-for-regulated"
SCOPE_MISMATCH = "retention.channel-retention-scope-mismatch"
ARCHIVE_STALE = "retention.regulated-channel-archive-stale"
NOT_ARCHIVED = "retention.regulated-channel-not-archived"
NO_RETENTION_POLICY = "retention.regulated-channel-without-retention-policy"

ADVISER = "retention.adviser-retention-below-five-years"
CFTC_ORAL = "retention.cftc-oral-retention-below-one-year"
CFTC_RECORDS = "retention.cftc-retention-below-five-years"
HOLD_DELETION = "retention.deletion-under-legal-hold"
FINRA = "retention.finra-retention-below-six-years"
HIPAA_RETENTION = "retention.hipaa-documentation-retention"
MIFID_RETENTION = "retention.mifid-fca-retention-below-five-years"
DELETE_ONLY = "retention.regulated-store-delete-only"
NOT_WORM = "retention.regulated-store-not-worm"
SEC_17A4 = "retention.sec-17a-4-retention-below-minimum"
HIPAA_AUDIT = "security.hipaa-store-without-audit-trail"

#: Misconfigured stores planted per retention policy: (policy, scope set, system, scope,
#: retention days, action, immutable, audit trail, legal hold, hold precedence, record types).
#: Each breaks only its own rule: a broker-dealer store of communications kept under three years
#: is not held to FINRA's six (that is for books and account records).
PLANTED_STORES = (
    (ADVISER, ("sec_ria",), "Microsoft Purview", "Teams chats, advisory desk (3-year policy)",
     1095, "keep_and_delete", True, True, False, True, (CHAT, MEETING)),
    (CFTC_ORAL, ("cftc",), "NICE Engage", "Turret recordings, swaps desk", 180,
     "keep_and_delete", True, True, False, True, (VOICE_REC,)),
    (CFTC_RECORDS, ("cftc",), "Smarsh Enterprise Archive", "Trade chat and e-mail, swaps desk",
     1095, "keep_and_delete", True, True, False, True, (EMAIL, CHAT)),
    (FINRA, ("finra_bd",), "Iron Mountain Records Vault", "Order tickets and blotters (legacy 5-year "
     "setting)", 1826, "keep_and_delete", True, True, False, True, (BOOKS, ACCOUNT_RECORD)),
    (SEC_17A4, ("finra_bd",), "Microsoft Purview", "Teams chats (2-year pilot policy)", 730,
     "keep_and_delete", True, True, False, True, None),
    (HIPAA_RETENTION, ("hipaa",), "Microsoft Purview", "Benefits policies and risk analyses "
     "(3-year policy)", 1095, "keep_and_delete", False, True, False, True, (HIPAA_DOC,)),
    (MIFID_RETENTION, ("fca", "mifid"), "Microsoft Purview", "Teams chats, London desk (3 years)",
     1095, "keep_and_delete", True, True, False, True, (CHAT,)),
    # Exchange mailboxes are not WORM (a WORM store that deletes once its lock ends is not
    # delete-only); the audit trail keeps the store fine for the WORM policy.
    (DELETE_ONLY, ("finra_bd", "sec_ria"), "Exchange Online", "Mailboxes (delete-only rule)", 2557,
     "delete", False, True, False, True, (EMAIL,)),
    (NOT_WORM, ("fca",), "Slack Enterprise Grid", "Workspaces, UK (standard storage)", 2557,
     "keep_and_delete", False, False, False, True, (CHAT,)),
    (HOLD_DELETION, None, "Slack Enterprise Grid", "Custom retention: departed-employee messages "
     "(hold kept in counsel's register)", 1095, "keep_and_delete", False, True, False, False, (CHAT,)),
    (HIPAA_AUDIT, ("hipaa",), "Benefits claims file share", "Claims correspondence", 2557,
     "keep_and_delete", False, False, False, False, (EMAIL,)),
)
#: Stores whose settings are partly not reported, once per estate: each is undecidable for the
#: policy named and fine for every other. Same fields as PLANTED_STORES, and whether a legal
#: hold in force names the store.
UNREPORTED_STORES = (
    (SEC_17A4, ("finra_bd",), "Microsoft Purview", "Teams meeting recordings, broker-dealer "
     "(duration not exported)", None, "keep_and_delete", True, True, False, True, (MEETING,), False),
    (ADVISER, ("sec_ria",), "Smarsh Enterprise Archive", "Advisory desk archive (record types not "
     "declared)", 1095, "keep_and_delete", True, True, False, True, None, False),
    (CFTC_RECORDS, ("cftc",), "Global Relay Archive", "Swaps desk capture (record types not "
     "declared)", 400, "keep_and_delete", True, True, False, True, None, False),
    (CFTC_ORAL, ("cftc",), "NICE Engage", "Futures desk turrets (duration not exported)", None,
     "keep_and_delete", True, True, False, True, (VOICE_REC,), False),
    (FINRA, ("finra_bd",), "Iron Mountain Records Vault", "Customer account records (duration "
     "not exported)", None, "keep_and_delete", True, True, False, True, (ACCOUNT_RECORD,), False),
    (MIFID_RETENTION, ("fca",), "Verint", "Trader mobile recordings (duration not exported)", None,
     "keep_and_delete", True, True, False, True, (VOICE_REC,), False),
    (HIPAA_RETENTION, ("hipaa",), "Microsoft Purview", "HIPAA risk analyses (duration not "
     "exported)", None, "keep_and_delete", False, True, False, True, (HIPAA_DOC,), False),
    (DELETE_ONLY, ("finra_bd",), "Global Relay Archive", "Bloomberg chat capture (action and "
     "immutability not exported)", 2557, None, None, True, False, True, (CHAT,), False),
    (NOT_WORM, ("mifid",), "LeapXpert", "EU desk WhatsApp capture (immutability not reported)", 2557,
     "keep_and_delete", None, False, False, True, (SMS,), False),
    (HIPAA_AUDIT, ("hipaa",), "Benefits call recorder (vendor-hosted)", "Nurse line recordings",
     365, "delete", False, None, False, True, (VOICE_REC,), False),
    (HOLD_DELETION, None, "Zoom", "Cloud recordings, legal department (hold precedence not "
     "reported)", 365, "delete", False, True, False, None, (MEETING,), True),
)
