"""Run a scenario through the simulator puppet and the real Wechaty class, printing the conversation.

Used by ``repe demo`` (bundled scenario, fresh database, exits when done) and by ``repe bot run``
with ``puppet = "simulator"`` (the configured scenario, keeps running until Ctrl-C).
"""

from __future__ import annotations

import asyncio
import logging
import signal
from datetime import timedelta
from importlib import resources
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine, select
from sqlmodel import col

from repe_bot import directory, ledger
from repe_bot.activities import ActivitySpec, UsageError
from repe_bot.adapter.runtime import BotRuntime
from repe_bot.adapter.scenario import Delivery, Scenario, ScenarioMessage, build_puppet, load_scenario, play
from repe_bot.adapter.simulator import SentMessage
from repe_bot.config import Settings
from repe_bot.db.database import session_scope
from repe_bot.db.models import Account, Activity, ActivityEntry, BotTask
from repe_bot.i18n import _
from repe_bot.tasks import Target, TaskSpec
from repe_bot.timeparse import parse_deadline

log = logging.getLogger(__name__)


def bundled_scenario() -> Path:
    return Path(str(resources.files("repe_bot") / "scenarios" / "demo.toml"))


def _int(options: dict[str, Any], key: str) -> int:
    value = options.get(key, 0)
    if isinstance(value, bool) or not isinstance(value, int):
        raise UsageError(_("scenario option {key} must be a whole number, got {value!r}").format(key=key, value=value))
    return value


def create_scenario_setup(runtime: BotRuntime, scenario: Scenario) -> None:
    """Create the scenario's activities and tasks unless an earlier run already did."""
    service = runtime.service
    with session_scope(runtime.engine) as session:
        now = runtime.clock()
        for options in scenario.activities:
            room = options.get("room")
            existing = service.activities.find_open(session, room, options["passphrase"])
            if existing is not None:
                continue
            deadline = options.get("deadline")
            spec = ActivitySpec(
                name=options["name"],
                passphrase=options["passphrase"],
                kind=options.get("kind", "once"),
                room_wxid=room,
                announcement=options.get("announcement", ""),
                capacity=_int(options, "capacity"),
                reward_mode=options.get("reward", "none"),
                reward_amount=_int(options, "amount"),
                budget=_int(options, "budget"),
                pool=_int(options, "pool"),
                points_required=_int(options, "required"),
                points_cost=_int(options, "cost"),
                deadline_at=parse_deadline(deadline, now, runtime.settings.time.tzinfo) if deadline else None,
                funder_wxid=options.get("funder"),
                created_by="scenario",
            )
            service.activities.create(session, spec, now)

        for options in scenario.tasks:
            name = options.get("name", "")
            if name and session.execute(select(col(BotTask.id)).where(col(BotTask.name) == name)).first():
                continue
            if options.get("room"):
                targets = [Target("room", options["room"])]
            else:
                targets = [Target("contact", options["contact"])]
            delay = options.get("delay_seconds")
            spec_task = TaskSpec(
                kind=options.get("kind", "once"),
                text=options["text"],
                targets=targets,
                name=name,
                run_at=now + timedelta(seconds=float(delay)) if delay is not None else None,
                time_of_day=options.get("time", ""),
                cron=options.get("cron", ""),
                created_by="scenario",
            )
            service.tasks.create(session, spec_task, now)


class ConversationPrinter:
    """Prints member messages and bot replies as they happen."""

    def __init__(self, console: Console, scenario: Scenario) -> None:
        self.console = console
        self.scenario = scenario

    def member(self, delivery: Delivery) -> None:
        item = delivery.item
        if not isinstance(item, ScenarioMessage):
            self.console.print(f"[dim]· {item.kind} {item.room_id or ''} {' '.join(item.contact_ids)}[/dim]")
            return
        where = self.scenario.room_topic(item.room_id) if item.room_id else _("private")
        name = self.scenario.contact_name(item.talker_id) or item.talker_id
        text = item.text if item.type_name == "text" else f"<{item.type_name}>"
        self.console.print(f"[cyan]{name}[/cyan] [dim]@ {where}[/dim]: {text!s}", markup=True, highlight=False)

    def bot(self, message: SentMessage) -> None:
        where = self.scenario.room_topic(message.conversation_id)
        self.console.print(f"[green]🤖 {self.scenario.bot.name}[/green] [dim]→ {where}[/dim]: {message.text}",
                           highlight=False)


