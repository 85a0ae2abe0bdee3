"""Play a demo scenario through the mock Wechaty gateway over gRPC; ``make demo-gateway`` runs it.

Unlike ``repe demo``, which drives the simulator puppet in-process, this starts the Node gateway
of ``tests/gateway`` with the scenario's account, contacts and rooms, connects a real
``BotRuntime`` to it through wechaty-puppet-service, and makes the members talk through the
gateway's control channel. Every bot reply printed here is a ``messageSendText`` call that the
gateway received over gRPC.

The gateway sends text messages and room-join and room-leave events only, and it creates message
ids itself, so the demo skips other message types, other event kinds and messages that repeat an
earlier id, and prints a line for each skipped item. Room display names are not shown to the bot.

    python -m tests.gateway_demo [--scenario FILE] [--speed N] [--spacing SECONDS] [--db FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from pathlib import Path
from typing import Any

from rich.console import Console

from repe_bot import ledger
from repe_bot.adapter import compat
from repe_bot.adapter.demo import (
    ConversationPrinter,
    bundled_scenario,
    create_scenario_setup,
    demo_settings,
    print_tables,
    with_scenario_admins,
)
from repe_bot.adapter.runtime import BotRuntime, BotStartError, prepare_database, service_puppet
from repe_bot.adapter.scenario import (
    Delivery,
    Scenario,
    ScenarioError,
    ScenarioEvent,
    ScenarioMessage,
    load_scenario,
)
from repe_bot.adapter.simulator import SentMessage
from repe_bot.config import Settings, settings_from_dict
from repe_bot.db.database import session_scope
from repe_bot.i18n import set_language
from tests.gateway_harness import GatewayError, GatewayHarness, free_loopback_port

DEFAULT_DATABASE = Path(".demo/gateway-demo.db")
GATEWAY_MESSAGE_TYPES = ("text", "xml")
GATEWAY_EVENT_KINDS = ("room-join", "room-leave")


def gateway_scenario(scenario: Scenario) -> dict[str, Any]:
    """Convert a loaded scenario into the JSON scenario that ``tests/gateway/server.mjs`` reads."""
    return {
        "self": {"id": scenario.bot.id, "name": scenario.bot.name},
        "contacts": [
            {"id": contact.id, "name": contact.name, **({"alias": contact.alias} if contact.alias else {})}
            for contact in scenario.contacts
        ],
        "rooms": [
            {"id": room.id, "topic": room.topic, "members": list(room.member_ids),
             **({"owner": room.owner_id} if room.owner_id else {})}
            for room in scenario.rooms
        ],
    }


def build_settings(
    gateway: GatewayHarness, scenario: Scenario, database: Path, speed: float, spacing: float | None = None
) -> Settings:
    """Return demo settings for a bot that logs in to ``gateway`` as the scenario's account.

    ``spacing`` replaces the demo's seconds between two sends to one conversation when given.
    """
    base = settings_from_dict({
        "bot": {
            "name": scenario.bot.name,
            "puppet": "service",
            "plugin_port": free_loopback_port(),
            "service": {"token": gateway.token, "endpoint": gateway.endpoint, "login_timeout_seconds": 30},
        },
        "tasks": {"poll_seconds": 0.5},
    }, source="gateway demo")
    settings = with_scenario_admins(demo_settings(base, database, speed), scenario)
    if spacing is None:
        return settings
    sending = settings.sending.model_copy(
        update={"conversation_spacing_seconds": spacing, "jitter_seconds": 0.0}
    )
    return settings.model_copy(update={"sending": sending})


class GatewayReplyPrinter:
    """Printer of the messages the gateway recorded as sent by the bot, each once, in sending order."""

    def __init__(self, gateway: GatewayHarness, printer: ConversationPrinter) -> None:
        self.gateway = gateway
        self.printer = printer
        self.printed = 0

    def flush(self) -> None:
        records = self.gateway.sent()
        for record in records[self.printed:]:
            self.printer.bot(SentMessage(
                conversation_id=record["conversation_id"],
                text=record["text"],
                mention_ids=list(record["mention_ids"]),
                sent_at_monotonic=0.0,
                message_id=record["message_id"],
            ))
        self.printed = len(records)

    async def run(self) -> None:
        # The record file is small, so reading it in the event loop is cheaper than a thread, and
        # it keeps flush() from running twice at once.
        while True:
            self.flush()
            await asyncio.sleep(0.1)


async def play_through_gateway(
    gateway: GatewayHarness, scenario: Scenario, speed: float, printer: ConversationPrinter, console: Console
) -> None:
    """Deliver the scenario's messages and room events at their times, scaled by ``speed``."""
    started = time.monotonic()
    seen_ids: set[str] = set()
    for item in scenario.timeline():
        if speed > 0:
            await asyncio.sleep(max(0.0, started + item.at / speed - time.monotonic()))

        if isinstance(item, ScenarioEvent):
            if item.kind not in GATEWAY_EVENT_KINDS:
                console.print(f"[dim]· skipped {item.kind}: the gateway harness cannot send this event[/dim]")
                continue
            # The scenario loader rejects a room event without a room.
            assert item.room_id is not None
            members = list(item.contact_ids)
            actor = item.actor_id or None
            if item.kind == "room-join":
                await asyncio.to_thread(gateway.room_join, item.room_id, members, actor)
            else:
                await asyncio.to_thread(gateway.room_leave, item.room_id, members, actor)
            printer.member(Delivery(item))
            continue

        assert isinstance(item, ScenarioMessage)
        if item.type_name not in GATEWAY_MESSAGE_TYPES:
            console.print(f"[dim]· skipped a {item.type_name} message: "
                          "the gateway harness sends text only[/dim]")
            continue
        if item.message_id is not None and item.message_id in seen_ids:
            console.print(f"[dim]· skipped a repeat of message {item.message_id}: the gateway creates "
                          "its own ids, so it cannot deliver one twice[/dim]")
            continue
        if item.message_id is not None:
            seen_ids.add(item.message_id)
        message_id = await gateway.say_async(item.talker_id, item.text, room=item.room_id,
                                             mentions=item.mention_ids, to=item.to_id)
        printer.member(Delivery(item, message_id))


