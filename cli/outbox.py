"""`repe outbox`: see what the bot has queued or sent, and requeue messages that gave up."""

from typing import Annotated

import typer

from cli.common import (
    N_,
    console,
    format_time,
    get_admin,
    get_settings,
    new_table,
    print_json,
    print_success,
    zone_caption,
)
from repe_bot.i18n import _

outbox_app = typer.Typer(help=N_("Inspect the outgoing message queue and retry failed messages."), no_args_is_help=True)


@outbox_app.command("list", help=N_("List the newest outbox rows."))
def list_rows(
    ctx: typer.Context,
    status: Annotated[
        str | None,
        typer.Option(
            "--status", help=N_("Only rows with this status: pending, sending, sent, merged, failed, cancelled.")
        ),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", help=N_("Maximum number of rows."))] = 50,
    json_output: Annotated[bool, typer.Option("--json", help=N_("Print JSON instead of a table."))] = False,
) -> None:
    rows = get_admin(ctx).list_outbox(status, limit)
    if json_output:
        print_json(rows)
        return
    table = new_table(
        _("ID"),
        _("Status"),
        _("Kind"),
        _("Conversation"),
        _("Attempts"),
        _("Sent at"),
        _("Text"),
        _("Error"),
        caption=zone_caption(get_settings(ctx)),
    )
    for row in rows:
        text = row.text if len(row.text) <= 40 else row.text[:39] + "…"
        table.add_row(
            str(row.id),
            row.status,
            row.kind,
            row.conversation_wxid,
            str(row.attempts),
            format_time(row.sent_at) or "-",
            text,
            row.error,
        )
    console().print(table)


@outbox_app.command("retry", help=N_("Send failed rows again: the given IDs, or every failed row."))
def retry(
    ctx: typer.Context,
    row_ids: Annotated[
        list[int] | None, typer.Argument(help=N_("Outbox row IDs; omit to retry every failed row."))
    ] = None,
) -> None:
    count = get_admin(ctx).retry_outbox(row_ids)
    print_success(
        _("Requeued {count} failed message(s); the running bot sends them within seconds.").format(count=count)
    )
