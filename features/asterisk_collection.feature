Feature: Collecting call detail records from an Asterisk PBX
  A telecom analyst points Dialtone at the PBX's cdr_csv Master.csv. A nightly
  collect reads only what Asterisk appended since the last run, yet every
  snapshot holds all the calls, each once.

  Scenario: An Asterisk file growing between two runs
    Given an Asterisk source "pbx" in America/Chicago whose Master.csv has the calls:
      | uniqueid     | src  | dst         | start               | answer              | duration | billsec | disposition |
      | 1719843302.1 | 1001 | 13125550100 | 2024-07-01 09:15:02 | 2024-07-01 09:15:07 | 65       | 60      | ANSWERED    |
      | 1719843600.2 | 1002 | 13125550101 | 2024-07-01 09:20:00 |                     | 20       | 0       | NO ANSWER   |
    When I collect the sources
    Then the snapshot has 2 calls from "pbx" and no rejects
    When Asterisk appends the calls:
      | uniqueid     | src  | dst         | start               | answer              | duration | billsec | disposition |
      | 1719847200.3 | 1003 | 13125550102 | 2024-07-01 10:20:00 | 2024-07-01 10:20:03 | 33       | 30      | ANSWERED    |
    And I collect the sources
    Then the snapshot has 3 calls from "pbx" and no rejects
    And the run read only the appended bytes of Master.csv
    And call "1719847200.3" started at "2024-07-01T15:20:00" UTC
    And call "1719843600.2" has 0 billable seconds