def print_tables(console: Console, engine: Engine, settings: Settings) -> None:
    """Print the final activities, entries and balances."""
    unnamed = settings.templates.unnamed
    with session_scope(engine) as session:
        activities = session.execute(select(Activity).order_by(col(Activity.id))).scalars().all()
        table = Table(title=_("Activities"))
        for header in (_("ID"), _("Name"), _("Passphrase"), _("Kind"), _("Status"), _("Joined"), _("Paid")):
            table.add_column(header)
        for a in activities:
            table.add_row(str(a.id), a.name, a.passphrase_display, a.kind, a.status, str(a.joined_total),
                          str(a.paid_total))
        console.print(table)

        entries = session.execute(select(ActivityEntry).order_by(col(ActivityEntry.id))).scalars().all()
        names = directory.display_names(session, [e.contact_wxid for e in entries], None, unnamed)
        table = Table(title=_("Entries"))
        for header in (_("Activity"), _("Member"), _("Day"), _("Reward"), _("Cost")):
            table.add_column(header)
        for e in entries:
            table.add_row(str(e.activity_id), names[e.contact_wxid], e.period or "-", str(e.reward), str(e.cost))
        console.print(table)

        accounts = session.execute(
            select(Account)
            .where(col(Account.kind) == "member")
            .order_by(col(Account.balance).desc(), col(Account.key))
        ).scalars().all()
        names = directory.display_names(session, [a.contact_wxid or "" for a in accounts], None, unnamed)
        table = Table(title=_("Balances"))
        table.add_column(_("Member"))
        table.add_column(_("Balance"), justify="right")
        for account in accounts:
            table.add_row(names[account.contact_wxid or ""], str(account.balance))
        console.print(table)

        problems = ledger.verify(session)
    if problems:
        for problem in problems:
            console.print(f"[red]{problem}[/red]")
    else:
        console.print(f"[green]{_('Ledger verified: every balance equals the sum of its entries.')}[/green]")


def with_scenario_admins(settings: Settings, scenario: Scenario) -> Settings:
    """Return ``settings`` with the scenario's admins added to ``bot.admins``."""
    admins = [*settings.bot.admins, *(a for a in scenario.bot.admins if a not in settings.bot.admins)]
    return settings.model_copy(update={"bot": settings.bot.model_copy(update={"admins": admins})})


async def _run(settings: Settings, engine: Engine, scenario: Scenario, *, exit_when_done: bool,
               console: Console) -> int:
    settings = with_scenario_admins(settings, scenario)
    puppet = build_puppet(scenario)
    printer = ConversationPrinter(console, scenario)
    puppet.on_send = printer.bot
    runtime = BotRuntime(settings, puppet, engine=engine, show_progress=False)

    if scenario.title:
        console.rule(scenario.title)
    if scenario.description:
        console.print(scenario.description, highlight=False)
    await runtime.start(login_timeout=30)
    if runtime.sync_task is not None:
        await runtime.sync_task
    create_scenario_setup(runtime, scenario)
    runtime.service.housekeeping()
    runtime.sender.wake()

    stop = asyncio.Event()
    if not exit_when_done:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)

    try:
        await play(puppet, scenario, speed=settings.bot.simulator.speed, on_event=printer.member)
        if exit_when_done:
            # Let the coalescing window and pending scheduled tasks run out before the final drain.
            await asyncio.sleep(settings.sending.coalesce_seconds + 0.5)
            runtime.service.housekeeping()
            if not await runtime.wait_idle(timeout=120):
                console.print(f"[red]{_('Outbox did not drain within 120 s.')}[/red]")
        else:
            await stop.wait()
    finally:
        await runtime.stop()

    print_tables(console, engine, settings)
    with session_scope(engine) as session:
        return 1 if ledger.verify(session) else 0


def demo_settings(settings: Settings, database: Path, speed: float) -> Settings:
    """Return ``settings`` for a demo run: its own SQLite file and faster pacing than production.

    The demo talks to a simulated account, so it sends up to 600 messages a minute with 0.3 s
    between two messages to one room (the production defaults are 20 and 3 s). It also lifts the
    per-room cap on command replies.
    """
    return settings.model_copy(
        update={
            "commands": settings.commands.model_copy(update={"room_replies_per_minute": 600}),
            "database": settings.database.model_copy(update={"url": f"sqlite:///{database.resolve()}"}),
            "sending": settings.sending.model_copy(
                update={"per_minute": 600, "conversation_spacing_seconds": 0.3, "jitter_seconds": 0.1,
                        "coalesce_seconds": 1.0}
            ),
            "bot": settings.bot.model_copy(
                update={"simulator": settings.bot.simulator.model_copy(update={"speed": speed})}
            ),
        }
    )


def run_scenario(settings: Settings, *, engine: Engine, scenario_path: Path | None = None,
                 exit_when_done: bool = False, console: Console | None = None) -> int:
    """Play a scenario through the simulator; return the process exit code."""
    path = scenario_path or (settings.resolve_path(settings.bot.simulator.scenario)
                             if settings.bot.simulator.scenario else bundled_scenario())
    scenario = load_scenario(path)
    return asyncio.run(_run(settings, engine, scenario, exit_when_done=exit_when_done, console=console or Console()))
