Feature: Collecting a Microsoft 365 tenant through Microsoft Graph
  An IT asset manager registers an app in Microsoft Entra ID and points
  Dialtone at the tenant. Graph hands large directories out a page at a time
  and throttles busy clients; the collect waits as Graph asks, reads every
  page, and keeps every record it cannot take as a reject.

  Scenario: A throttled Graph tenant with three pages
    Given a Microsoft 365 tenant whose users Graph serves in pages of 2
    And Graph throttles the first request for users with Retry-After 3
    And a source "m365" for the tenant with its client secret in DIALTONE_GRAPH_SECRET
    When I collect the sources
    Then Graph served the users in 3 pages after waiting 3 seconds once
    And the snapshot has 4 people from "m365"
    And "rosa.ortiz@fabrikam.example" is active and holds the licences SPE_E5, MCOEV
    And "tom.baker@fabrikam.example" is terminated and holds the licences SPE_E5
    And the rejects are:
      | entity | origin     | row | field   | value | reason                                          |
      | people | GET /users | 4   | id      |       | a Graph user without an id                      |
      | people | GET /users | 5   | country | USA   | does not match the expected format ^[A-Z]{2}$   |
    And the client secret appears nowhere in the snapshot
