"""Directory sync at login against raw ``executemany`` of the same rows, in a child process.

The child builds a ``SimulatorPuppet`` world (default 10,000 contacts and 100 rooms of 500
members, 50,000 memberships drawn from those contacts), starts the full bot on it and lets the
login sync run. One second after login a member sends an open activity's passphrase, and the
time until the bot has committed the join is recorded while the sync goes on. The baseline
then inserts the rows the sync wrote (contacts, rooms, room members) into a fresh migrated
database with plain ``sqlite3`` ``executemany`` in one transaction.

Peak RSS comes from ``getrusage`` in the child, so it covers only this sync. It includes the
simulated world, which in production lives in the gateway process; the world's own size is
reported next to it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from bench.common import (
    BOT_NAME,
    Figure,
    apply_pragmas,
    bench_settings,
    build_puppet,
    current_rss_mb,
    emit,
    free_port,
    member_id,
    migrated_engine,
    peak_rss_mb,
    quiet_logging,
    reset_wechaty_globals,
    room_id,
    temp_dir,
)

PASSPHRASE = "报名"
TARGET_RATIO = 3.0
TARGET_RSS_MB = 200.0
TABLES = ("contact", "room", "room_member")


def _rows(engine: Any) -> dict[str, list[tuple[Any, ...]]]:
    with engine.connect() as connection:
        return {
            "contact": connection.exec_driver_sql(
                "SELECT wxid, name, alias, is_friend, updated_at FROM contact"
            ).all(),
            "room": connection.exec_driver_sql(
                "SELECT wxid, topic, remark, active, member_count, updated_at FROM room"
            ).all(),
            "room_member": connection.exec_driver_sql(
                "SELECT room_wxid, contact_wxid, display_name, updated_at FROM room_member"
            ).all(),
        }


def raw_insert_seconds(db_path: Path, rows: dict[str, list[tuple[Any, ...]]]) -> float:
    migrated_engine(db_path).dispose()
    connection = sqlite3.connect(db_path, isolation_level=None)
    apply_pragmas(connection)
    started = time.perf_counter()
    connection.execute("BEGIN IMMEDIATE")
    connection.executemany(
        "INSERT INTO contact (wxid, name, alias, is_friend, updated_at) VALUES (?, ?, ?, ?, ?)",
        rows["contact"],
    )
    connection.executemany(
        "INSERT INTO room (wxid, topic, remark, active, member_count, updated_at) VALUES (?, ?, ?, ?, ?, ?)",
        rows["room"],
    )
    connection.executemany(
        "INSERT INTO room_member (room_wxid, contact_wxid, display_name, updated_at) VALUES (?, ?, ?, ?)",
        rows["room_member"],
    )
    connection.execute("COMMIT")
    elapsed = time.perf_counter() - started
    connection.close()
    return elapsed


async def sync_in_bot(directory: Path, contacts: int, rooms: int, room_size: int) -> dict[str, Any]:
    from repe_bot.activities import ActivitySpec
    from repe_bot.adapter.runtime import BotRuntime
    from repe_bot.db.database import session_scope

    reset_wechaty_globals()
    rss_before_world = current_rss_mb()
    puppet = build_puppet(contacts, rooms=rooms, room_size=room_size)
    world_mb = current_rss_mb() - rss_before_world

    db_path = directory / "bot.db"
    engine = migrated_engine(db_path)
    quiet_logging()
    settings = bench_settings(db_path, bot={"plugin_port": free_port(), "name": BOT_NAME})
    runtime = BotRuntime(settings, puppet, engine=engine, show_progress=False)
    with session_scope(engine) as session:
        runtime.service.activities.create(
            session,
            ActivitySpec(name="周末读书会", passphrase=PASSPHRASE, room_wxid=room_id(0)),
            datetime.now(timezone.utc),
        )

    await runtime.start(login_timeout=120)
    await asyncio.sleep(1.0)
    sync_running = runtime.sync_task is not None and not runtime.sync_task.done()
    sent = time.perf_counter()
    await puppet.say(member_id(0), PASSPHRASE, room_id=room_id(0))
    deadline = sent + 120
    while not (runtime.outcomes["joined"] or runtime.outcomes["error"]) and time.perf_counter() < deadline:
        await asyncio.sleep(0.002)
    join_wait = time.perf_counter() - sent
    if runtime.outcomes["joined"] != 1:
        raise RuntimeError(f"the passphrase sent during the sync did not join: {dict(runtime.outcomes)}")
    if runtime.sync_task is not None:
        await runtime.sync_task
    report = runtime.sync_report
    peak = peak_rss_mb()
    await runtime.stop()

    rows = _rows(engine)
    engine.dispose()
    if report is None:
        raise RuntimeError("sync did not finish; see the log above")
    baseline = raw_insert_seconds(directory / "baseline.db", rows)
    return {
        "sync_seconds": report.seconds,
        "baseline_seconds": baseline,
        "rows": {table: len(values) for table, values in rows.items()},
        "peak_rss_mb": peak,
        "world_mb": world_mb,
        "join_wait_seconds": join_wait,
        "sync_running_at_message": sync_running,
        "joined": runtime.outcomes["joined"],
    }


def run_child(contacts: int, rooms: int, room_size: int) -> dict[str, Any]:
    """Run one sync in a fresh interpreter and return its JSON result."""
    command = [
        sys.executable,
        "-m",
        "bench.login_sync",
        "--child",
        "--contacts",
        str(contacts),
        "--rooms",
        str(rooms),
        "--room-size",
        str(room_size),
    ]
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        raise RuntimeError(f"sync child failed with exit code {completed.returncode}:\n{completed.stderr}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def figures(result: dict[str, Any], label: str, contacts: int, rooms: int, room_size: int) -> list[Figure]:
    ratio = result["sync_seconds"] / result["baseline_seconds"]
    rows = result["rows"]
    size = f"{contacts} contacts, {rooms} rooms x {room_size} members"
    return [
        Figure(
            f"{label}.sync_vs_executemany",
            ratio,
            "x",
            f"<= {TARGET_RATIO}",
            ratio <= TARGET_RATIO,
            note=f"{size}; sync {result['sync_seconds']:.2f} s, "
            f"executemany {result['baseline_seconds']:.2f} s; "
            f"rows: " + ", ".join(f"{t} {rows[t]}" for t in TABLES),
        ),
        Figure(
            f"{label}.peak_rss",
            result["peak_rss_mb"],
            "MiB",
            f"<= {TARGET_RSS_MB:g} MiB",
            result["peak_rss_mb"] <= TARGET_RSS_MB,
            note=f"simulated world {result['world_mb']:.0f} MiB of it",
        ),
        Figure(
            f"{label}.join_wait_during_sync",
            result["join_wait_seconds"],
            "s",
            note=(
                "sync was running when the passphrase arrived"
                if result["sync_running_at_message"]
                else "sync had already finished when the passphrase arrived"
            ),
        ),
    ]


def measure(contacts: int, rooms: int, room_size: int, label: str = "sync") -> list[Figure]:
    return figures(run_child(contacts, rooms, room_size), label, contacts, rooms, room_size)


def run(quick: bool = False) -> list[Figure]:
    return measure(2000, 20, 500) if quick else measure(10000, 100, 500)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=10000)
    parser.add_argument("--rooms", type=int, default=100)
    parser.add_argument("--room-size", type=int, default=500)
    parser.add_argument("--child", action="store_true", help="run the sync here and print JSON (internal)")
    arguments = parser.parse_args()
    if arguments.child:
        with temp_dir("sync") as directory:
            result = asyncio.run(
                sync_in_bot(directory, arguments.contacts, arguments.rooms, arguments.room_size)
            )
        print(json.dumps(result))
        return
    emit(measure(arguments.contacts, arguments.rooms, arguments.room_size))


if __name__ == "__main__":
    main()
