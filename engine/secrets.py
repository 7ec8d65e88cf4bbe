"""Secrets named in the configuration, never written in it: ``<name>_env`` (an environment
variable's name) or ``<name>_file`` (a file beside the configuration, its content stripped).

Collectors' and notification targets' settings use the same two forms. Anything missing or
unreadable is a :class:`ConfigError` naming where in the configuration and which setting,
never the value.
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import ConfigError


def secret_setting_names(name: str) -> tuple[str, str]:
    """The two settings that may point at the secret ``name``."""
    return f"{name}_env", f"{name}_file"


def secret_schema(name: str, what: str) -> dict[str, dict]:
    """Schema properties for the two ways of giving the secret ``name``."""
    env, file = secret_setting_names(name)
    return {
        env: {"type": "string", "minLength": 1, "pattern": r"^[A-Za-z_][A-Za-z0-9_]*$",
              "description": f"Environment variable holding the {what}"},
        file: {"type": "string", "minLength": 1,
               "description": f"File holding the {what} (relative to the configuration file)"},
    }


def read_secret(settings: dict, name: str, where: str, base_dir: Path, *,
                required: bool = True) -> str | None:
    """The secret ``name`` of the settings at ``where`` (``sources.graph``,
    ``notifications.targets.jira``); None when it is optional and not given."""
    env, file = secret_setting_names(name)
    if env in settings and file in settings:
        raise ConfigError(f"{where}: give either '{env}' or '{file}', not both.")
    if env in settings:
        var = settings[env]
        value = os.environ.get(var, "").strip()
        if not value:
            raise ConfigError(f"{where}.{env}: the environment variable {var} is not set or empty.")
        return value
    if file in settings:
        path = base_dir / settings[file]
        try:
            value = path.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
            raise ConfigError(f"{where}.{file}: cannot read {path}: {reason}.") from None
        if not value:
            raise ConfigError(f"{where}.{file}: {path} is empty.")
        return value
    if not required:
        return None
    raise ConfigError(f"{where}: no {name.replace('_', ' ')}: set '{env}' (an environment variable's "
                      f"name) or '{file}' (a file holding it).")
