"""The built-in policy packs (cost, lifecycle, regulatory, retention, security) and the
frameworks catalogue, shipped as package data: YAML files only, no code but where they are."""

from __future__ import annotations

from pathlib import Path


def builtin_policy_dir() -> Path:
    """The folder of the built-in packs, wherever Dialtone is installed."""
    return Path(__file__).resolve().parent
