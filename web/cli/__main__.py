"""``python -m dialtone.web.cli``: the same as the ``dialtone`` script."""

from . import main

main()
