"""Notifications: routing findings to the people who fix them, and tickets kept in step.

- ``routing.py``: events of the history and the clock → messages in the store's outbox, set-based;
- ``render.py``: messages as text, HTML and the webhook's JSON (Jinja, autoescaped), evidence
  masked as the target allows;
- ``delivery.py``: the outbox sent in order per target, retried with backoff, dead letters; the
  trackers' tickets polled (closed → fix claimed; comments mirrored).

The ``notifications:`` section is read with the configuration by ``engine/notify_settings.py``;
the target protocol and its registry (``dialtone.notifiers``) are ``engine/notifier_api.py``
(both outside this package, which reads the configuration, so that the configuration can
check targets without importing it). The store's side (the outbox's rows, the tickets) is
``engine/store/outbox.py``.
"""
