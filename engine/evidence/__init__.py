"""Evidence packages an auditor can verify: what was found, from which data, under which
policy text, how it was fixed — hashed, optionally signed, reproducible byte for byte."""
