"""`repe activity`: create, list, show, list entries of and close passphrase activities."""

from typing import Annotated

import typer

from cli.common import (
    N_,
    console,
    details_table,
    format_time,
    get_admin,
    get_settings,
    label,
    new_table,
    parse_whole_number,
    print_json,
    print_message,
    print_success,
    zone_caption,
)
from repe_bot.activities import UsageError
from repe_bot.admin import ActivityRequest, ActivityView
from repe_bot.i18n import _

activity_app = typer.Typer(
    help=N_("Create, list, inspect and close passphrase activities."), no_args_is_help=True
)

JsonOption = Annotated[bool, typer.Option("--json", help=N_("Print JSON instead of a table."))]


def _room_text(view: ActivityView) -> str:
    if view.room_wxid is None:
        return _("private")
    return f"{view.room_topic} ({view.room_wxid})" if view.room_topic else view.room_wxid


def _funder_text(view: ActivityView) -> str:
    if view.funder_wxid is None:
        return _("system treasury")
    return f"{view.funder_name} ({view.funder_wxid})"


def _reward_text(view: ActivityView) -> str:
    if view.reward_mode == "fixed":
        text = _("{amount} points per join").format(amount=view.reward_amount)
        if view.budget:
            text += _(", budget {budget}").format(budget=view.budget)
        return text
    if view.reward_mode in ("equal", "random"):
        return _("pool of {pool} points, {mode}").format(pool=view.pool, mode=label(view.reward_mode))
    return label("none")


def _print_details(view: ActivityView) -> None:
    rows: list[tuple[str, object]] = [
        (_("ID"), view.id),
        (_("Name"), view.name),
        (_("Status"), label(view.status)),
        (_("Kind"), label(view.kind)),
        (_("Room"), _room_text(view)),
        (_("Passphrase"), view.passphrase),
        (_("Capacity"), view.capacity or _("unlimited")),
        (_("Reward"), _reward_text(view)),
        (_("Points required"), view.points_required),
        (_("Points cost"), view.points_cost),
        (_("Funder"), _funder_text(view)),
        (_("Deadline"), format_time(view.deadline_at) or _("none")),
        (_("Announcement"), view.announcement),
        (_("Joined"), view.joined_total),
        (_("Points paid"), view.paid_total),
        (_("Escrow balance"), view.escrow_balance),
        (_("Created"), f"{format_time(view.created_at)} ({view.created_by})"),
    ]
    if view.status == "closed":
        rows.append((_("Closed"), f"{format_time(view.closed_at)} ({label(view.close_reason)})"))
    out = console()
    out.print(details_table(rows, title=_("Activity #{id}").format(id=view.id)))

    if view.kind == "daily" and view.periods:
        table = new_table(
            _("Day"), _("Joined"), _("Funded"), _("Paid"), _("Settled"), title=_("Activity days")
        )
        for period in view.periods:
            table.add_row(
                period.period,
                str(period.joined),
                str(period.funded),
                str(period.paid),
                _("yes") if period.settled else _("no"),
            )
        out.print(table)


@activity_app.command(
    "create", help=N_("Create an activity; a room activity's announcement is queued for the bot to send.")
)
def create_activity(
    ctx: typer.Context,
    name: Annotated[
        str, typer.Option("--name", help=N_("Activity name, shown in the announcement and summary."))
    ],
    passphrase: Annotated[
        str,
        typer.Option(
            "--passphrase", help=N_("Text members send to join; spaces and trailing punctuation are ignored.")
        ),
    ],
    room: Annotated[
        str | None,
        typer.Option("--room", help=N_("Room wxid or exact room topic; omit for a private activity.")),
    ] = None,
    private: Annotated[
        bool,
        typer.Option(
            "--private", help=N_("Create a private activity, joined in a private chat with the bot.")
        ),
    ] = False,
    kind: Annotated[
        str, typer.Option("--kind", help=N_("once, daily (one join per member per activity day) or long."))
    ] = "once",
    capacity: Annotated[
        int,
        typer.Option(
            "--capacity",
            help=N_("Maximum number of members, per day for daily activities; 0 means no limit."),
        ),
    ] = 0,
    reward: Annotated[
        str,
        typer.Option(
            "--reward",
            help=N_("Reward mode: none, fixed (--amount per join), equal or random (--pool split)."),
        ),
    ] = "none",
    amount: Annotated[
        int,
        typer.Option(
            "--amount", parser=parse_whole_number, help=N_("Points paid for each join in fixed mode.")
        ),
    ] = 0,
    budget: Annotated[
        int,
        typer.Option(
            "--budget",
            parser=parse_whole_number,
            help=N_("Total points a fixed reward may pay; 0 means no limit."),
        ),
    ] = 0,
    pool: Annotated[
        int,
        typer.Option(
            "--pool",
            parser=parse_whole_number,
            help=N_("Points split among --capacity members in equal or random mode."),
        ),
    ] = 0,
    required: Annotated[
        int,
        typer.Option("--required", parser=parse_whole_number, help=N_("Points a member must hold to join.")),
    ] = 0,
    cost: Annotated[
        int,
        typer.Option("--cost", parser=parse_whole_number, help=N_("Points taken from a member for joining.")),
    ] = 0,
    deadline: Annotated[
        str | None,
        typer.Option(
            "--deadline",
            help=N_(
                "Closing time: 2026-12-24 20:00, 12-24 20:00 or 20:00 local time, or a duration such as 2h."
            ),
        ),
    ] = None,
    announcement: Annotated[
        str, typer.Option("--announcement", help=N_("Announcement text sent to the room."))
    ] = "",
    funder: Annotated[
        str | None,
        typer.Option(
            "--funder", help=N_("Member wxid who pays the rewards; the system treasury by default.")
        ),
    ] = None,
    created_by: Annotated[
        str, typer.Option("--by", help=N_("Creator name stored with the activity."))
    ] = "cli",
    as_json: JsonOption = False,
) -> None:
    if private and room is not None:
        raise UsageError(
            _("--private and --room {value!r} contradict each other; give only one").format(value=room)
        )
    admin = get_admin(ctx)
    view = admin.create_activity(
        ActivityRequest(
            name=name,
            passphrase=passphrase,
            room=room,
            kind=kind,
            capacity=capacity,
            reward_mode=reward,
            amount=amount,
            budget=budget,
            pool=pool,
            required=required,
            cost=cost,
            deadline=deadline,
            announcement=announcement,
            funder=funder,
            created_by=created_by,
        )
    )
    if as_json:
        print_json(view)
        return
    print_success(_("Created activity #{id} {name}.").format(id=view.id, name=view.name))
    _print_details(view)
    if view.room_wxid:
        print_message(
            _("The announcement is queued; the running bot sends it to {room}.").format(room=_room_text(view))
        )


