"""The roles of Dialtone's users: ``admin`` (accounts and settings), ``officer`` (reviews,
assigns, resolves findings, decides exceptions), ``auditor`` (reads and exports evidence).
Kept free of imports so the command line can offer them without loading the store."""

ROLES = ("admin", "officer", "auditor")
