"""Notifications: routing findings to the people who fix them, and tickets kept in step.

- ``settings.py``: the ``notifications:`` section (targets, rules), read with the configuration;
- ``targets.py``: the target protocol (messages, tickets) and its registry, ``dialtone.notifiers``;
- ``routing.py``: events of the history and the clock → messages in the store's outbox, set-based;
- ``render.py``: messages as text, HTML and the webhook's JSON (Jinja, autoescaped), evidence
  masked as the target allows;
- ``delivery.py``: the outbox sent in order per target, retried with backoff, dead letters; the
  trackers' tickets polled (closed → fix claimed; comments mirrored).

The store's side (tables, the outbox's rows, the tickets) is ``engine/store/outbox.py``.
"""
