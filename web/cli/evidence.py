"""``dialtone export evidence`` and ``dialtone evidence verify|keygen|replay``."""

from __future__ import annotations

from pathlib import Path

import click

from .common import configuration, open_store


@click.group("export")
def export_group() -> None:
    """Export what an auditor needs."""


@export_group.command("evidence")
@click.option("--framework", help="Only policies mapped to this framework.")
@click.option("--policy", "policy_ids", multiple=True, help="Only this policy (repeatable).")
@click.option("--period", "preset", type=click.Choice(["last-quarter", "this-quarter", "year-to-date",
                                                       "last-year"]),
              help="A period relative to today: a whole quarter or year, or up to today.")
@click.option("--from", "start", type=click.DateTime(["%Y-%m-%d"]),
              help="First day of the period (inclusive); with --to, instead of --period.")
@click.option("--to", "end", type=click.DateTime(["%Y-%m-%d"]), help="Last day of the period (inclusive).")
@click.option("--by", "by", type=click.Choice(["run", "snapshot"]), default="run", show_default=True,
              help="Select evaluations by the day they ran, or by their snapshot's as-of date.")
@click.option("--mask-pii", is_flag=True, help="Mask phone numbers, e-mail addresses and names.")
@click.option("--sign-with", "signing_key", type=click.Path(dir_okay=False, exists=True),
              help="Ed25519 private key (PEM); default: evidence.signing_key in the config.")
@click.option("-o", "--output", type=click.Path(dir_okay=False),
              help="The .zip to write; default: a name with the framework and the period, here.")
@click.pass_context
def export_evidence_cmd(ctx, framework, policy_ids, preset, start, end, by, mask_pii, signing_key,
                        output) -> None:
    """Write a verifiable evidence package (zip) for a period."""
    from dialtone.engine.errors import DialtoneError
    from dialtone.engine.evidence.package import export_evidence
    from dialtone.engine.evidence.scope import PERIOD_KINDS, Scope, preset_period, say_period
    from dialtone.engine.frameworks import load_catalogue
    from dialtone.engine.policy.loader import load_policies

    if preset and (start or end):
        raise click.UsageError("give --period, or --from and --to, not both")
    if not preset and not (start and end):
        raise click.UsageError("give the period: --period (e.g. last-quarter), or --from and --to")
    config = configuration(ctx)
    store = open_store(ctx, refresh=True)   # the package says what is in force today
    if preset:
        first, last = preset_period(preset, store.today())
    else:
        first, last = start.date(), end.date()
    scope = Scope(first, last, framework, tuple(policy_ids), mask_pii, by)
    key = Path(signing_key) if signing_key else config.signing_key
    try:
        catalogue = load_catalogue(config.policy_paths)
    except DialtoneError:
        catalogue = None   # titles fall back to the ids; the catalogue is checked by `frameworks`
    result = export_evidence(
        store, scope, Path(output) if output else Path(scope.file_name()),
        snapshots_dir=config.data_dir / "snapshots",
        loaded_policies=load_policies(config.policy_paths).by_id(), data_dir=config.data_dir,
        signing_key=key, catalogue=catalogue)
    click.echo(f"wrote {result.path}: {result.evaluations} evaluation(s), {result.findings} finding(s), "
               f"{result.files} files, " + ("signed" if result.signed else "NOT signed (no signing key)"))
    click.echo(f"period {say_period(first, last, joiner='to')}, by {PERIOD_KINDS[by]}")
    click.echo(f"export id {result.export_id}")


@click.group("evidence")
def evidence_group() -> None:
    """Verify evidence packages; create a signing key."""


@evidence_group.command("verify")
@click.argument("package", type=click.Path(dir_okay=False, exists=True))
@click.option("--key", "public_key", type=click.Path(dir_okay=False, exists=True),
              help="The organisation's Ed25519 public key (PEM) to check the signature with.")
@click.pass_context
def evidence_verify_cmd(ctx, package: str, public_key: str | None) -> None:
    """Check every file's hash, the signature and the history chain; exit 1 on any failure."""
    from dialtone.engine.evidence.verify import verify_package

    report = verify_package(Path(package), Path(public_key) if public_key else None)
    for note in report.notes:
        click.echo(f"note: {note}")
    for problem in report.problems:
        click.echo(f"FAIL: {problem}", err=True)
    if report.ok:
        click.echo(f"OK: {report.checked_files} files and {report.checked_events} history events verified")
    else:
        click.echo(f"{len(report.problems)} problem(s) found", err=True)
        ctx.exit(1)


@evidence_group.command("keygen")
@click.option("--out", "prefix", required=True, type=click.Path(dir_okay=False),
              help="Writes PREFIX.pem (private, mode 600) and PREFIX.pub.pem (public).")
def evidence_keygen_cmd(prefix: str) -> None:
    """Create an Ed25519 key pair for signing evidence packages."""
    import os

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    private = Path(f"{prefix}.pem")
    public = Path(f"{prefix}.pub.pem")
    if private.exists():
        raise click.ClickException(f"{private} exists; not overwriting a key")
    fd = os.open(private, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                   serialization.NoEncryption()))
    public.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                     serialization.PublicFormat.SubjectPublicKeyInfo))
    click.echo(f"wrote {private} (keep it secret) and {public} (give it to auditors)")


@evidence_group.command("replay")
@click.argument("evaluation_id", type=int)
@click.pass_context
def evidence_replay_cmd(ctx, evaluation_id: int) -> None:
    """Re-run a recorded evaluation from its snapshot, policy text and parameters; exit 1 unless
    every policy's results are identical to the record."""
    from dialtone.engine.replay import replay

    report = replay(open_store(ctx, refresh=False), evaluation_id, configuration(ctx))
    for line in report.not_replayable:
        click.echo(f"cannot replay: {line}", err=True)
    for line in report.differences:
        click.echo(f"DIFFERENT: {line}", err=True)
    if report.identical:
        click.echo(f"evaluation {evaluation_id}: {report.compared} policies replayed, results identical")
    else:
        click.echo(f"evaluation {evaluation_id}: {report.compared} policies replayed, "
                   f"{len(report.differences)} different, {len(report.not_replayable)} not replayable",
                   err=True)
        ctx.exit(1)
