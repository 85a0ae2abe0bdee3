"""End to end through the real Wechaty class and the simulator puppet, on a real SQLite file."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from repe_bot.activities import ActivitySpec
from repe_bot.adapter.simulator import forget_delivered_message_ids
from repe_bot.db.database import make_engine, session_scope, upgrade
from repe_bot.db.models import ActivityEntry, Contact, OutboxMessage, Room, RoomMember
from repe_bot.tasks import Target, TaskSpec
from tests.conftest import FakeClock, verify_ledger
from tests.harness import BOT_ID, ROOM, BotHarness, fast_settings, make_puppet, member_ids


@pytest.fixture
async def harness(tmp_path: Path, clock: FakeClock):  # type: ignore[no-untyped-def]
    settings = fast_settings(tmp_path / "bot.db")
    engine = make_engine(settings.database_url())
    upgrade(engine)
    bot = BotHarness(settings, engine, clock, make_puppet(members=30, clock=clock))
    await bot.start()
    yield bot
    await bot.stop()
    engine.dispose()


def create_activity(bot: BotHarness, **fields: object) -> int:
    spec = ActivitySpec(**{"name": "读书会", "passphrase": "报名", "room_wxid": ROOM, **fields})  # type: ignore[arg-type]
    with session_scope(bot.engine) as session:
        return int(bot.runtime.service.activities.create(session, spec, bot.clock()).id)  # type: ignore[arg-type]


def entry_count(bot: BotHarness, activity_id: int) -> int:
    with session_scope(bot.engine) as session:
        return int(session.execute(
            select(func.count()).select_from(ActivityEntry).where(ActivityEntry.activity_id == activity_id)
        ).scalar() or 0)


async def test_login_syncs_directory(harness: BotHarness) -> None:
    with session_scope(harness.engine) as session:
        assert session.execute(select(func.count()).select_from(Room)).scalar() == 1
        assert session.execute(select(func.count()).select_from(RoomMember)).scalar() == 31
        assert session.execute(select(func.count()).select_from(Contact)).scalar() >= 30
    assert harness.runtime.service.bot_id == BOT_ID


async def test_passphrase_joins_and_confirms(harness: BotHarness) -> None:
    activity_id = create_activity(harness, reward_mode="fixed", reward_amount=3)

    await harness.say("wxid_m0001", "@活动助手\u2005报名", mention_ids=[BOT_ID])
    await harness.settle()

    assert entry_count(harness, activity_id) == 1
    confirmations = [m for m in harness.sent_to(ROOM) if "报名成功" in m.text]
    assert len(confirmations) == 1
    assert confirmations[0].mention_ids == ["wxid_m0001"]
    assert verify_ledger(harness.engine) == []


async def test_self_echo_and_duplicates_ignored(harness: BotHarness) -> None:
    activity_id = create_activity(harness)

    await harness.say("wxid_m0002", "报名", message_id="dup-1")
    forget_delivered_message_ids()  # let the repeat past wechaty's in-process filter to our own check
    await harness.say("wxid_m0002", "报名", message_id="dup-1")
    await harness.say(BOT_ID, "报名")
    await harness.settle()

    assert entry_count(harness, activity_id) == 1
    assert harness.runtime.outcomes["duplicate"] == 1
    assert harness.runtime.outcomes["already"] == 0
    # The bot's own "报名" typed on the phone, and the echoes of the announcement and the confirmation.
    assert harness.runtime.outcomes["self"] == 3


@pytest.mark.parametrize(
    "text",
    ["报名", " 报名 ", "报\u3000名", "\u00a0报名", "报名！", "报名~", "@活动助手 报名", "报名 @活动助手",
     "@张三\u2005报名", "报名。", "@活动助手报名"],
)
async def test_passphrase_forms_join(harness: BotHarness, text: str) -> None:
    activity_id = create_activity(harness)
    await harness.say("wxid_m0003", text)
    assert entry_count(harness, activity_id) == 1


@pytest.mark.parametrize("text", ["不报名", "报名了吗", "<msg><appmsg><title>报名</title></appmsg></msg>"])
async def test_non_matching_forms_ignored(harness: BotHarness, text: str) -> None:
    activity_id = create_activity(harness)
    await harness.say("wxid_m0003", text)
    assert entry_count(harness, activity_id) == 0


async def test_burst_random_pool(harness: BotHarness) -> None:
    activity_id = create_activity(harness, capacity=20, reward_mode="random", pool=200)
    for wxid in member_ids(30):
        await harness.puppet.say(wxid, "报名", room_id=ROOM)
    await harness.puppet.drain()
    await harness.settle()

    with session_scope(harness.engine) as session:
        query = select(ActivityEntry.reward).where(ActivityEntry.activity_id == activity_id)
        rewards = list(session.execute(query).scalars())
    assert len(rewards) == 20
    assert sum(rewards) == 200
    assert min(rewards) >= 1
    assert verify_ledger(harness.engine) == []


async def test_cli_activity_picked_up(harness: BotHarness) -> None:
    # A second engine on the same file plays the part of the CLI process.
    cli_engine = make_engine(harness.settings.database_url())
    spec = ActivitySpec(name="新活动", passphrase="来了", room_wxid=ROOM)
    with session_scope(cli_engine) as session:
        harness.runtime.service.activities.create(session, spec, harness.clock())
    cli_engine.dispose()

    await harness.say("wxid_m0004", "来了")
    await harness.settle()
    assert any("新活动" in m.text for m in harness.sent_to(ROOM))
    assert any(m.mention_ids == ["wxid_m0004"] for m in harness.sent_to(ROOM))


async def test_task_sends_to_room(harness: BotHarness) -> None:
    with session_scope(harness.engine) as session:
        harness.runtime.service.tasks.create(
            session, TaskSpec(kind="once", text="晚上八点开始", targets=[Target("room", ROOM)],
                              run_at=harness.clock() + timedelta(minutes=1)), harness.clock())
    harness.clock.advance(minutes=2)
    await harness.settle()
    assert [m.text for m in harness.sent_to(ROOM)].count("晚上八点开始") == 1


async def test_send_failure_retried(harness: BotHarness) -> None:
    harness.puppet.fail_next_sends(1)
    with session_scope(harness.engine) as session:
        harness.runtime.service.tasks.create(
            session, TaskSpec(kind="now", text="重试测试", targets=[Target("room", ROOM)]), harness.clock())
    harness.runtime.service.housekeeping()
    harness.runtime.sender.wake()
    for _ in range(50):
        if harness.runtime.sender.failed_count:
            break
        await __import__("asyncio").sleep(0.02)
    assert harness.runtime.sender.failed_count == 1
    harness.runtime.sender.paused_until = None
    harness.clock.advance(minutes=10)
    await harness.settle()
    assert [m.text for m in harness.sent_to(ROOM)].count("重试测试") == 1
    with session_scope(harness.engine) as session:
        row = session.execute(select(OutboxMessage).where(OutboxMessage.text == "重试测试")).scalars().one()
    assert row.status == "sent"
    assert row.attempts == 1
    assert json.loads(row.mention_ids) == []


async def test_private_reply_to_stranger_fails_once(harness: BotHarness) -> None:
    harness.puppet.add_contact("wxid_stranger", "路人", friend=False)
    with session_scope(harness.engine) as session:
        harness.runtime.service.tasks.create(
            session, TaskSpec(kind="now", text="你好", targets=[Target("contact", "wxid_stranger")]), harness.clock())
    harness.runtime.service.housekeeping()
    harness.runtime.sender.wake()
    await harness.runtime.wait_idle(5)

    with session_scope(harness.engine) as session:
        row = session.execute(select(OutboxMessage).where(OutboxMessage.text == "你好")).scalars().one()
    assert row.status == "failed"
    assert row.attempts == 1
    assert "not a friend" in row.error
    assert harness.runtime.sender.paused_until is None
