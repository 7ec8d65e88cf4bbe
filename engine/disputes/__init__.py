"""Billing disputes beyond the store: built from findings and the snapshot's bills (build.py),
claim packages for the carrier, credits matched on later bills, and the savings ledger."""
