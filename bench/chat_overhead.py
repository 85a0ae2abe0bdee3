"""Cost of ordinary room chat through the full bot, against the same Wechaty with an empty on_message.

Both sides run the real ``wechaty.Wechaty`` class on a ``SimulatorPuppet`` holding one room of
200 members. The messages match no command and no passphrase, which is what nearly all traffic
in a group is, and the room has an open activity, so the bot runs its real passphrase lookup.
Messages are injected in batches of 500 and each batch is drained before the next.

A second, profiled pass splits the full bot's time between wechaty's own per-message work
(loading the message, talker and room payloads) and the bot's handler.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from typing import Any

from bench.common import (
    BOT_NAME,
    Figure,
    bench_settings,
    build_puppet,
    emit,
    free_port,
    member_id,
    migrated_engine,
    quiet_logging,
    reset_wechaty_globals,
    room_id,
    temp_dir,
)
from repe_bot.activities import ActivitySpec
from repe_bot.adapter import compat
from repe_bot.adapter.runtime import BotRuntime
from repe_bot.db.database import session_scope

wechaty = compat.import_wechaty()

MEMBERS = 200
BATCH = 500
TEXT = "今天下午谁去图书馆？"
TARGET_RATIO = 1.5


class EmptyWechaty(wechaty.Wechaty):  # type: ignore[misc,name-defined]
    """The baseline: wechaty's own message handling with nothing behind it."""

    async def on_message(self, msg: Any) -> None:
        return None


async def deliver(puppet: Any, count: int) -> float:
    """Inject ``count`` room messages and wait for every listener; return the elapsed seconds."""
    room = room_id(0)
    started = time.perf_counter()
    for start in range(0, count, BATCH):
        for index in range(start, min(count, start + BATCH)):
            await puppet.say(member_id(index % MEMBERS), TEXT, room_id=room)
        await puppet.drain(timeout=600)
    return time.perf_counter() - started


async def with_empty_bot(work: Callable[[Any], Awaitable[float]]) -> float:
    reset_wechaty_globals()
    puppet = build_puppet(MEMBERS, rooms=1, room_size=MEMBERS)
    bot = EmptyWechaty(wechaty.WechatyOptions(puppet=puppet, host="127.0.0.1", port=free_port()))
    await bot.start()
    try:
        return await work(puppet)
    finally:
        await bot.stop()


async def with_full_bot(
    directory: Any, work: Callable[[Any], Awaitable[float]]
) -> tuple[float, dict[str, int]]:
    reset_wechaty_globals()
    db_path = directory / f"chat-{time.monotonic_ns()}.db"
    engine = migrated_engine(db_path)
    quiet_logging()
    settings = bench_settings(db_path, bot={"plugin_port": free_port(), "name": BOT_NAME})
    puppet = build_puppet(MEMBERS, rooms=1, room_size=MEMBERS)
    runtime = BotRuntime(settings, puppet, engine=engine, show_progress=False)
    with session_scope(engine) as session:
        runtime.service.activities.create(
            session,
            ActivitySpec(name="读书会", passphrase="报名", room_wxid=room_id(0)),
            datetime.now(timezone.utc),
        )
    await runtime.start(login_timeout=60)
    if runtime.sync_task is not None:
        await runtime.sync_task
    try:
        seconds = await work(puppet)
    finally:
        await runtime.stop()
        engine.dispose()
    return seconds, dict(runtime.outcomes)


def _cumulative(stats: pstats.Stats, path_suffix: str, function: str) -> float:
    total = 0.0
    for (filename, _line, name), row in stats.stats.items():  # type: ignore[attr-defined]
        if name == function and filename.endswith(path_suffix):
            total += row[3]
    return total


async def profile_shares(directory: Any, count: int) -> dict[str, float]:
    """Profile the full bot over ``count`` messages; return each part's share of the total."""
    profiler = cProfile.Profile()

    async def profiled(puppet: Any) -> float:
        profiler.enable()
        try:
            return await deliver(puppet, count)
        finally:
            profiler.disable()

    await with_full_bot(directory, profiled)
    stats = pstats.Stats(profiler)
    total = stats.total_tt  # type: ignore[attr-defined]
    return {
        "wechaty_message_ready": _cumulative(stats, "wechaty/user/message.py", "ready") / total,
        "bot_to_incoming": _cumulative(stats, "repe_bot/adapter/runtime.py", "to_incoming") / total,
        "bot_service_handle": _cumulative(stats, "repe_bot/service.py", "handle") / total,
    }


async def measure_async(count: int, profile_count: int) -> list[Figure]:
    with temp_dir("chat") as directory:
        warm = min(count, 500)
        await with_empty_bot(lambda puppet: deliver(puppet, warm))
        await with_full_bot(directory, lambda puppet: deliver(puppet, warm))

        empty_seconds = await with_empty_bot(lambda puppet: deliver(puppet, count))
        full_seconds, outcomes = await with_full_bot(directory, lambda puppet: deliver(puppet, count))
        shares = await profile_shares(directory, profile_count) if profile_count else {}

    # Besides the chat, the bot receives the echo of its own activity announcement ("self").
    if outcomes.get("ignored", 0) != count or set(outcomes) - {"ignored", "self"}:
        raise RuntimeError(f"expected {count} ignored messages, got outcomes {outcomes}")
    ratio = full_seconds / empty_seconds
    figures = [
        Figure(
            "chat.full_bot_vs_empty_on_message",
            ratio,
            "x",
            f"<= {TARGET_RATIO}",
            ratio <= TARGET_RATIO,
            note=f"{count} messages; empty {count / empty_seconds:.0f}/s, "
            f"full bot {count / full_seconds:.0f}/s",
        ),
    ]
    for part, share in shares.items():
        figures.append(
            Figure(f"chat.profile_share.{part}", share, note=f"cProfile, {profile_count} messages")
        )
    return figures


def run(quick: bool = False) -> list[Figure]:
    return asyncio.run(measure_async(2000 if quick else 20000, 500 if quick else 3000))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20000, help="messages per side (default 20000)")
    parser.add_argument("--profile", type=int, default=3000, help="messages in the profiled pass, 0 to skip")
    arguments = parser.parse_args()
    emit(asyncio.run(measure_async(arguments.messages, arguments.profile)))


if __name__ == "__main__":
    main()
