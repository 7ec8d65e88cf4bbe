"""``dialtone chargeback``: the cost-allocation journal of the latest snapshot's charges."""

from __future__ import annotations

import click

from .common import configuration


@click.command("chargeback")
@click.option("--period", help="One month, YYYY-MM (default: every period the bills cover).")
@click.option("--snapshot", "snapshot_id", default=None, help="A snapshot id (default: the latest).")
@click.option("--out", "out", type=click.Path(dir_okay=False), default=None,
              help="Write the CSV to this file (default: standard output).")
@click.pass_context
def chargeback_cmd(ctx: click.Context, period: str | None, snapshot_id: str | None, out: str | None) -> None:
    """A chargeback journal (CSV) per cost centre and period.

    One row per period, cost centre, vendor, account and currency: the net amount charged
    (credits included) and the number of charges. Charges for no line, or for a line without a
    cost centre, are in the row "(unallocated)". The summary line goes to standard error."""
    from pathlib import Path

    from dialtone.engine.disputes.chargeback import check_period, csv_bytes, journal
    from dialtone.engine.snapshots import SnapshotStore

    check_period(period)
    snap = SnapshotStore(configuration(ctx).data_dir).get(snapshot_id)
    table = journal(snap, period)
    body = csv_bytes(table)
    if out is None:
        click.echo(body.decode("utf-8"), nl=False)
    else:
        Path(out).write_bytes(body)
    what = f"period {period}" if period else "every period"
    click.echo(f"{table.num_rows} journal rows for {what} from snapshot {snap.id}"
               + (f", written to {out}" if out else ""), err=True)
