Feature: Source health: failing sources go stale, old data is never a silent pass, references resolve
  Sources name people differently and sometimes fail. A compliance officer must
  be able to trust that "ok" means the data was there and fresh, and see every
  reference Dialtone could not tie to a person.

  Background:
    Given an HR source "hr" with the people:
      | id | name | email           | employee_id | status     | terminated_on |
      | P1 | Ada  | ada@example.com | E001        | active     |               |
      | P2 | Bob  | bob@example.com | E002        | terminated | 2025-01-01    |
    And a carrier source "carrier" with max_age "2d" whose export has the lines:
      | id | kind   | status | number       | assigned_to     | monthly_cost |
      | L1 | mobile | active | +15551230001 | E001            | 40           |
      | L2 | mobile | active | +15551230002 | bob@example.com | 40           |
      | L3 | mobile | active | +15551230003 | who@example.com | 40           |

  Scenario: An unresolved person reference reported
    When I run Dialtone
    Then the run exits with status 0
    And line "L1" is assigned to "P1" and line "L2" to "P2"
    And the run reports 1 unresolved reference from source "carrier"
    And the snapshot's unresolved references list "who@example.com" in lines.assigned_to from "carrier"

  Scenario: A failing source going stale turns a policy to error
    Given a seats source "seats" whose export has the licenses:
      | id | product | assigned_to     | monthly_cost | status |
      | Z1 | zoom    | bob@example.com | 15           | active |
    And the sources were last collected 9 days ago
    When the carrier export disappears
    And I run Dialtone
    Then the run exits with status 3
    And source "carrier" is stale in the run, with an error naming its folder
    And policy "cost.leaver-lines" is in error because "lines data is 9 days old"
    And policy "cost.leaver-licenses", reading only fresh data, raises an alarm