def last_task_delay(scenario: Scenario) -> float:
    """Return the longest ``delay_seconds`` of the scenario's tasks, 0 when there is none."""
    delays = [float(task["delay_seconds"]) for task in scenario.tasks if "delay_seconds" in task]
    return max(delays, default=0.0)


async def run_demo(
    scenario: Scenario, database: Path, speed: float, console: Console, spacing: float | None = None
) -> int:
    """Start the gateway and the bot, play ``scenario`` and print the final tables; return the exit code."""
    async with GatewayHarness(gateway_scenario(scenario)) as gateway:
        settings = build_settings(gateway, scenario, database, speed, spacing)
        set_language(settings.language)
        engine = prepare_database(settings)
        puppet = service_puppet(settings)
        # wechaty's warnings about cached payloads would break up the printed conversation.
        compat.configure_wechaty_logging(logging.ERROR, secrets=[gateway.token])
        runtime = BotRuntime(settings, puppet, engine=engine, show_progress=False)
        printer = ConversationPrinter(console, scenario)
        replies = GatewayReplyPrinter(gateway, printer)

        console.print(f"[bold]{scenario.title or scenario.source}[/bold] — gateway at {gateway.endpoint}")
        await runtime.start(login_timeout=30)
        started = time.monotonic()
        reply_task = asyncio.create_task(replies.run())
        try:
            if runtime.sync_task is not None:
                await runtime.sync_task
            create_scenario_setup(runtime, scenario)
            runtime.service.housekeeping()
            runtime.sender.wake()

            await play_through_gateway(gateway, scenario, speed, printer, console)

            # Scheduled tasks run on the wall clock, whatever the playback speed.
            await asyncio.sleep(max(0.0, started + last_task_delay(scenario) - time.monotonic()))
            await asyncio.sleep(settings.sending.coalesce_seconds + 0.5)
            runtime.service.housekeeping()
            if not await runtime.wait_idle(timeout=120):
                console.print("[red]The outbox did not drain within 120 s.[/red]")
            # Let the echoes of the last sends reach the bot before it stops.
            await asyncio.sleep(0.5)
        finally:
            reply_task.cancel()
            await runtime.stop()
        replies.flush()

        print_tables(console, engine, settings)
        console.print(f"Outcomes of incoming messages: {dict(sorted(runtime.outcomes.items()))}")
        console.print(f"Messages the gateway received from the bot: {len(gateway.sent())}")
        with session_scope(engine) as session:
            problems = ledger.verify(session)
        engine.dispose()
    return 1 if problems else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.gateway_demo", description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", type=Path, default=None,
                        help="scenario TOML file (default: the bundled demo scenario)")
    parser.add_argument("--speed", type=float, default=2.0,
                        help="playback speed of the scenario's message times; "
                             "0 plays without pauses (default: 2)")
    parser.add_argument("--db", type=Path, default=DEFAULT_DATABASE,
                        help=f"SQLite file for the demo, recreated on each run (default: {DEFAULT_DATABASE})")
    parser.add_argument("--spacing", type=float, default=None,
                        help="seconds between two bot messages to one room (default: the demo's 0.3)")
    args = parser.parse_args(argv)
    if args.speed < 0:
        parser.error(f"--speed must be 0 or more, got {args.speed}")
    if args.spacing is not None and args.spacing < 0:
        parser.error(f"--spacing must be 0 or more, got {args.spacing}")

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    console = Console()
    try:
        scenario = load_scenario(args.scenario or bundled_scenario())
    except ScenarioError as error:
        console.print(f"[red]{error}[/red]")
        return 2

    args.db.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{args.db}{suffix}").unlink(missing_ok=True)

    try:
        return asyncio.run(run_demo(scenario, args.db, args.speed, console, args.spacing))
    except (GatewayError, BotStartError) as error:
        console.print(f"[red]{error}[/red]")
        return 1


if __name__ == "__main__":
    sys.exit(main())
