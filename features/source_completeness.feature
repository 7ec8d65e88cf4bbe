Feature: Missing data is never a fix
  A compliance tool that records a false fix is a liability: an export that is
  emptied, cut short or has its columns renamed must never make the findings it
  hid look resolved. Such a source is failed, its previous rows are kept (marked
  stale), the run is degraded (exit status 3) and every finding it could not
  re-check stays open, with a note in its history saying why.

  Background:
    Given an HR source "hr" with the people:
      | id | name | email           | employee_id | status     | terminated_on |
      | P1 | Ada  | ada@example.com | E001        | active     |               |
      | P2 | Bob  | bob@example.com | E002        | terminated | 2025-01-01    |
    And a carrier source "carrier" with max_age "2d" whose export has the lines:
      | id | kind   | status | number       | assigned_to     | monthly_cost |
      | L1 | mobile | active | +15551230001 | E001            | 40           |
      | L2 | mobile | active | +15551230002 | bob@example.com | 40           |
      | L3 | mobile | active | +15551230003 | bob@example.com | 40           |
    And Dialtone has run once and found the leaver lines "L2, L3"

  Scenario: An emptied export resolves nothing
    When the carrier export is emptied
    And I run Dialtone
    Then the run exits with status 3
    And source "carrier" failed in the run because "lines: no rows, where the previous snapshot had 3"
    And the run resolved no finding
    And the leaver lines "L2, L3" are still open

  Scenario: A renamed key column resolves nothing
    When the carrier export's "id" column is renamed "line_id"
    And I run Dialtone
    Then the run exits with status 3
    And source "carrier" failed in the run because "the column(s) id of lines are missing"
    And the run resolved no finding
    And the leaver lines "L2, L3" are still open

  Scenario: An export cut short in its last line resolves nothing
    When the carrier export is cut short in the middle of its last line
    And I run Dialtone
    Then the run exits with status 3
    And source "carrier" failed in the run because "the last line has no line break"
    And the run resolved no finding
    And the leaver lines "L2, L3" are still open

  Scenario: Fresh data cannot resolve a finding that a failed source also fed
    When "P2" is active again in HR
    And the carrier export is emptied
    And I run Dialtone
    Then the run exits with status 3
    And the leaver lines "L2, L3" are still open
    And the history of the leaver line "L2" ends with "not_rechecked" because "source 'carrier' failed"
    When the carrier export is restored
    And I run Dialtone
    Then the run exits with status 0
    And the history of the leaver line "L2" ends with "resolved"

  Scenario: A line that left the export is not a fix
    When line "L3" leaves the carrier export
    And I run Dialtone
    Then the run exits with status 0
    And the run resolved no finding
    And the leaver lines "L2, L3" are still open
    And the history of the leaver line "L3" ends with "not_rechecked" because "lines L3 is no longer in the collected data"
