"""ANSI X12: a streaming reader of interchanges (``reader``) and what the 811 says (``bill811``)."""
