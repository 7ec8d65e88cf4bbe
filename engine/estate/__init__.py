"""The estate model: what Dialtone knows about a communications estate.

``schemas/*.json`` (one JSON Schema per entity: the single source of truth), ``model.py``
(entities, fields, relations, their SQL and Arrow types), ``vocabulary.py`` with
``synonyms.yaml`` (the words sources use for canonical values), ``reference.py`` (docs/estate.md
and ``dialtone schema``).
"""
