Feature: Collecting a Microsoft 365 tenant through Microsoft Graph
  An IT asset manager registers an app in Microsoft Entra ID and points
  Dialtone at the tenant. Graph hands large directories out a page at a time
  and throttles busy clients; the collect waits as Graph asks, reads every
  page, and keeps every record it cannot take as a reject.

  Scenario: A throttled Graph tenant with five pages
    Given a Microsoft 365 tenant whose users Graph serves in pages of 2
    And Graph throttles the first request for users with Retry-After 3
    And a source "m365" for the tenant with its client secret in DIALTONE_GRAPH_SECRET
    When I collect the sources
    Then Graph served the users in 5 pages after waiting 3 seconds once
    And the snapshot has 7 people from "m365"
    And "rosa.ortiz@fabrikam.example" is active and holds the licences SPE_E5, MCOEV
    And "tom.baker@fabrikam.example" is terminated and holds the licences SPE_E5
    And the rejects are:
      | entity | origin     | row | field   |
      | people | GET /users | 4   | id      |
      | people | GET /users | 5   | country |
    And the client secret appears nowhere in the snapshot

  Scenario: A Teams Phone resource account and a meeting room are not leavers
    Microsoft makes a resource account (the number of an auto attendant or a
    call queue) as a user whose sign-in is blocked. Blocked sign-in usually
    means someone left; for these accounts it means nothing of the kind.

    Given a Microsoft 365 tenant whose users Graph serves in pages of 2
    And a source "m365" for the tenant with its client secret in DIALTONE_GRAPH_SECRET
    When I collect the sources
    Then "aa-main@fabrikam.example" is of kind resource_account, active, holding the licences PHONESYSTEM_VIRTUALUSER
    And its PHONESYSTEM_VIRTUALUSER licence is active though the account is disabled
    And "room.boardroom@fabrikam.example" is of kind room, active, holding the licences Microsoft_Teams_Rooms_Pro
    And "svc.frontdesk@fabrikam.example" is of kind person, terminated, holding the licences SPE_E5
