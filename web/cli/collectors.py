"""``dialtone collectors``: the collectors installed (built-in and plugins) and their settings."""

from __future__ import annotations

import json

import click


@click.group("collectors")
def collectors_group() -> None:
    """The collectors installed (built-in and plugins) and their settings."""


@collectors_group.command("list")
def collectors_list() -> None:
    from dialtone.engine.collector_api import collectors
    from dialtone.engine.errors import RegistryError

    for name in collectors.names():
        try:
            cls = collectors.get(name)
        except RegistryError as exc:
            click.echo(f"{name:<12} (cannot be loaded: {exc})")
            continue
        doc = (cls.__doc__ or "").strip().splitlines()
        click.echo(f"{name:<12} {doc[0] if doc else ''}")


@collectors_group.command("show")
@click.argument("name")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
def collectors_show(name: str, fmt: str) -> None:
    """A collector's description and its settings (JSON Schema)."""
    from dialtone.engine.collector_api import collectors

    cls = collectors.get(name)
    schema = cls.config_schema
    if fmt == "json":
        click.echo(json.dumps(schema, indent=2, sort_keys=True))
        return
    click.echo(f"{name}: {(cls.__doc__ or '').strip()}")
    click.echo(f"  class: {cls.__module__}.{cls.__qualname__}")
    required = set(schema.get("required", []))
    click.echo("  settings:")
    for key, spec in (schema.get("properties") or {}).items():
        kind = spec.get("type") or ("one of " + ", ".join(map(str, spec["enum"]))
                                    if "enum" in spec else "")
        if isinstance(kind, list):
            kind = "/".join(kind)
        secret = " (secret: never logged)" if key in getattr(cls, "secret_settings", ()) else ""
        click.echo(f"    {key:<22} {'required' if key in required else 'optional':<9} {kind}"
                   f"{secret}  {spec.get('description', '')}".rstrip())
    click.echo("  every source also takes: collector (required), max_age (e.g. 36h, 2d)")
