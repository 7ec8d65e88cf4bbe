Feature: Remediation where people work: a critical finding becomes one Jira ticket, kept in step
  The telecom team fixes findings in Jira, not in Dialtone. A critical finding opens one ticket,
  once. Closing the ticket is a claim that the next evaluation confirms or refutes: only the
  data resolves a finding. When the data is fixed, the finding resolves and the ticket closes.

  Background:
    Given a Jira project "TEL" where Dialtone files its critical findings
    And a carrier export with the lift line "L7", suspended

  Scenario: One ticket, reopened while the violation persists, closed when the data is fixed
    When I run Dialtone
    Then Jira has 1 ticket, about the lift line "L7", labelled for Dialtone
    When I run Dialtone
    Then Jira still has 1 ticket
    When someone closes the ticket in Jira
    And I run Dialtone
    Then the ticket is open again in Jira, with a comment that the violation is still found and its evidence
    And the history of the finding about "L7" records the fix as claimed, then refuted
    And the finding about "L7" is still open
    When the lift line "L7" is cancelled in the carrier export
    And I run Dialtone
    Then the finding about "L7" is resolved
    And the ticket is closed in Jira
    And Jira still has 1 ticket
