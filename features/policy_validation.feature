@policies
Feature: Policy authors get precise errors for invalid policies
  Policies live in git and are checked in CI; an invalid one must say
  which file, which line and what was expected, and hostile SQL must
  never reach the database.

  Scenario: An invalid policy is reported with its file and line
    Given a policy file "cost/typo.yaml" with the condition:
      """
      status = 'active'
      AND statuz = 'suspended'
      """
    When I validate the policies
    Then validation fails
    And the error names "cost/typo.yaml" line 8 column 7
    And the error says "unknown column 'statuz' of lines. Did you mean 'status'?"

  Scenario Outline: A hostile condition is rejected at validation
    Given a policy file "security/evil.yaml" with the condition:
      """
      <condition>
      """
    When I validate the policies
    Then validation fails
    And the error says "<message>"

    Examples:
      | condition                                        | message                                     |
      | 1=1; DROP TABLE lines                            | only one SQL expression is allowed          |
      | id IN (SELECT * FROM read_csv('/etc/passwd'))    | file or network access are not allowed      |
      | getenv('HOME') = ''                              | function getenv() is not allowed            |
      | current_date > activated_on                      | current_date is not allowed                 |
      | random() < 0.5                                   | random values are not allowed               |
      | id IN (SELECT id FROM information_schema.tables) | table names cannot be qualified             |
