"""`repe contact` and `repe room`: the contacts and rooms the bot has synced."""

from typing import Annotated

import typer

from cli.common import (
    N_,
    console,
    details_table,
    format_time,
    get_admin,
    new_table,
    parse_whole_number,
    print_json,
    print_success,
)
from repe_bot.i18n import _

contact_app = typer.Typer(help=N_("Look up contacts synced by the bot."), no_args_is_help=True)
room_app = typer.Typer(
    help=N_("Look up rooms synced by the bot and keep notes on them."), no_args_is_help=True
)

JsonOption = Annotated[bool, typer.Option("--json", help=N_("Print JSON instead of a table."))]
RoomArgument = Annotated[str, typer.Argument(help=N_("Room wxid or exact room topic."))]


def _yes_no(value: bool) -> str:
    return _("yes") if value else _("no")


@contact_app.command("list", help=N_("List contacts ordered by wxid."))
def list_contacts(
    ctx: typer.Context,
    search: Annotated[
        str | None,
        typer.Option("--search", help=N_("Only contacts whose wxid, name or alias contains this text.")),
    ] = None,
    limit: Annotated[
        int | None,
        typer.Option("--limit", parser=parse_whole_number, help=N_("Show at most this many contacts.")),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    contacts = get_admin(ctx).list_contacts(search, limit)
    if as_json:
        print_json(contacts)
        return
    table = new_table(_("WXID"), _("Name"), _("Alias"), _("Friend"), _("Points"))
    for contact in contacts:
        table.add_row(
            contact.wxid,
            contact.display_name,
            contact.alias,
            _yes_no(contact.is_friend),
            str(contact.balance),
        )
    console().print(table)


@contact_app.command("show", help=N_("Show one contact with its rooms and points."))
def show_contact(
    ctx: typer.Context,
    wxid: Annotated[str, typer.Argument(help=N_("Contact wxid."))],
    as_json: JsonOption = False,
) -> None:
    detail = get_admin(ctx).show_contact(wxid)
    if as_json:
        print_json(detail)
        return
    contact = detail.contact
    rows: list[tuple[str, object]] = [
        (_("WXID"), contact.wxid),
        (_("Name"), contact.display_name),
        (_("Alias"), contact.alias),
        (_("Friend"), _yes_no(contact.is_friend)),
        (_("Points"), contact.balance),
        (_("Activity entries"), detail.entries),
        (_("Updated"), format_time(contact.updated_at)),
    ]
    out = console()
    out.print(details_table(rows, title=_("Contact {wxid}").format(wxid=contact.wxid)))
    if detail.rooms:
        table = new_table(_("Room"), _("Topic"), _("Name in room"), title=_("Rooms"))
        for membership in detail.rooms:
            table.add_row(membership.room_wxid, membership.room_topic, membership.display_name)
        out.print(table)


@room_app.command("list", help=N_("List rooms ordered by topic."))
def list_rooms(
    ctx: typer.Context,
    search: Annotated[
        str | None,
        typer.Option("--search", help=N_("Only rooms whose wxid, topic or remark contains this text.")),
    ] = None,
    include_inactive: Annotated[
        bool, typer.Option("--all", help=N_("Include rooms the bot is no longer a member of."))
    ] = False,
    as_json: JsonOption = False,
) -> None:
    rooms = get_admin(ctx).list_rooms(search, include_inactive)
    if as_json:
        print_json(rooms)
        return
    table = new_table(_("WXID"), _("Topic"), _("Remark"), _("Members"), _("Active"))
    for room in rooms:
        table.add_row(room.wxid, room.topic, room.remark, str(room.member_count), _yes_no(room.active))
    console().print(table)


@room_app.command("show", help=N_("Show one room with its members."))
def show_room(ctx: typer.Context, room: RoomArgument, as_json: JsonOption = False) -> None:
    detail = get_admin(ctx).show_room(room)
    if as_json:
        print_json(detail)
        return
    view = detail.room
    rows: list[tuple[str, object]] = [
        (_("WXID"), view.wxid),
        (_("Topic"), view.topic),
        (_("Remark"), view.remark),
        (_("Members"), view.member_count),
        (_("Active"), _yes_no(view.active)),
        (_("Open activities"), detail.open_activities),
        (_("Updated"), format_time(view.updated_at)),
    ]
    out = console()
    out.print(details_table(rows, title=_("Room {wxid}").format(wxid=view.wxid)))
    table = new_table(_("WXID"), _("Name"), title=_("Members"))
    for member in detail.members:
        table.add_row(member.wxid, member.display_name)
    out.print(table)


@room_app.command("remark", help=N_("Set the admin's note on a room; an empty text clears it."))
def set_remark(
    ctx: typer.Context,
    room: RoomArgument,
    remark: Annotated[str, typer.Argument(help=N_("Note text."))],
) -> None:
    view = get_admin(ctx).set_room_remark(room, remark)
    print_success(_("Remark of room {wxid} set to {remark!r}.").format(wxid=view.wxid, remark=view.remark))
