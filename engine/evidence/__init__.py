"""Evidence packages an auditor can verify: what was found, from which data, under which
policy text, how it was fixed — hashed, optionally signed, reproducible byte for byte.

``scope.py`` (what a package covers, read in one transaction), ``package.py`` (the zip, its
manifest and DSSE signature), ``oscal.py`` (OSCAL assessment results, POA&M, plan),
``masking.py`` (consistent PII tokens), ``verify.py`` (checking a package as hostile input),
``templates/`` (the human-readable report).
"""
