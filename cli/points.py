"""`repe points`: member balances, grants, revokes, history and the ledger check.

Other point commands (for example a leaderboard) belong in this module as further
``@points_app.command`` functions.
"""

from typing import Annotated

import typer

from cli.common import (
    EXIT_CHECK_FAILED,
    N_,
    console,
    format_time,
    get_admin,
    get_settings,
    label,
    new_table,
    parse_whole_number,
    print_json,
    print_message,
    print_success,
    print_warning,
    zone_caption,
)
from repe_bot.admin import PointsChange
from repe_bot.i18n import _

points_app = typer.Typer(
    help=N_("Member points: balances, grants, revokes and the ledger check."), no_args_is_help=True
)

JsonOption = Annotated[bool, typer.Option("--json", help=N_("Print JSON instead of a table."))]
WxidArgument = Annotated[str, typer.Argument(help=N_("Member wxid."))]
AmountArgument = Annotated[
    int, typer.Argument(parser=parse_whole_number, help=N_("Number of points, 1 or more."))
]
ReasonOption = Annotated[
    str, typer.Option("--reason", help=N_("Why the points change; stored in the ledger."))
]
KeyOption = Annotated[
    str | None,
    typer.Option(
        "--key",
        help=N_(
            "Idempotency key: a retry with the same key changes nothing. A fresh key is used by default."
        ),
    ),
]


def _print_change(change: PointsChange, done_message: str, as_json: bool) -> None:
    if as_json:
        print_json(change)
        return
    if change.applied:
        print_success(done_message)
    else:
        print_warning(_("Key {key} was used before; nothing changed.").format(key=change.key))
    print_message(
        _("Balance of {wxid}: {balance} points. Key: {key}").format(
            wxid=change.wxid, balance=change.balance, key=change.key
        )
    )


@points_app.command("balance", help=N_("Show a member's points balance."))
def show_balance(ctx: typer.Context, wxid: WxidArgument, as_json: JsonOption = False) -> None:
    view = get_admin(ctx).points_balance(wxid)
    if as_json:
        print_json(view)
        return
    print_message(
        _("{name} ({wxid}): {balance} points").format(name=view.name, wxid=view.wxid, balance=view.balance)
    )


@points_app.command("grant", help=N_("Give a member points from the system treasury."))
def grant(
    ctx: typer.Context,
    wxid: WxidArgument,
    amount: AmountArgument,
    reason: ReasonOption,
    key: KeyOption = None,
    as_json: JsonOption = False,
) -> None:
    change = get_admin(ctx).grant_points(wxid, amount, reason, key)
    _print_change(change, _("Granted {amount} points to {wxid}.").format(amount=amount, wxid=wxid), as_json)


@points_app.command("revoke", help=N_("Take points from a member back to the system treasury."))
def revoke(
    ctx: typer.Context,
    wxid: WxidArgument,
    amount: AmountArgument,
    reason: ReasonOption,
    key: KeyOption = None,
    as_json: JsonOption = False,
) -> None:
    change = get_admin(ctx).revoke_points(wxid, amount, reason, key)
    _print_change(change, _("Revoked {amount} points from {wxid}.").format(amount=amount, wxid=wxid), as_json)


@points_app.command("history", help=N_("List a member's ledger entries, newest first."))
def history(
    ctx: typer.Context,
    wxid: WxidArgument,
    limit: Annotated[
        int, typer.Option("--limit", parser=parse_whole_number, help=N_("Show at most this many entries."))
    ] = 20,
    as_json: JsonOption = False,
) -> None:
    rows = get_admin(ctx).points_history(wxid, limit)
    if as_json:
        print_json(rows)
        return
    table = new_table(
        _("Time"),
        _("Change"),
        _("Balance"),
        _("Reason"),
        _("Note"),
        _("Activity"),
        title=_("Points history of {wxid}").format(wxid=wxid),
        caption=zone_caption(get_settings(ctx)),
    )
    for row in rows:
        table.add_row(
            format_time(row.created_at),
            f"{row.delta:+d}",
            str(row.balance_after),
            label(row.reason),
            row.memo,
            f"#{row.activity_id}" if row.activity_id is not None else "",
        )
    console().print(table)


@points_app.command(
    "verify", help=N_("Check that every balance matches its ledger entries; exit code 1 on a mismatch.")
)
def verify(ctx: typer.Context) -> None:
    problems = get_admin(ctx).verify_ledger()
    if problems:
        for problem in problems:
            print_message(problem, "red")
        print_message(
            _("Ledger check failed: {count} problems found.").format(count=len(problems)), style="red"
        )
        raise typer.Exit(EXIT_CHECK_FAILED)
    print_success(_("OK: every balance matches the ledger."))
