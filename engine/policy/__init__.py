"""Policy files: ``model.py`` (the typed ``Policy``), ``policy.schema.json`` and ``loader.py``
(YAML → schema → dataclass, with positions), ``overrides.py`` (an organisation's parameter
overrides and disabled policies), ``exception_spec.py`` (an exception as written) and
``exceptions_file.py`` (exceptions reviewed in the policy repository).
"""
