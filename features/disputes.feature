Feature: A billing error disputed with the carrier is followed to its credit on a later bill
  An overcharge found on a bill becomes a dispute filed with the carrier. Each run matches the
  credits on the bills that follow to the disputes that asked for them: by the dispute's
  reference where the carrier quotes it, else by account, charge code and amount. A credit
  that two bills after filing has still not come is a finding (cost.dispute-credit-missing).

  Background:
    Given a carrier account whose bill 1 of 2026-04-05 overbills the plan of line "L1" by 20.00 USD
    And Dialtone has run once and found the overcharge on charge "C1"
    And a dispute opened from that finding is filed with the carrier on "2026-04-20"

  Scenario: The credit quoting the dispute's reference on bill 3 credits the dispute
    Then the dispute "DSP-000001" is filed, claiming 20.00 USD on charge "C1"
    When bill 2 arrives without a credit
    And Dialtone runs
    Then the run matched no credit
    And the dispute "DSP-000001" is still filed
    When bill 3 arrives with a credit of 20.00 quoting "DSP-000001"
    And Dialtone runs
    Then the run says "credits: 1 credit matched to 1 dispute (USD 20.00)"
    And the dispute "DSP-000001" is credited with 20.00 USD, on the basis "reference", from invoice "INV-3"
    And the history of the dispute "DSP-000001" ends with "dispute_credited"
    And there is no finding of "cost.dispute-credit-missing"
    When Dialtone runs
    Then the run matched no credit
    And the dispute "DSP-000001" is credited with 20.00 USD, on the basis "reference", from invoice "INV-3"

  Scenario: A credit that never comes is a finding after two bills, not after one
    When bill 2 arrives without a credit
    And Dialtone runs
    Then there is no finding of "cost.dispute-credit-missing"
    When bill 3 arrives without a credit
    And Dialtone runs
    Then there is a finding of "cost.dispute-credit-missing" about "DSP-000001/1", counting 2 bills up to "INV-3"
    And the dispute "DSP-000001" is still filed
