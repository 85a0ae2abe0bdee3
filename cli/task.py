"""`repe task`: scheduled messages sent by the bot now, once, daily or on a cron schedule."""

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
    print_success,
    zone_caption,
)
from repe_bot.admin import TaskRequest, TaskView
from repe_bot.i18n import _

task_app = typer.Typer(help=N_("Schedule messages for the bot to send."), no_args_is_help=True)

JsonOption = Annotated[bool, typer.Option("--json", help=N_("Print JSON instead of a table."))]
TaskIdArgument = Annotated[int, typer.Argument(parser=parse_whole_number, help=N_("Task ID."))]
RoomsOption = Annotated[
    list[str] | None,
    typer.Option("--room", help=N_("Target room wxid or exact topic; repeat the option for several rooms.")),
]
ContactsOption = Annotated[
    list[str] | None,
    typer.Option("--contact", help=N_("Target contact wxid for a private message; may be repeated.")),
]
AtOption = Annotated[
    str | None,
    typer.Option(
        "--at",
        help=N_(
            "Once tasks: send time, 2026-12-24 20:00, 12-24 20:00 or 20:00 local time, "
            "or a duration such as 2h."
        ),
    ),
]
TimeOption = Annotated[str | None, typer.Option("--time", help=N_("Daily tasks: local time of day, HH:MM."))]
CronOption = Annotated[
    str | None,
    typer.Option(
        "--cron", help=N_("Cron tasks: five-field cron expression in local time, such as '0 9 * * 1'.")
    ),
]


def _schedule_text(view: TaskView) -> str:
    if view.kind == "daily":
        return _("daily at {time}").format(time=view.time_of_day)
    if view.kind == "cron":
        return _("cron {expression}").format(expression=view.cron)
    if view.kind == "once":
        return _("once at {time}").format(time=format_time(view.run_at))
    return label("now")


def _targets_text(view: TaskView) -> str:
    parts = []
    for target in view.targets:
        parts.append(f"{target.name} ({target.wxid})" if target.name else target.wxid)
    return ", ".join(parts)


def _print_details(view: TaskView) -> None:
    rows: list[tuple[str, object]] = [
        (_("ID"), view.id),
        (_("Name"), view.name),
        (_("Kind"), label(view.kind)),
        (_("Status"), label(view.status)),
        (_("Schedule"), _schedule_text(view)),
        (_("Targets"), _targets_text(view)),
        (_("Text"), view.text),
        (_("Next run"), format_time(view.next_run_at) or "-"),
        (_("Last run"), format_time(view.last_slot) or "-"),
        (_("Created"), f"{format_time(view.created_at)} ({view.created_by})"),
        (_("Updated"), format_time(view.updated_at)),
    ]
    console().print(details_table(rows, title=_("Task #{id}").format(id=view.id)))


@task_app.command("create", help=N_("Create a scheduled message."))
def create_task(
    ctx: typer.Context,
    kind: Annotated[
        str, typer.Option("--kind", help=N_("now, once (--at), daily (--time) or cron (--cron)."))
    ],
    text: Annotated[str, typer.Option("--text", help=N_("Message text to send."))],
    rooms: RoomsOption = None,
    contacts: ContactsOption = None,
    at: AtOption = None,
    time: TimeOption = None,
    cron: CronOption = None,
    name: Annotated[str, typer.Option("--name", help=N_("Short name to recognise the task in lists."))] = "",
    created_by: Annotated[str, typer.Option("--by", help=N_("Creator name stored with the task."))] = "cli",
    as_json: JsonOption = False,
) -> None:
    view = get_admin(ctx).create_task(
        TaskRequest(
            kind=kind,
            text=text,
            rooms=rooms or [],
            contacts=contacts or [],
            at=at,
            time=time,
            cron=cron,
            name=name,
            created_by=created_by,
        )
    )
    if as_json:
        print_json(view)
        return
    print_success(_("Created task #{id}.").format(id=view.id))
    _print_details(view)


@task_app.command("list", help=N_("List tasks, newest first."))
def list_tasks(
    ctx: typer.Context,
    status: Annotated[str, typer.Option("--status", help=N_("active, done, cancelled or all."))] = "active",
    as_json: JsonOption = False,
) -> None:
    views = get_admin(ctx).list_tasks(status)
    if as_json:
        print_json(views)
        return
    table = new_table(
        _("ID"),
        _("Name"),
        _("Status"),
        _("Schedule"),
        _("Targets"),
        _("Next run"),
        _("Text"),
        caption=zone_caption(get_settings(ctx)),
    )
    for view in views:
        table.add_row(
            str(view.id),
            view.name,
            label(view.status),
            _schedule_text(view),
            _targets_text(view),
            format_time(view.next_run_at) or "-",
            view.text,
        )
    console().print(table)


@task_app.command("show", help=N_("Show one task."))
def show_task(ctx: typer.Context, task_id: TaskIdArgument, as_json: JsonOption = False) -> None:
    view = get_admin(ctx).show_task(task_id)
    if as_json:
        print_json(view)
        return
    _print_details(view)


@task_app.command(
    "edit", help=N_("Change an active task; giving --room or --contact replaces all its targets.")
)
def edit_task(
    ctx: typer.Context,
    task_id: TaskIdArgument,
    text: Annotated[str | None, typer.Option("--text", help=N_("New message text."))] = None,
    name: Annotated[str | None, typer.Option("--name", help=N_("New name."))] = None,
    rooms: RoomsOption = None,
    contacts: ContactsOption = None,
    at: AtOption = None,
    time: TimeOption = None,
    cron: CronOption = None,
    as_json: JsonOption = False,
) -> None:
    view = get_admin(ctx).edit_task(
        task_id,
        text=text,
        name=name,
        at=at,
        time=time,
        cron=cron,
        rooms=rooms or None,
        contacts=contacts or None,
    )
    if as_json:
        print_json(view)
        return
    print_success(_("Updated task #{id}.").format(id=view.id))
    _print_details(view)


@task_app.command("cancel", help=N_("Stop an active task; it stays in the list as cancelled."))
def cancel_task(ctx: typer.Context, task_id: TaskIdArgument) -> None:
    view = get_admin(ctx).cancel_task(task_id)
    print_success(_("Cancelled task #{id}.").format(id=view.id))


@task_app.command("delete", help=N_("Delete a task permanently."))
def delete_task(ctx: typer.Context, task_id: TaskIdArgument) -> None:
    get_admin(ctx).delete_task(task_id)
    print_success(_("Deleted task #{id}.").format(id=task_id))
