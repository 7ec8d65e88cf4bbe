"""The one canonical JSON text of a document: what the history chain and content hashes hash.

Sorted keys, no spaces, UTF-8 as is: the same document always gives the same text, on every
machine and database, so a hash of it can be recomputed by anyone who has the document.
"""

from __future__ import annotations

import json


def canonical_data(data: dict) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
