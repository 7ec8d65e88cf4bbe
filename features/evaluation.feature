@evaluation
Feature: Evaluating an estate against policies
  A compliance officer collects the estate and evaluates it; findings
  appear for violating resources only, and an auditor re-running the
  evaluation gets exactly the same result.

  Background:
    Given an estate folder with lines:
      | id | kind   | status | monthly_cost | activated_on | assigned_to |
      | L1 | mobile | active | 40           | 2024-01-10   | P1          |
      | L2 | mobile | active | 35           | 2024-01-10   | P2          |
    And people:
      | id | name         | status     | terminated_on |
      | P1 | Ada Lovelace | active     |               |
      | P2 | Alan Turing  | terminated | 2026-03-01    |
    And the policy "cost.leaver-lines-demo" on lines where:
      """
      status = 'active' AND owner.status = 'terminated'
      AND days_since(owner.terminated_on) > :grace_days
      """
    And the policy takes the parameter grace_days with default 30

  Scenario: A violating estate raises a finding and a compliant one does not
    When I collect the estate as of "2026-06-30"
    And I evaluate the policies
    Then the policy "cost.leaver-lines-demo" is in alarm
    And line "L2" is found
    And line "L1" is not found
    When person "P2" becomes active again
    And I collect the estate as of "2026-06-30"
    And I evaluate the policies
    Then the policy "cost.leaver-lines-demo" is ok

  Scenario: The same inputs give byte-identical output
    When I collect the estate as of "2026-06-30"
    And I evaluate the policies as JSON twice
    Then both outputs are byte-identical
