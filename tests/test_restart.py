"""Restarts, clock changes and time zones through the real Wechaty class and the simulator."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import func, select

from repe_bot.activities import ActivitySpec
from repe_bot.db.database import make_engine, session_scope, upgrade
from repe_bot.db.models import Activity, ActivityEntry, BotTask, OutboxMessage
from repe_bot.tasks import Target, TaskSpec
from tests.conftest import FakeClock, grant, verify_ledger
from tests.harness import ROOM, BotHarness, fast_settings, make_puppet

SHANGHAI_MIDNIGHT_UTC = datetime(2026, 12, 4, 16, 0, tzinfo=timezone.utc)  # 2026-12-05 00:00 +08:00


@pytest.fixture
def utc_process() -> Iterator[None]:
    """Run the test with the process time zone set to UTC, unlike the configured Asia/Shanghai."""
    old = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    yield
    if old is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = old
    time.tzset()


async def start_bot(tmp_path: Path, clock: FakeClock, **overrides: object) -> BotHarness:
    settings = fast_settings(tmp_path / "bot.db", **overrides)
    engine = make_engine(settings.database_url())
    upgrade(engine)
    return await BotHarness(settings, engine, clock, make_puppet(members=10, clock=clock)).start()


def count(bot: BotHarness, model: type, *conditions: object) -> int:
    with session_scope(bot.engine) as session:
        return int(session.execute(select(func.count()).select_from(model).where(*conditions)).scalar() or 0)


def create(bot: BotHarness, **fields: object) -> int:
    spec = ActivitySpec(**{"name": "读书会", "passphrase": "报名", "room_wxid": ROOM, **fields})  # type: ignore[arg-type]
    with session_scope(bot.engine) as session:
        return int(bot.runtime.service.activities.create(session, spec, bot.clock()).id)  # type: ignore[arg-type]


async def test_restart_keeps_open_activity(tmp_path: Path, clock: FakeClock) -> None:
    first = await start_bot(tmp_path, clock)
    activity_id = create(first, capacity=5, reward_mode="random", pool=50)
    await first.say("wxid_m0001", "报名", message_id="before-restart")
    await first.settle()
    await first.stop()

    second = await start_bot(tmp_path, clock)
    # The puppet replays the old message after the restart, then new members join.
    await second.say("wxid_m0001", "报名", message_id="before-restart")
    await second.say("wxid_m0002", "报名")
    await second.settle()
    await second.stop()

    assert second.runtime.outcomes["duplicate"] == 1
    assert count(second, ActivityEntry, ActivityEntry.activity_id == activity_id) == 2
    assert verify_ledger(second.engine) == []


async def test_deadline_passed_while_stopped(tmp_path: Path, clock: FakeClock) -> None:
    first = await start_bot(tmp_path, clock)
    activity_id = create(first, deadline_at=clock() + timedelta(minutes=30), reward_mode="equal", capacity=5, pool=10)
    await first.say("wxid_m0001", "报名")
    await first.settle()
    await first.stop()

    clock.advance(hours=2)
    second = await start_bot(tmp_path, clock)
    await second.settle()
    await second.stop()

    with session_scope(second.engine) as session:
        activity = session.get(Activity, activity_id)
        assert activity is not None
        assert activity.status == "closed"
        assert activity.close_reason == "deadline"
    summaries = [m for m in second.sent_to(ROOM) if "已结束" in m.text]
    assert len(summaries) == 1
    assert verify_ledger(second.engine) == []


async def test_daily_reset_across_midnight(tmp_path: Path, clock: FakeClock, utc_process: None) -> None:
    clock.set(SHANGHAI_MIDNIGHT_UTC - timedelta(minutes=1))
    bot = await start_bot(tmp_path, clock)
    activity_id = create(bot, kind="daily", reward_mode="fixed", reward_amount=2)

    await bot.say("wxid_m0001", "报名")
    await bot.say("wxid_m0001", "报名")  # same activity day: already joined
    clock.set(SHANGHAI_MIDNIGHT_UTC + timedelta(minutes=1))  # still 2026-12-04 in UTC
    await bot.say("wxid_m0001", "报名")
    await bot.settle()
    await bot.stop()

    with session_scope(bot.engine) as session:
        periods = list(session.execute(
            select(ActivityEntry.period).where(ActivityEntry.activity_id == activity_id).order_by(ActivityEntry.id)
        ).scalars())
    assert periods == ["2026-12-04", "2026-12-05"]
    assert bot.runtime.outcomes["already"] == 1


async def test_daily_capacity_resets_after_restart(tmp_path: Path, clock: FakeClock, utc_process: None) -> None:
    clock.set(SHANGHAI_MIDNIGHT_UTC - timedelta(hours=2))
    first = await start_bot(tmp_path, clock)
    activity_id = create(first, kind="daily", capacity=1, reward_mode="random", pool=3)
    await first.say("wxid_m0001", "报名")
    await first.say("wxid_m0002", "报名")
    await first.settle()
    await first.stop()
    assert first.runtime.outcomes["full"] == 1

    clock.set(SHANGHAI_MIDNIGHT_UTC + timedelta(hours=1))
    second = await start_bot(tmp_path, clock)
    await second.say("wxid_m0002", "报名")
    await second.settle()
    await second.stop()

    assert second.runtime.outcomes["joined"] == 1
    assert count(second, ActivityEntry, ActivityEntry.activity_id == activity_id) == 2
    assert verify_ledger(second.engine) == []


async def test_daily_task_once_per_slot_across_restart(tmp_path: Path, clock: FakeClock, utc_process: None) -> None:
    # 09:00 Asia/Shanghai is 01:00 UTC.
    clock.set(datetime(2026, 12, 4, 0, 50, tzinfo=timezone.utc))
    first = await start_bot(tmp_path, clock)
    with session_scope(first.engine) as session:
        first.runtime.service.tasks.create(
            session, TaskSpec(kind="daily", text="早安打卡", targets=[Target("room", ROOM)], time_of_day="09:00"),
            clock(),
        )
    clock.set(datetime(2026, 12, 4, 1, 0, 30, tzinfo=timezone.utc))
    await first.settle()
    await first.stop()
    assert [m.text for m in first.sent_to(ROOM)].count("早安打卡") == 1

    # Restart in the same slot: nothing is sent again.
    second = await start_bot(tmp_path, clock)
    await second.settle()
    await second.stop()
    assert [m.text for m in second.sent_to(ROOM)].count("早安打卡") == 0

    # Down over the next morning's slot, back 5 minutes later: within the 10-minute grace.
    clock.set(datetime(2026, 12, 5, 1, 5, tzinfo=timezone.utc))
    third = await start_bot(tmp_path, clock)
    await third.settle()
    await third.stop()
    assert [m.text for m in third.sent_to(ROOM)].count("早安打卡") == 1

    # Down over the third morning, back an hour late: the slot is skipped.
    clock.set(datetime(2026, 12, 6, 2, 0, tzinfo=timezone.utc))
    fourth = await start_bot(tmp_path, clock)
    await fourth.settle()
    await fourth.stop()
    assert [m.text for m in fourth.sent_to(ROOM)].count("早安打卡") == 0

    with session_scope(fourth.engine) as session:
        task = session.execute(select(BotTask)).scalars().one()
    assert task.last_slot == datetime(2026, 12, 6, 1, 0, tzinfo=timezone.utc)
    assert task.next_run_at == datetime(2026, 12, 7, 1, 0, tzinfo=timezone.utc)


async def test_pending_outbox_survives_restart(tmp_path: Path, clock: FakeClock) -> None:
    first = await start_bot(tmp_path, clock)
    first.puppet.fail_next_sends(100)
    create(first)
    await first.say("wxid_m0001", "报名")
    first.runtime.sender.wake()
    await first.puppet.drain()
    await first.stop()
    pending = count(first, OutboxMessage, OutboxMessage.status.in_(["pending", "sending"]))
    assert pending >= 1

    second = await start_bot(tmp_path, clock)
    clock.advance(minutes=30)  # past any retry back-off
    await second.settle()
    await second.stop()
    assert count(second, OutboxMessage, OutboxMessage.status.in_(["pending", "sending", "failed"])) == 0
    assert any(m.mention_ids == ["wxid_m0001"] for m in second.sent_to(ROOM))


async def test_balance_check_survives_restart(tmp_path: Path, clock: FakeClock) -> None:
    first = await start_bot(tmp_path, clock)
    grant(first.engine, "wxid_m0001", 4, clock())
    create(first, points_cost=3, kind="daily")
    await first.say("wxid_m0001", "报名")
    await first.stop()

    clock.advance(days=1)
    second = await start_bot(tmp_path, clock)
    await second.say("wxid_m0001", "报名")
    await second.stop()
    assert second.runtime.outcomes["insufficient"] == 1
    assert verify_ledger(second.engine) == []
