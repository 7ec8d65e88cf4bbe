"""Generate docs/cli.md from the commands' own help, so it cannot drift."""

from __future__ import annotations

import click

from . import cli

HEADER = """# Command reference

<!-- Generated from the commands' help by `python -m dialtone.web.cli.reference`.
     Do not edit by hand: a test fails when this file is stale. -->

Exit status: 0 when the command ran; 1 when `policy validate` or `policy
test` found a problem, or `evaluate --fail-on` found findings at or above
that severity; 2 on a usage or runtime error (one message, no traceback).
"""


def _walk(command: click.Command, path: list[str]):
    yield path, command
    if isinstance(command, click.Group):
        for name in sorted(command.commands):
            yield from _walk(command.commands[name], [*path, name])


def reference() -> str:
    parts = [HEADER]
    for path, command in _walk(cli, ["dialtone"]):
        ctx = click.Context(command, info_name=" ".join(path), terminal_width=88,
                            max_content_width=88)
        parts.append(f"## `{' '.join(path)}`\n\n```\n{command.get_help(ctx).strip()}\n```\n")
    return "\n".join(parts)


if __name__ == "__main__":
    import sys

    sys.stdout.write(reference())
