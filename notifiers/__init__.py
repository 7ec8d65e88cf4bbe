"""The built-in notification targets (the protocol: ``engine/notifier_api.py``).

- ``email.py``: SMTP with STARTTLS or TLS, HTML and text bodies;
- ``chat.py``: chat and push services through Apprise (Slack, Microsoft Teams, …);
- ``webhook.py``: a JSON POST signed with HMAC-SHA256;
- ``jira.py``, ``servicenow.py``: two-way tickets (Jira Cloud REST v3, ServiceNow Table API),
  with ``http.py``, the HTTP client they share.
"""
