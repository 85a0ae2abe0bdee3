"""`repe points`: member balances, grants, revokes, history, the leaderboard and the ledger check."""

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
from repe_bot.admin import LeaderboardView, PointsChange
from repe_bot.i18n import _

points_app = typer.Typer(
    help=N_("Member points: balances, grants, revokes, the leaderboard and the ledger check."),
    no_args_is_help=True,
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


def _leaderboard_title(view: LeaderboardView) -> str:
    if view.room_wxid is None:
        scope = _("all members")
    elif view.room_topic:
        scope = f"{view.room_topic} ({view.room_wxid})"
    else:
        scope = view.room_wxid
    if view.by == "week":
        return _("Leaderboard by points received since {since}: {scope}").format(
            since=format_time(view.since), scope=scope
        )
    return _("Leaderboard by balance: {scope}").format(scope=scope)


@points_app.command(
    "leaderboard",
    help=N_("Rank members by points like the 排行榜 chat command; members with 0 points are left out."),
)
def leaderboard(
    ctx: typer.Context,
    room: Annotated[
        str | None,
        typer.Option(
            "--room",
            help=N_("Rank the members of this room (wxid or exact topic); by default every member account."),
        ),
    ] = None,
    by: Annotated[
        str | None,
        typer.Option(
            "--by",
            help=N_(
                "balance (current balance) or week (points received since Monday's day reset); "
                "by default commands.leaderboard_by."
            ),
        ),
    ] = None,
    limit: Annotated[
        int | None,
        typer.Option(
            "--limit",
            parser=parse_whole_number,
            help=N_("Show at most this many members; by default commands.leaderboard_size."),
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    view = get_admin(ctx).points_leaderboard(room, by, limit)
    if as_json:
        print_json(view)
        return
    if not view.rows:
        print_message(_leaderboard_title(view))
        print_message(_("No member has more than 0 points."))
        return
    table = new_table(
        _("Rank"),
        _("Name"),
        _("WXID"),
        _("Points"),
        title=_leaderboard_title(view),
        caption=zone_caption(get_settings(ctx)) if view.by == "week" else None,
    )
    for row in view.rows:
        table.add_row(str(row.rank), row.name, row.wxid, str(row.points))
    console().print(table)
