"""Committed joins per second through ``MessageService.handle`` against plain ``sqlite3``.

Both sides start from the same state: a migrated database, one open room activity with
unlimited capacity, a fixed reward of 2 points and a cost of 1 point, and every member granted
10 points. The engine side calls ``MessageService.handle`` once per member, with no wechaty in
the path. The baseline writes, per join and in one ``BEGIN IMMEDIATE`` transaction on a
connection with the engine's pragmas, the same rows the engine writes:

- the processed-message mark and the contact upsert,
- the activity entry,
- the cost transfer and the reward transfer: 4 ``UPDATE account ... RETURNING balance`` and
  4 ledger rows,
- the period and activity counters,
- the confirmation's outbox row.

The baseline keeps the account and period ids in a dict and runs no SELECT, so it is the
lower bound for these writes; the engine also runs its checks (open activity, duplicate entry,
balance, idempotency keys, outbox dedupe). The row counts of both databases are compared after
the run, so a baseline that wrote less would show.
"""

from __future__ import annotations

import argparse
import sqlite3
import time
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import Engine, func, select

from bench.common import (
    Figure,
    apply_pragmas,
    bench_settings,
    emit,
    member_id,
    migrated_engine,
    quiet_logging,
    temp_dir,
)
from repe_bot import ledger
from repe_bot.activities import ActivitySpec
from repe_bot.db.database import session_scope
from repe_bot.db.models import TREASURY_KEY, Account, ActivityEntry, ActivityPeriod
from repe_bot.service import IncomingMessage, MessageService

ROOM = "bench@chatroom"
PASSPHRASE = "报名"
REWARD = 2
COST = 1
GRANT = 10
TABLES = ("processed_message", "contact", "activity_entry", "account", "ledger_entry", "outbox")
TARGET_RATIO = 0.5


def prepare(db_path: Path, members: int) -> tuple[Engine, MessageService, int]:
    """Create the database, the activity and the grants; return the engine, a service and the activity id."""
    engine = migrated_engine(db_path)
    settings = bench_settings(db_path)
    service = MessageService(engine, settings)
    now = datetime.now(timezone.utc)
    spec = ActivitySpec(
        name="跑步打卡",
        passphrase=PASSPHRASE,
        room_wxid=ROOM,
        reward_mode="fixed",
        reward_amount=REWARD,
        points_cost=COST,
    )
    with session_scope(engine) as session:
        activity = service.activities.create(session, spec, now)
        assert activity.id is not None
        activity_id = activity.id
        for index in range(members):
            ledger.transfer(
                session,
                from_key=TREASURY_KEY,
                to_key=ledger.member_key(member_id(index)),
                amount=GRANT,
                reason="grant",
                idempotency_key=f"grant:{index}",
                now=now,
            )
    return engine, service, activity_id


def run_engine(service: MessageService, members: int) -> float:
    """Join every member through the service; return the elapsed seconds."""
    messages = [
        IncomingMessage(
            id=f"join-{index}",
            talker_id=member_id(index),
            text=PASSPHRASE,
            room_id=ROOM,
            talker_name=f"成员{index}",
        )
        for index in range(members)
    ]
    started = time.perf_counter()
    for message in messages:
        outcome = service.handle(message)
        if outcome != "joined":
            raise RuntimeError(f"message {message.id}: expected 'joined', got {outcome!r}")
    return time.perf_counter() - started


