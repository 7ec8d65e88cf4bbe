"""What people use: the Flask application and the command line, thin over the engine.

``app.py`` (the application factory, sessions, rate limits), ``security.py`` (roles on every
view, CSRF, headers), ``views/`` (pages and the JSON API), ``openapi.py`` (the API's document),
``charts.py`` (server-drawn SVG), ``templates/`` and ``static/``; ``cli/`` (the ``dialtone``
command, one module per command group), ``progress.py`` (the terminal progress line).
"""
