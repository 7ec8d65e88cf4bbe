"""``dialtone init`` and ``demo``: a new policy repository, a demo workspace."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("init")
@click.argument("directory", type=click.Path(file_okay=False))
def init_cmd(directory: str) -> None:
    """Create a policy repository: config, a custom pack with a tested example policy, an
    override of a built-in policy, exceptions/, .gitignore and a CI workflow."""
    from dialtone.engine.scaffold import scaffold

    for path in scaffold(Path(directory)):
        click.echo(f"  wrote {path}")
    click.echo(f"Next: cd {directory} && git init && dialtone policy validate && dialtone policy test")


@click.command("demo")
@click.option("--scale", default=1, show_default=True, type=click.IntRange(1, 10000),
              help="Size multiplier (1 ≈ 500 lines).")
@click.option("--dir", "workdir", default="demo", show_default=True, type=click.Path(file_okay=False),
              help="Where to write the demo workspace.")
@click.option("--seed", default=7, show_default=True, type=int)
@click.option("--no-serve", is_flag=True, help="Do not start the web UI afterwards.")
@click.option("--port", default=8080, show_default=True, type=int, help="Port of the web UI.")
def demo_cmd(scale: int, workdir: str, seed: int, no_serve: bool, port: int) -> None:
    """Write a demo workspace, collect it, evaluate the built-in policies, summarise, and serve the UI."""
    from dialtone.engine.demo import run_demo

    for line in run_demo(Path(workdir), scale=scale, seed=seed):
        click.echo(line)
    if no_serve:
        return
    from waitress import serve

    from dialtone.engine.config import load_config
    from dialtone.web.app import create_app

    app = create_app(load_config(Path(workdir) / "dialtone.yaml"))
    click.echo(f"\nThe web UI is on http://127.0.0.1:{port}/ - log in with an account above "
               "(Ctrl-C to stop).")
    serve(app, host="127.0.0.1", port=port, threads=8, ident="dialtone")