def run_baseline(engine: Engine, db_path: Path, activity_id: int, members: int) -> float:
    """Write the same rows per join with plain sqlite3; return the elapsed seconds."""
    with session_scope(engine) as session:
        accounts = dict(session.execute(select(Account.key, Account.id)).all())
        period_id = session.execute(
            select(ActivityPeriod.id).where(ActivityPeriod.activity_id == activity_id)
        ).scalar_one()
    treasury = accounts[TREASURY_KEY]

    connection = sqlite3.connect(db_path, isolation_level=None)
    apply_pragmas(connection)
    debit = "UPDATE account SET balance = balance - ? WHERE id = ? RETURNING balance"
    credit = "UPDATE account SET balance = balance + ? WHERE id = ? RETURNING balance"
    ledger_insert = (
        "INSERT INTO ledger_entry (account_id, delta, balance_after, reason, transfer_key, idempotency_key,"
        " activity_id, entry_id, memo, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, '', ?)"
    )

    def transfer(source: int, target: int, amount: int, reason: str, key: str, entry: int, now: str) -> None:
        debited = connection.execute(debit, (amount, source)).fetchone()[0]
        credited = connection.execute(credit, (amount, target)).fetchone()[0]
        connection.executemany(
            ledger_insert,
            [
                (source, -amount, debited, reason, key, f"{key}:debit", activity_id, entry, now),
                (target, amount, credited, reason, key, f"{key}:credit", activity_id, entry, now),
            ],
        )

    started = time.perf_counter()
    for index in range(members):
        wxid = member_id(index)
        member = accounts[f"member:{wxid}"]
        now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")
        entry_key = f"{activity_id}::{wxid}"
        connection.execute("BEGIN IMMEDIATE")
        connection.execute(
            "INSERT INTO processed_message (message_id, seen_at) VALUES (?, ?)", (f"join-{index}", now)
        )
        connection.execute(
            "INSERT INTO contact (wxid, name, alias, is_friend, updated_at) VALUES (?, ?, '', 0, ?)"
            " ON CONFLICT (wxid) DO UPDATE SET name = excluded.name, updated_at = excluded.updated_at",
            (wxid, f"成员{index}", now),
        )
        entry = connection.execute(
            "INSERT INTO activity_entry (activity_id, contact_wxid, period, seq, reward, cost, message_id,"
            " joined_at) VALUES (?, ?, '', ?, ?, ?, ?, ?)",
            (activity_id, wxid, index + 1, REWARD, COST, f"join-{index}", now),
        ).lastrowid
        assert entry is not None
        transfer(member, treasury, COST, "join_cost", f"cost:{entry_key}", entry, now)
        transfer(treasury, member, REWARD, "join_reward", f"reward:{entry_key}", entry, now)
        connection.execute(
            "UPDATE activity_period SET joined_count = joined_count + 1, paid = paid + ? WHERE id = ?",
            (REWARD, period_id),
        )
        connection.execute(
            "UPDATE activity SET joined_total = joined_total + 1, paid_total = paid_total + ? WHERE id = ?",
            (REWARD, activity_id),
        )
        connection.execute(
            "INSERT INTO outbox (conversation_wxid, is_room, text, mention_ids, kind, coalesce_key,"
            " coalesce_line,"
            " coalesce_header, dedupe_key, status, attempts, not_before, created_at, error)"
            " VALUES (?, 1, ?, ?, 'join', ?, ?, ?, ?, 'pending', 0, ?, ?, '')",
            (
                ROOM,
                f"报名成功：成员{index}，奖励{REWARD}分",
                f'["{wxid}"]',
                f"join:{activity_id}",
                f"{index + 1}. 成员{index}",
                "跑步打卡 报名成功 {count} 人：\n{lines}",
                f"join:{entry}",
                now,
                now,
            ),
        )
        connection.execute("COMMIT")
    elapsed = time.perf_counter() - started
    connection.close()
    return elapsed


def row_counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as connection:
        return {
            table: int(connection.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar() or 0)
            for table in TABLES
        }


def measure(members: int, label: str = "join") -> list[Figure]:
    """Run both sides for ``members`` joins and return the figures."""
    with temp_dir("join") as directory:
        engine_db, baseline_db = directory / "engine.db", directory / "baseline.db"
        engine, service, activity_id = prepare(engine_db, members)
        baseline_engine, _, baseline_activity = prepare(baseline_db, members)
        quiet_logging()

        baseline_seconds = run_baseline(baseline_engine, baseline_db, baseline_activity, members)
        engine_seconds = run_engine(service, members)

        engine_rows, baseline_rows = row_counts(engine), row_counts(baseline_engine)
        with session_scope(engine) as session:
            joined = session.execute(select(func.count()).select_from(ActivityEntry)).scalar()
            problems = ledger.verify(session)
        engine.dispose()
        baseline_engine.dispose()

    if engine_rows != baseline_rows:
        raise RuntimeError(f"baseline rows {baseline_rows} differ from engine rows {engine_rows}")
    if joined != members or problems:
        raise RuntimeError(f"engine run is wrong: {joined} entries for {members} members, ledger: {problems}")

    engine_rate = members / engine_seconds
    baseline_rate = members / baseline_seconds
    ratio = engine_rate / baseline_rate
    return [
        Figure(
            f"{label}.engine_vs_sqlite3",
            ratio,
            "x",
            f">= {TARGET_RATIO}",
            ratio >= TARGET_RATIO,
            note=f"{members} joins; engine {engine_rate:.0f}/s, sqlite3 {baseline_rate:.0f}/s",
        ),
        Figure(
            f"{label}.rows_written",
            sum(engine_rows.values()),
            "rows",
            note="same in both databases: " + ", ".join(f"{t} {n}" for t, n in engine_rows.items()),
        ),
    ]


def run(quick: bool = False) -> list[Figure]:
    return measure(300 if quick else 1000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=1000, help="number of joins (default 1000)")
    emit(measure(parser.parse_args().members))


if __name__ == "__main__":
    main()
