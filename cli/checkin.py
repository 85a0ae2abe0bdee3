"""`repe checkin`: statistics of the 签到 chat command per activity day."""

from typing import Annotated

import typer

from cli.common import (
    N_,
    console,
    details_table,
    get_admin,
    get_settings,
    new_table,
    parse_whole_number,
    print_json,
    print_message,
)
from repe_bot.admin import CheckinStatsView
from repe_bot.config import Settings
from repe_bot.i18n import _

checkin_app = typer.Typer(help=N_("Statistics of the daily check-in (签到)."), no_args_is_help=True)

JsonOption = Annotated[bool, typer.Option("--json", help=N_("Print JSON instead of a table."))]


def _day_caption(settings: Settings) -> str:
    return _("Activity days start at {reset} in {zone}.").format(
        reset=settings.time.day_reset, zone=settings.time.zone
    )


def _print_stats(view: CheckinStatsView, top: int, caption: str) -> None:
    if view.room_wxid is None:
        room = _("all rooms and private chats")
    elif view.room_topic:
        room = f"{view.room_topic} ({view.room_wxid})"
    else:
        room = view.room_wxid
    out = console()
    summary = details_table(
        [
            (_("Day"), view.day),
            (_("Room"), room),
            (_("Members checked in"), view.members),
            (_("Check-in points"), view.points),
            (_("Streak bonus points"), view.bonus),
            (_("Points granted"), view.points + view.bonus),
        ],
        title=_("Check-ins on {day}").format(day=view.day),
    )
    out.print(summary)

    if view.streaks:
        streaks = new_table(
            _("Rank"),
            _("Name"),
            _("WXID"),
            _("Streak (days)"),
            _("Last check-in"),
            title=_("Longest current streaks (top {top})").format(top=top),
        )
        for streak in view.streaks:
            streaks.add_row(str(streak.rank), streak.name, streak.wxid, str(streak.streak), streak.last_day)
        out.print(streaks)
    else:
        print_message(_("No member has a current streak."))

    history = new_table(
        _("Day"),
        _("Members checked in"),
        _("Check-in points"),
        _("Streak bonus points"),
        title=_("Check-ins of the last {days} days").format(days=len(view.history)),
        caption=caption,
    )
    for day in view.history:
        history.add_row(day.day, str(day.members), str(day.points), str(day.bonus))
    out.print(history)


@checkin_app.command(
    "stats",
    help=N_(
        "Show how many members checked in on an activity day, the points granted, "
        "the longest current streaks and the last 7 days."
    ),
)
def stats(
    ctx: typer.Context,
    day: Annotated[
        str | None,
        typer.Option(
            "--day", help=N_("Activity day as YYYY-MM-DD; today in the configured zone by default.")
        ),
    ] = None,
    room: Annotated[
        str | None,
        typer.Option(
            "--room",
            help=N_(
                "Count only check-ins sent in this room (wxid or exact topic); "
                "a streak's length still counts check-ins everywhere."
            ),
        ),
    ] = None,
    top: Annotated[
        int,
        typer.Option("--top", parser=parse_whole_number, help=N_("Number of longest streaks to show.")),
    ] = 5,
    as_json: JsonOption = False,
) -> None:
    view = get_admin(ctx).checkin_stats(day, room, top)
    if as_json:
        print_json(view)
        return
    _print_stats(view, top, _day_caption(get_settings(ctx)))
