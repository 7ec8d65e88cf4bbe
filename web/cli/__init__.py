"""The ``dialtone`` command line: the group, ``main``, and where each command lives.

Each command group is a module of this package, imported only when one of its commands runs or
shows its help, so ``dialtone --help`` imports click and nothing of the engine. ``COMMANDS``
gives each command's module and the first paragraph of its help for that listing;
tests/test_cli_package.py checks the table against the commands themselves.
"""

from __future__ import annotations

import click

from .common import DialtoneGroup

#: name -> ("module:attribute", the first paragraph of the command's help)
COMMANDS: dict[str, tuple[str, str]] = {
    "audit": ("audit:audit_group", "Verify the remediation history; read the audit log."),
    "chargeback": ("chargeback:chargeback_cmd", "A chargeback journal (CSV) per cost centre and period."),
    "collect": ("estate:collect_cmd", "Read every configured source and write a new snapshot."),
    "collectors": ("collectors:collectors_group",
                   "The collectors installed (built-in and plugins) and their settings."),
    "db": ("db:db_group", "The operational store: its schema, backup and restore."),
    "demo": ("workspace:demo_cmd", "Write a demo workspace, collect it, evaluate the built-in policies, "
             "summarise, and serve the UI."),
    "disputes": ("disputes:disputes_group",
                 "Billing disputes with carriers: open from findings, file, track, write off, "
                 "claim package."),
    "evaluate": ("evaluate:evaluate_cmd",
                 "Evaluate policies against a snapshot and record the findings (unless --dry-run)."),
    "evidence": ("evidence:evidence_group", "Verify evidence packages; create a signing key."),
    "exceptions": ("exceptions:exceptions_group",
                   "Request, decide and list exceptions (accepted risk until an expiry date)."),
    "export": ("evidence:export_group", "Export what an auditor needs."),
    "findings": ("findings:findings_group",
                 "Findings across evaluations, their status and remediation history."),
    "frameworks": ("frameworks:frameworks_group", "The frameworks catalogue and its coverage by policies."),
    "init": ("workspace:init_cmd", "Create a policy repository: config, a custom pack with a tested example "
             "policy, an override of a built-in policy, exceptions/, .gitignore and a CI workflow."),
    "notify": ("notify:notify_group",
               "Notifications: send the outbox, list it, send a test message to a target."),
    "policy": ("policy:policy_group", "Validate, inspect and test policies."),
    "run": ("runs:run_cmd", "Collect every source, evaluate the policies and record the findings, once "
            "(for cron or CI)."),
    "runs": ("runs:runs_group",
             "Runs of `dialtone run` and of the scheduler: what each collected and found."),
    "scheduler": ("runs:scheduler_cmd",
                  "Run on the configuration's `schedule:` (cron, UTC) until stopped (SIGTERM/Ctrl-C)."),
    "schema": ("estate:schema_cmd", "Print the estate model, or one ENTITY's fields and relations."),
    "serve": ("serve:serve_cmd", "Run the web application with a production WSGI server (waitress)."),
    "snapshots": ("estate:snapshots_group", "List and inspect snapshots."),
    "tokens": ("accounts:tokens_group", "API tokens for scripts: create, list, revoke."),
    "users": ("accounts:users_group",
              "Local accounts of the web application (roles: admin, officer, auditor)."),
}


@click.group(cls=DialtoneGroup, lazy=COMMANDS)
@click.option("--config", "config_path", type=click.Path(dir_okay=False),
              help="Configuration file (default: $DIALTONE_CONFIG or ./dialtone.yaml).")
@click.version_option(package_name="dialtone")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None) -> None:
    """Dialtone: policy-as-code compliance for communications estates."""
    ctx.ensure_object(dict)
    ctx.obj["config"] = config_path


def main() -> None:
    cli(prog_name="dialtone")


__all__ = ["COMMANDS", "cli", "main"]
