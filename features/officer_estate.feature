Feature: An officer's estate: what Dialtone flags, and what it leaves alone
  A compliance officer at Fabrikam points Dialtone at the estate's sources as
  they come: the Microsoft 365 tenant through Graph, the PBX's Asterisk call
  detail records, the carrier's inventory, E911 and usage exports in the
  carrier's own words, the call recorder's export and counsel's register of
  legal holds. In the first week the officer must not be sent chasing a lift
  phone, a fire-alarm line, a Teams Phone resource account, a busy line or a
  recording deleted before any hold began; and must see the card data kept in
  a "quality" recording and the caller from California recorded without an
  announcement.

  Scenario: The officer's estate from Graph, Asterisk CDRs and the carrier's exports, run on 30 June 2026
    Given Fabrikam's Microsoft 365 tenant, read through Graph with the seat prices "SPE_E5: 57.00, MCOEV: 8.00, Microsoft_Teams_Rooms_Pro: 40.00"
    And the PBX's Asterisk Master.csv, in America/Chicago, national numbers in US, trunk calls arriving in from-pstn:
      | uniqueid      | dcontext      | src        | dst         | start               | answer              | duration | billsec | disposition |
      | 1781103851.17 | from-pstn     | 6305550123 | 8005550199  | 2026-06-10 10:04:11 | 2026-06-10 10:04:20 | 431      | 422     | ANSWERED    |
      | 1781361002.41 | from-pstn     | 4155550100 | 3125550142  | 2026-06-13 09:30:02 | 2026-06-13 09:30:06 | 254      | 250     | ANSWERED    |
      | 1781450100.44 | from-internal | 2142       | 2150        | 2026-06-14 10:15:00 | 2026-06-14 10:15:04 | 64       | 60      | ANSWERED    |
      | 1782146709.52 | from-internal | 2142       | 12125550188 | 2026-06-22 11:45:09 | 2026-06-22 11:45:15 | 95       | 90      | ANSWERED    |
      | 1782233400.57 | from-pstn     | 7735550166 | 3125550142  | 2026-06-23 12:10:00 |                     | 30       | 0       | NO ANSWER   |
    And the carrier's inventory export, national numbers in US, its descriptions read as purposes "ELEVATOR CAR 2: lift, FACP COMMUNICATOR BLDG A: alarm, TRADING DESK: voice":
      | Service ID | Service Number | Service Type | Line Status | Description               | User                        | Cost Center | Monthly Charge | Currency | E911 Location | Call Recording | PCI |
      | SVC-40101  | 312-555-0101   | Wireless     | Active      | User                      | rosa.ortiz@fabrikam.example | CC-410      | 45.00          | USD      |               |                | N   |
      | SVC-40142  | (312) 555-0142 | DID          | ACTIVE      | TRADING DESK              | rosa.ortiz@fabrikam.example | CC-410      | 2.50           | USD      | LOC-HQ-14   | Recorded       | N   |
      | SVC-40177  | 312.555.0177   | Wireless     | Active      | User                      | tom.baker@fabrikam.example  | CC-300      | 45.00          | USD      |               |                | N   |
      | SVC-40190  | (312) 555-0190 | POTS         | ACTIVE      | ELEVATOR CAR 2            |                             | FAC-100     | 38.00          | USD      | LOC-HQ-LIFT2  |                | N   |
      | SVC-40191  | (312) 555-0191 | M2M          | Active      | FACP COMMUNICATOR BLDG A  |                             | FAC-100     | 15.00          | USD      | LOC-HQ-FACP   |                | N   |
      | SVC-40199  | (800) 555-0199 | Toll Free    | Active      | Contact Center            | mei.chen@fabrikam.example   | CC-220      | 25.00          | USD      | LOC-HQ-3      | Recorded       | Y   |
    And the carrier's E911 locations export:
      | Location ID  | Street                  | Floor | Room              | City    | State | Country | Status    | Dispatchable |
      | LOC-HQ-14    | 100 N Riverside Plaza   | 14    | Trading floor     | Chicago | IL    | US      | Validated | Yes          |
      | LOC-HQ-LIFT2 | 100 N Riverside Plaza   | 1     | Elevator car 2    | Chicago | IL    | US      | Validated | Yes          |
      | LOC-HQ-FACP  | 100 N Riverside Plaza   | B1    | Fire control room | Chicago | IL    | US      | Validated | Yes          |
      | LOC-HQ-3     | 100 N Riverside Plaza   | 3     | Contact centre    | Chicago | IL    | US      | Validated | Yes          |
    And the carrier's monthly usage for every month from 2026-01 to 2026-06, without last-activity dates:
      | Service Number | Voice Minutes | Data MB | Messages |
      | 312-555-0101   | 412           | 3150    | 64       |
      | (312) 555-0142 | 35            | 0       | 0        |
      | 312.555.0177   | 0             | 0       | 0        |
      | (312) 555-0190 | 0             | 0       | 0        |
      | (312) 555-0191 | 0             | 0       | 0        |
      | (800) 555-0199 | 5840          | 0       | 0        |
    And the call recorder's export, national numbers in US:
      | Recording ID | Call ID       | Number         | Started (UTC)    | Tag        | Card Data Redacted | Announcement | Deleted (UTC)    |
      | REC-7001     |               | (800) 555-0199 | 2026-01-05 15:20 | QA         | Y                  | Y            | 2026-03-06 06:00 |
      | REC-7002     |               | (800) 555-0199 | 2026-03-18 19:12 | QA         | Y                  | Y            | 2026-05-17 06:00 |
      | REC-9002     | 1781103851.17 | (800) 555-0199 | 2026-06-10 15:04 | QA         | N                  | Y            |                  |
      | REC-9041     | 1781361002.41 | (312) 555-0142 | 2026-06-13 14:30 | Compliance |                    | N            |                  |
    And counsel's register of legal holds:
      | Hold       | Matter                              | Custodians                | Start      | Release |
      | LH-2026-07 | Alvarez v. Fabrikam (card dispute)  | mei.chen@fabrikam.example | 04/01/2026 |         |
    When the officer runs Dialtone on 2026-06-30
    Then every source was collected, and nothing was rejected but the two users Graph sent without an id or with a usage location that is no country
    And no policy finds the lift line "SVC-40190" or the fire-alarm line "SVC-40191", and regulatory.life-safety-line-integrity decides both
    And no policy finds the Teams Phone resource account's licence, nor lists it as undecidable
    And cost.telephony-licence-without-pstn decides that Rosa Ortiz's Teams Phone licence is used: her DID took a call this month
    And no policy calls the busy line "SVC-40101" idle, nor lists it as undecidable for idleness
    And no policy reports the recording "REC-7001", deleted before the hold on its line began
    And retention.recordings-deleted-under-legal-hold finds the recording "REC-7002", deleted while the hold was in force
    And security.payment-recordings-unredacted finds the quality recording "REC-9002"
    And the leaver's idle line "SVC-40177" is claimed by cost.leaver-lines and cost.zero-usage-lines, and counted once
    And the identified savings on the posture page equal, per currency, the largest saving claimed on each billable object by the open findings, summed
    And regulatory.all-party-consent-call-without-announcement finds the inbound call "1781361002.41" from California, recorded as "REC-9041" without an announcement, and decides the announced call "1781103851.17"
