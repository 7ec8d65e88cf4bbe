@web
Feature: The web application: officers act on findings, auditors only read
  An officer comments on a finding and requests an exception; another officer
  approves it and the finding's timeline shows each step. An auditor sees the
  same pages without a single action, and the API refuses their changes.

  Background:
    Given the web application over a small findings store

  Scenario: An officer requests an exception, another officer approves it, the timeline shows it
    Given "officer" is logged in
    When they filter the findings by policy "cost.zero-usage-lines"
    Then every finding listed is of policy "cost.zero-usage-lines"
    When they open the finding of line "L1"
    And they comment "called the site: it is the lift panel line"
    And they request an exception "lift panel line, kept by law" until "2026-11-30"
    Then the exception awaits another officer and they cannot approve it
    When "officer2" logs in and approves the exception
    Then the finding of line "L1" is "excepted"
    And its timeline reads "opened, commented, exception requested, exception approved, excepted"
    And its timeline shows "called the site: it is the lift panel line"

  Scenario: An auditor sees no actions and the API refuses a change
    Given "auditor" is logged in
    When they open the finding of line "L1"
    Then the page offers no action
    And the findings and exceptions pages offer no action
    And the API refuses a comment sent with the auditor's token with 403

  Scenario: In a real browser, a resource named like a script is shown as text
    Given a real browser
    When "officer" opens the finding of the resource named like a script tag in the browser
    Then the browser shows the name as text and no dialog opens