@activity_app.command("list", help=N_("List activities, newest first."))
def list_activities(
    ctx: typer.Context,
    status: Annotated[str, typer.Option("--status", help=N_("open, closed or all."))] = "open",
    room: Annotated[
        str | None, typer.Option("--room", help=N_("Only activities of this room (wxid or exact topic)."))
    ] = None,
    as_json: JsonOption = False,
) -> None:
    views = get_admin(ctx).list_activities(status, room)
    if as_json:
        print_json(views)
        return
    table = new_table(
        _("ID"),
        _("Name"),
        _("Status"),
        _("Kind"),
        _("Room"),
        _("Passphrase"),
        _("Joined"),
        _("Points paid"),
        _("Funder"),
        _("Deadline"),
        caption=zone_caption(get_settings(ctx)),
    )
    for view in views:
        table.add_row(
            str(view.id),
            view.name,
            label(view.status),
            label(view.kind),
            _room_text(view),
            view.passphrase,
            str(view.joined_total),
            str(view.paid_total),
            _funder_text(view),
            format_time(view.deadline_at),
        )
    console().print(table)


@activity_app.command("show", help=N_("Show one activity with its counters."))
def show_activity(
    ctx: typer.Context,
    activity_id: Annotated[int, typer.Argument(parser=parse_whole_number, help=N_("Activity ID."))],
    as_json: JsonOption = False,
) -> None:
    view = get_admin(ctx).show_activity(activity_id)
    if as_json:
        print_json(view)
        return
    _print_details(view)


@activity_app.command("entries", help=N_("List the members who joined an activity."))
def list_entries(
    ctx: typer.Context,
    activity_id: Annotated[int, typer.Argument(parser=parse_whole_number, help=N_("Activity ID."))],
    as_json: JsonOption = False,
) -> None:
    entries = get_admin(ctx).activity_entries(activity_id)
    if as_json:
        print_json(entries)
        return
    table = new_table(
        _("No."),
        _("Day"),
        _("WXID"),
        _("Name"),
        _("Reward"),
        _("Cost"),
        _("Joined at"),
        title=_("Entries of activity #{id}").format(id=activity_id),
        caption=zone_caption(get_settings(ctx)),
    )
    for entry in entries:
        table.add_row(
            str(entry.seq),
            entry.period or "-",
            entry.wxid,
            entry.name,
            str(entry.reward),
            str(entry.cost),
            format_time(entry.joined_at),
        )
    console().print(table)


@activity_app.command(
    "close", help=N_("Close an open activity now and refund the points left in its escrow.")
)
def close_activity(
    ctx: typer.Context,
    activity_id: Annotated[int, typer.Argument(parser=parse_whole_number, help=N_("Activity ID."))],
) -> None:
    view, refund = get_admin(ctx).close_activity(activity_id)
    print_success(_("Closed activity #{id} {name}.").format(id=view.id, name=view.name))
    if refund:
        print_message(
            _("Refunded {refund} points to {funder}.").format(
                refund=refund, funder=view.funder_wxid or _("system treasury")
            )
        )
