"""The built-in collectors, registered through the ``dialtone.collectors`` entry points like
any third-party one (engine/collector_api.py is the protocol).

Files: ``csv_files.py`` (canonical or mapped CSV/JSONL). Call records: ``asterisk.py``,
``freeswitch.py``, ``cucm.py`` on ``cdr.py`` (block-wise CDR reading). REST APIs: ``msgraph.py``
(Entra ID, licences, Intune), ``zoom.py``, ``twilio.py`` on ``http_api.py`` (secrets, OAuth2,
paging, throttling).
"""
