"""Interactive simulator console (``repe simulate``): type as a member and see the bot's replies.

The console starts the real bot runtime on the simulator puppet and the configured database, so
activities and tasks created with the CLI behave as they would in production. Lines starting
with ``/`` are console commands; any other line is sent as the current member's message.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from rich.console import Console

from repe_bot.adapter.demo import bundled_scenario, with_scenario_admins
from repe_bot.adapter.runtime import BotRuntime, prepare_database
from repe_bot.adapter.scenario import Scenario, build_puppet, load_scenario
from repe_bot.adapter.simulator import SentMessage, SimulatorPuppet
from repe_bot.config import Settings
from repe_bot.i18n import _

InputFunction = Callable[[str], str]

HELP = """/as <wxid|name>     switch the member you type as
/room <wxid|topic>  switch to a room
/private            talk to the bot in private
/members            list the members of the current room
/wait [seconds]     wait for the bot's replies (default 2)
/quit               stop the bot and leave"""


class SimulatorConsole:
    """State of one console session: who is talking, and where."""

    def __init__(self, puppet: SimulatorPuppet, scenario: Scenario, console: Console) -> None:
        self.puppet = puppet
        self.scenario = scenario
        self.console = console
        self.room: str | None = scenario.rooms[0].id if scenario.rooms else None
        members = [m for m in (scenario.rooms[0].member_ids if scenario.rooms else ()) if m != scenario.bot.id]
        self.member: str = members[0] if members else scenario.contacts[0].id

    def prompt(self) -> str:
        where = self.scenario.room_topic(self.room) if self.room else _("private")
        return f"{self._name(self.member)} @ {where}> "

    def _name(self, wxid: str) -> str:
        try:
            return self.puppet.get_contact(wxid).name or wxid
        except (KeyError, ValueError):
            return wxid

    def find_member(self, query: str) -> str | None:
        for contact in self.scenario.contacts:
            if query in (contact.id, contact.name):
                return contact.id
        return None

    def find_room(self, query: str) -> str | None:
        for room in self.scenario.rooms:
            if query in (room.id, room.topic):
                return room.id
        return None

    def mentions_in(self, text: str) -> list[str]:
        """Return the ids of current room members named after an ``@`` in ``text``, longest name first."""
        if self.room is None or "@" not in text:
            return []
        room = self.puppet.get_room(self.room)
        names: dict[str, str] = {}
        for member_id in room.member_ids:
            name = self._name(member_id)
            if name and name != member_id:
                names.setdefault(name, member_id)
        found: list[str] = []
        for name in sorted(names, key=len, reverse=True):
            if f"@{name}" in text and names[name] not in found:
                found.append(names[name])
        return found

    def print_reply(self, message: SentMessage) -> None:
        where = self.scenario.room_topic(message.conversation_id)
        self.console.print(f"[green]🤖 {self.scenario.bot.name} → {where}[/green]: {message.text}", highlight=False)

    async def command(self, line: str) -> bool:
        """Run one console command; return False when the session should end."""
        word, _separator, argument = line[1:].partition(" ")
        argument = argument.strip()
        if word in ("quit", "exit", "q"):
            return False
        if word in ("as", "room") and not argument:
            self.console.print(HELP, highlight=False, markup=False)
            return True
        if word == "as":
            member = self.find_member(argument)
            if member is None:
                self.console.print(f"[red]{_('member not found: {value}').format(value=argument)}[/red]")
            else:
                self.member = member
        elif word == "room":
            room = self.find_room(argument)
            if room is None:
                self.console.print(f"[red]{_('room not found: {value}').format(value=argument)}[/red]")
            else:
                self.room = room
        elif word == "private":
            self.room = None
        elif word == "members" and self.room is not None:
            ids = self.puppet.get_room(self.room).member_ids
            self.console.print(", ".join(f"{self._name(i)} ({i})" for i in ids), highlight=False)
        elif word == "wait":
            try:
                seconds = float(argument or 2)
            except ValueError:
                self.console.print(f"[red]{_('invalid number of seconds: {value}').format(value=argument)}[/red]")
                return True
            await asyncio.sleep(min(max(0.0, seconds), 600.0))
        else:
            self.console.print(HELP, highlight=False, markup=False)
        return True

    async def say(self, text: str) -> None:
        try:
            await self.puppet.say(self.member, text, room_id=self.room, mention_ids=self.mentions_in(text))
            await self.puppet.drain()
        except Exception as error:  # noqa: BLE001 - show the simulator's reason and keep the console open
            self.console.print(f"[red]{error}[/red]")


async def _session(settings: Settings, scenario: Scenario, member: str | None, room: str | None,
                   read_line: InputFunction, console: Console) -> int:
    settings = with_scenario_admins(settings, scenario)
    puppet = build_puppet(scenario)
    session = SimulatorConsole(puppet, scenario, console)
    puppet.on_send = session.print_reply
    if member is not None:
        if session.find_member(member) is None:
            console.print(f"[red]{_('member not found: {value}').format(value=member)}[/red]")
            return 2
        await session.command(f"/as {member}")
    if room is not None:
        if session.find_room(room) is None:
            console.print(f"[red]{_('room not found: {value}').format(value=room)}[/red]")
            return 2
        await session.command(f"/room {room}")
    engine = prepare_database(settings)

    runtime = BotRuntime(settings, puppet, engine=engine, show_progress=False)
    await runtime.start(login_timeout=30)
    if runtime.sync_task is not None:
        await runtime.sync_task
    # The scenario's own activities and tasks are left out: the console runs on the configured
    # database, where admins create activities with `repe activity create` before trying them.
    runtime.service.housekeeping()
    console.print(_("Simulator ready. Type a message, or /help for commands."))

    loop = asyncio.get_running_loop()
    try:
        while True:
            try:
                line = await loop.run_in_executor(None, read_line, session.prompt())
            except EOFError:
                break
            line = line.strip()
            if not line:
                continue
            if line.startswith("/"):
                if not await session.command(line):
                    break
                continue
            await session.say(line)
        if not await runtime.wait_idle(timeout=settings.sending.coalesce_seconds + 10):
            console.print(_("Some replies are still queued by the rate limits; they are sent at the next start."))
    finally:
        await runtime.stop()
    return 0


def run_console(settings: Settings, scenario_path: Path | None, as_member: str | None, room: str | None,
                *, read_line: InputFunction = input, console: Console | None = None) -> int:
    """Run the interactive simulator until /quit or end of input; return the exit code."""
    path = scenario_path or (settings.resolve_path(settings.bot.simulator.scenario)
                             if settings.bot.simulator.scenario else bundled_scenario())
    scenario = load_scenario(path)
    return asyncio.run(_session(settings, scenario, as_member, room, read_line, console or Console()))
