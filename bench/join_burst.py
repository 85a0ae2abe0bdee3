"""A burst of 500 members sending the passphrase at once into a 300-place random pool.

The full bot (``BotRuntime`` on the real ``Wechaty`` class and a ``SimulatorPuppet``) receives
the 500 messages as fast as the simulator emits them. Sending uses the production defaults
(20 per minute, 3 s spacing per conversation, 1 s jitter, 2 s coalescing, 50 mentions per
message), divided by ``--time-scale``: with scale 10 the cap is 200 per minute and every wait
is a tenth, so the rate check below uses a 6 s window for the 200 cap.

Reported: messages processed, entries, whether the shares sum to the pool, ``ledger.verify``,
the wall time against the same 500 messages through ``MessageService.handle`` alone, the
number of outgoing messages and the most sends seen in any pacing window against the cap.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import select

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
from repe_bot import ledger
from repe_bot.activities import ActivitySpec
from repe_bot.adapter.runtime import BotRuntime
from repe_bot.config import SendingSettings
from repe_bot.db.database import session_scope
from repe_bot.db.models import ActivityEntry
from repe_bot.service import IncomingMessage, MessageService

MEMBERS = 500
CAPACITY = 300
POOL = 3000
PASSPHRASE = "抢红包"
MAX_MESSAGES = 10


def scaled_sending(scale: float) -> dict[str, Any]:
    defaults = SendingSettings()
    return {
        "per_minute": round(defaults.per_minute * scale),
        "conversation_spacing_seconds": defaults.conversation_spacing_seconds / scale,
        "jitter_seconds": defaults.jitter_seconds / scale,
        "coalesce_seconds": defaults.coalesce_seconds / scale,
    }


def spec() -> ActivitySpec:
    return ActivitySpec(
        name="拼手气红包",
        passphrase=PASSPHRASE,
        room_wxid=room_id(0),
        capacity=CAPACITY,
        reward_mode="random",
        pool=POOL,
    )


def engine_only_seconds(db_path: Path) -> float:
    """Time the same 500 messages through ``MessageService.handle`` with no wechaty and no sender."""
    engine = migrated_engine(db_path)
    quiet_logging()
    service = MessageService(engine, bench_settings(db_path))
    with session_scope(engine) as session:
        service.activities.create(session, spec(), datetime.now(timezone.utc))
    messages = [
        IncomingMessage(
            id=f"burst-{index}",
            talker_id=member_id(index),
            text=PASSPHRASE,
            room_id=room_id(0),
            talker_name=f"成员{index}",
        )
        for index in range(MEMBERS)
    ]
    started = time.perf_counter()
    for message in messages:
        service.handle(message)
    elapsed = time.perf_counter() - started
    engine.dispose()
    return elapsed


def max_in_window(times: list[float], window: float) -> int:
    """Return the most timestamps that fall in any half-open interval of ``window`` seconds."""
    ordered = sorted(times)
    best = 0
    for index, start in enumerate(ordered):
        best = max(best, bisect.bisect_left(ordered, start + window) - index)
    return best


async def burst(db_path: Path, scale: float) -> dict[str, Any]:
    reset_wechaty_globals()
    engine = migrated_engine(db_path)
    quiet_logging()
    settings = bench_settings(
        db_path, bot={"plugin_port": free_port(), "name": BOT_NAME}, sending=scaled_sending(scale)
    )
    puppet = build_puppet(MEMBERS, rooms=1, room_size=MEMBERS)
    runtime = BotRuntime(settings, puppet, engine=engine, show_progress=False)
    await runtime.start(login_timeout=60)
    if runtime.sync_task is not None:
        await runtime.sync_task
    with session_scope(engine) as session:
        activity = runtime.service.activities.create(session, spec(), runtime.clock())
        activity_id = activity.id

    started = time.perf_counter()
    for index in range(MEMBERS):
        await puppet.say(member_id(index), PASSPHRASE, room_id=room_id(0))
    await puppet.drain(timeout=600)
    processed_seconds = time.perf_counter() - started

    idle = await runtime.wait_idle(timeout=600)
    await puppet.drain(timeout=60)
    await runtime.stop()
    with session_scope(engine) as session:
        rewards = list(
            session.execute(
                select(ActivityEntry.reward).where(ActivityEntry.activity_id == activity_id)
            ).scalars()
        )
        problems = ledger.verify(session)
    engine.dispose()

    outcomes = dict(runtime.outcomes)
    return {
        "processed": sum(count for outcome, count in outcomes.items() if outcome != "self"),
        "outcomes": outcomes,
        "entries": len(rewards),
        "reward_sum": sum(rewards),
        "problems": problems,
        "seconds": processed_seconds,
        "idle": idle,
        "sent_times": [message.sent_at_monotonic for message in puppet.sent],
        "per_minute": settings.sending.per_minute,
    }


def measure(scale: float) -> list[Figure]:
    with temp_dir("burst") as directory:
        baseline = engine_only_seconds(directory / "engine.db")
        result = asyncio.run(burst(directory / "bot.db", scale))

    window = 60.0 / scale
    worst = max_in_window(result["sent_times"], window)
    cap = result["per_minute"]
    sends = len(result["sent_times"])
    times = sorted(result["sent_times"])
    gaps = [later - earlier for earlier, later in zip(times, times[1:], strict=False)]
    return [
        Figure(
            "burst.messages_processed",
            result["processed"],
            target=f"= {MEMBERS}",
            met=result["processed"] == MEMBERS,
            note=str(result["outcomes"]),
        ),
        Figure("burst.entries", result["entries"], target=f"= {CAPACITY}", met=result["entries"] == CAPACITY),
        Figure(
            "burst.shares_sum",
            result["reward_sum"],
            target=f"= pool {POOL}",
            met=result["reward_sum"] == POOL,
        ),
        Figure("burst.ledger_problems", len(result["problems"]), target="= 0", met=not result["problems"]),
        Figure(
            "burst.wall_vs_engine_only",
            result["seconds"] / baseline,
            "x",
            note=f"full bot {result['seconds']:.2f} s, engine only {baseline:.2f} s for {MEMBERS} messages",
        ),
        Figure(
            "burst.outgoing_messages",
            sends,
            target=f"<= {MAX_MESSAGES}",
            met=sends <= MAX_MESSAGES and result["idle"],
            note="announcement, confirmations and summary"
            + ("" if result["idle"] else "; outbox NOT drained"),
        ),
        Figure(
            "burst.max_sends_per_window",
            worst,
            target=f"<= cap {cap}",
            met=worst <= cap,
            note=f"window {window:g} s (60 s / time scale {scale:g}); "
            f"smallest gap {min(gaps) if gaps else 0:.2f} s vs limiter interval {60.0 / cap:.2f} s",
        ),
    ]


def run(quick: bool = False) -> list[Figure]:
    return measure(10.0 if quick else 1.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--time-scale",
        type=float,
        default=1.0,
        help="divide the sending waits by this and multiply per_minute by it (default 1)",
    )
    emit(measure(parser.parse_args().time_scale))


if __name__ == "__main__":
    main()
