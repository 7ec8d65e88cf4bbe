"""One record per request: its latency into /metrics, and (``ops.log_format: json``) one JSON line
in the server's log.

A line holds the method, the endpoint (the view's name), the path without its query string, the
status, the duration, and who asked as the account's id and role. Never the username, an
e-mail address, a query string, a header, a cookie or a token: query strings carry search
terms and tokens, and an account id is enough to find the person in ``dialtone users list``
for whoever may.

With ``json``, the server's other messages (errors, warnings) are JSON lines too, written by
python-json-logger to standard error, where container platforms collect them.
"""

from __future__ import annotations

import logging
import sys
import time

from flask import Flask, g, request

from dialtone.engine.config import Config

#: The logger of the request lines (docs/operations.md).
REQUEST_LOGGER = "dialtone.requests"
#: Marks the handler this module installs, so a second application replaces it, never stacks.
_HANDLER_NAME = "dialtone-json"


def install(app: Flask, config: Config) -> None:
    """Time every request; log it as JSON when the configuration asks for it."""
    as_json = config.ops.log_format == "json"
    if as_json:
        use_json_logs()
    logger = logging.getLogger(REQUEST_LOGGER)

    @app.before_request
    def _start() -> None:
        g.request_started = time.perf_counter()

    @app.after_request
    def _record(response):
        started = g.pop("request_started", None)
        if started is None:   # a response made before the hooks ran (routing, a 405)
            return response
        seconds = time.perf_counter() - started
        endpoint = request.endpoint or "unmatched"
        app.extensions["dialtone.metrics"].observe(endpoint, request.method, response.status_code, seconds)
        if as_json:
            user = g.get("user")
            logger.info("request", extra={
                "method": request.method, "endpoint": endpoint, "path": request.path,
                "status": response.status_code, "duration_ms": round(seconds * 1000, 2),
                "user_id": getattr(user, "id", None), "role": getattr(user, "role", None)})
        return response


def use_json_logs(stream=None) -> logging.Handler:
    """The root logger writes JSON lines (``level``, ``logger``, ``message``, a record's extra
    fields and ``time``) to ``stream`` (standard error), at INFO and above."""
    from pythonjsonlogger.json import JsonFormatter

    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == _HANDLER_NAME]:
        root.removeHandler(old)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.set_name(_HANDLER_NAME)
    # time: ISO 8601 in UTC, whatever the container's time zone.
    handler.setFormatter(JsonFormatter("{levelname}{name}{message}", style="{", timestamp="time",
                                       rename_fields={"levelname": "level", "name": "logger"}))
    root.addHandler(handler)
    if root.level > logging.INFO or root.level == logging.NOTSET:
        root.setLevel(logging.INFO)
    return handler
