@findings
Feature: Findings lifecycle, exceptions and a history an auditor can trust
  Findings persist across evaluations; exceptions are approved by someone
  other than the requester and expire; every change is in a hash chain.

  Background:
    Given a findings store on "2026-11-02"

  Scenario: A finding opens, resolves and reopens across three snapshots
    When snapshot "S1" finds lines "L1, L2" idle
    Then line "L1" is "open"
    When a day passes and snapshot "S2" finds lines "L2" idle
    Then line "L1" is "resolved"
    And line "L2" is "open"
    When a day passes and snapshot "S3" finds lines "L1, L2" idle
    Then line "L1" is "open"
    And the history of line "L1" reads "opened, resolved, reopened"

  Scenario: An exception is approved, then expires and reopens its finding
    Given snapshot "S1" finds lines "L1" idle
    And "alice" requests an exception for line "L1" until "2026-11-12"
    When "carol" approves the exception
    Then line "L1" is "excepted"
    When the date is "2026-11-12" and snapshot "S2" finds lines "L1" idle
    Then line "L1" is "excepted"
    When the date is "2026-11-13" and snapshot "S3" finds lines "L1" idle
    Then line "L1" is "open"
    And the history of line "L1" ends with "exception_expired"

  Scenario: A requester cannot approve their own exception
    Given snapshot "S1" finds lines "L1" idle
    And "alice" requests an exception for line "L1" until "2026-11-20"
    When "alice" tries to approve the exception
    Then she is told "alice requested exception 1 and cannot approve it"
    And line "L1" is "open"

  Scenario: A tampered history is detected
    Given snapshot "S1" finds lines "L1, L2, L3" idle
    And the history verifies
    When someone edits event 2 in the database
    Then verifying the history reports event 2 as altered
