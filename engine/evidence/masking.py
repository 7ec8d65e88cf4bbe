"""Consistent PII masking: the same value always becomes the same token within a store.

Tokens are HMAC-SHA256 of the value under a key kept in the data directory
(created once), so they cannot be reversed by hashing every phone number,
yet two exports from the same store agree.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from pathlib import Path

import re2

# RE2 finds matches in time linear in the text: Python's backtracking ``re`` took quadratic time
# on EMAIL (a 1 MB comment without an '@' ran for a quarter of an hour), since every start
# position rescans the rest of the run. The patterns are those ``re`` used; ``\p{Nd}`` is
# what ``\d`` means in ``re`` (any Unicode decimal digit) and not in RE2 (ASCII only).
PHONE = re2.compile(r"\+?\p{Nd}[\p{Nd} ().-]{6,}\p{Nd}")
EMAIL = re2.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
#: Evidence keys whose values are people's names.
NAME_KEY = re.compile(r"(^|[._])(name|display_name|full_name|first_name|last_name|assignee)$")


def mask_key(data_dir: Path) -> bytes:
    path = Path(data_dir) / "mask.key"
    if not path.exists():
        from ..private_files import make_private_dir

        make_private_dir(path.parent)
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(secrets.token_bytes(32))
        tmp.chmod(0o600)
        tmp.replace(path)
    return path.read_bytes()


class Masker:
    def __init__(self, key: bytes) -> None:
        self._key = key

    def token(self, kind: str, value: str) -> str:
        digest = hmac.new(self._key, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()
        return f"[{kind}:{digest[:12]}]"

    def text(self, value: str) -> str:
        value = EMAIL.sub(lambda m: self.token("email", m.group(0).lower()), value)
        return PHONE.sub(lambda m: self.token("phone", re.sub(r"[^\d+]", "", m.group(0))), value)

    def value(self, key: str, value):
        if isinstance(value, str):
            if NAME_KEY.search(key.lower()):
                return self.token("name", value.strip().lower())
            return self.text(value)
        if isinstance(value, list):
            return [self.value(key, v) for v in value]
        if isinstance(value, dict):
            return {k: self.value(k, v) for k, v in value.items()}
        return value

    def evidence(self, evidence: dict) -> dict:
        return {k: self.value(k, v) for k, v in evidence.items()}
