"""The engine: everything between a source's records and a recorded finding; it never imports
``collectors`` or ``web`` (they plug in through entry points and call it).

Packages: ``estate/`` (the model), ``policy/`` (policy files), ``compiler/`` (policy → SQL),
``backends/`` (DuckDB, Spark), ``store/`` (findings, history, exceptions, accounts),
``evidence/`` (auditor packages), ``formats/`` (SARIF, JUnit, OCSF).
Collecting: ``collector_api``, ``collect``, ``validate``, ``identity``, ``phone``,
``completeness``, ``freshness``, ``snapshots``. Evaluating: ``configured`` (the one path from
the configuration), ``evaluation``, ``limits``, ``obligations``, ``frameworks``, ``savings``,
``finance``. Running: ``runs``, ``schedule``, ``scheduler``, ``demo``, ``synthetic``.
Provenance and replay: ``provenance``, ``replay``, ``policy_diff``, ``gitcli``, ``policy_tests``.
Small shared parts: ``config``, ``errors``, ``registry``, ``yamlio``, ``csvsafe``, ``sqltext``,
``canonical_json``, ``private_files``, ``roles``. docs/architecture.md has a row for each.
"""
