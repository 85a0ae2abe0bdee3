"""Chat commands through MessageService.handle on a real SQLite file: members, red packets, tips, admins."""

from __future__ import annotations

import itertools
import json
import os
import random
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import Engine, func, select

from repe_bot import directory, ledger, outbox
from repe_bot.command_config import CommandSettings, CommandTemplates
from repe_bot.commands import register_commands
from repe_bot.config import ConfigError, Settings
from repe_bot.db.database import session_scope
from repe_bot.db.member_models import CheckIn, RedPacket
from repe_bot.db.models import Activity, ActivityEntry, LedgerEntry, OutboxMessage
from repe_bot.service import IncomingMessage, MessageService
from tests.conftest import FakeClock, grant, make_settings, verify_ledger

ROOM = "room1@chatroom"
OTHER_ROOM = "room2@chatroom"
BOT = "wxid_bot"
ADMIN = "wxid_admin"


def command_settings(db_path: Path, **commands: Any) -> Settings:
    return make_settings(db_path, bot={"admins": [ADMIN]}, commands=commands)


@pytest.fixture
def command_overrides() -> dict[str, Any]:
    return {}


@pytest.fixture
def settings(db_path: Path, command_overrides: dict[str, Any]) -> Settings:
    return command_settings(db_path, **command_overrides)


def start_service(engine: Engine, settings: Settings, clock: FakeClock) -> MessageService:
    service = MessageService(engine, settings, clock=clock, rng=random.Random(7))
    service.set_self(BOT, "repe-bot")
    register_commands(service)
    return service


@pytest.fixture
def bot(engine: Engine, settings: Settings, clock: FakeClock) -> Iterator[MessageService]:
    service = start_service(engine, settings, clock)
    yield service
    assert verify_ledger(engine) == []


_ids = itertools.count(1)


def say(
    service: MessageService,
    talker: str,
    text: str,
    *,
    room: str | None = ROOM,
    mentions: tuple[str, ...] = (),
    message_id: str | None = None,
    name: str = "",
) -> str:
    message = IncomingMessage(
        id=message_id or f"msg-{next(_ids)}",
        talker_id=talker,
        text=text,
        room_id=room,
        talker_name=name,
        mention_ids=mentions,
    )
    return service.handle(message)


def balance(service: MessageService, wxid: str) -> int:
    with session_scope(service.engine) as session:
        return ledger.balance(session, ledger.member_key(wxid))


def replies(service: MessageService, conversation: str | None = None) -> list[OutboxMessage]:
    with session_scope(service.engine) as session:
        query = select(OutboxMessage).where(OutboxMessage.kind == "reply").order_by(OutboxMessage.id)
        if conversation is not None:
            query = query.where(OutboxMessage.conversation_wxid == conversation)
        return list(session.execute(query).scalars())


def last_reply(service: MessageService) -> OutboxMessage:
    rows = replies(service)
    assert rows, "no reply was queued"
    return rows[-1]


def ledger_reasons(service: MessageService, reason: str) -> list[LedgerEntry]:
    with session_scope(service.engine) as session:
        return list(
            session.execute(
                select(LedgerEntry).where(LedgerEntry.reason == reason, LedgerEntry.delta > 0)
            ).scalars()
        )


def open_activities(service: MessageService) -> list[Activity]:
    with session_scope(service.engine) as session:
        return list(session.execute(select(Activity).where(Activity.status == "open")).scalars())


def sync_room(service: MessageService, members: dict[str, str], room: str = ROOM) -> None:
    with session_scope(service.engine) as session:
        directory.replace_room_members(
            session,
            room,
            [directory.MemberInfo(wxid, name) for wxid, name in members.items()],
            service.clock(),
        )


# -- matching ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "余额多少",
        "我的余额",
        "余额 是多少",
        "签到了吗",
        "今天签到",
        "帮助一下",
        "发红包了",
        "打赏",
        "排行榜 第一",
    ],
)
def test_ordinary_chat_not_matched(bot: MessageService, text: str) -> None:
    outcome = say(bot, "u1", text)
    assert outcome in ("ignored", "usage")
    if text == "打赏":
        assert outcome == "usage"
    else:
        assert outcome == "ignored"


def test_command_words_normalised(bot: MessageService, clock: FakeClock) -> None:
    assert say(bot, "u1", "签到！") == "checkin"
    clock.advance(seconds=10)
    assert say(bot, "u1", "@repe-bot 余额", mentions=(BOT,)) == "balance"
    clock.advance(seconds=10)
    assert say(bot, "u1", "　积分　") == "balance"  # ideographic spaces around an alias


def test_duplicate_message_id_runs_once(bot: MessageService, clock: FakeClock) -> None:
    grant(bot.engine, "u1", 50, clock())
    assert say(bot, "u1", "打赏 10 @u2", mentions=("u2",), message_id="m1") == "tipped"
    assert say(bot, "u1", "打赏 10 @u2", mentions=("u2",), message_id="m1") == "duplicate"
    assert balance(bot, "u1") == 40
    assert balance(bot, "u2") == 10


def test_self_message_ignored(bot: MessageService) -> None:
    assert say(bot, BOT, "签到") == "self"
    with session_scope(bot.engine) as session:
        assert session.execute(select(func.count()).select_from(CheckIn)).scalar() == 0


# -- balance ----------------------------------------------------------------------------------------


def test_balance_shows_rank_and_history(bot: MessageService, clock: FakeClock) -> None:
    sync_room(bot, {"u1": "小明", "u2": "小红", "u3": ""})
    grant(bot.engine, "u2", 100, clock())
    grant(bot.engine, "u1", 30, clock())
    say(bot, "u1", "签到")
    clock.advance(seconds=10)

    assert say(bot, "u1", "余额") == "balance"
    reply = last_reply(bot)
    assert reply.conversation_wxid == ROOM
    assert json.loads(reply.mention_ids) == ["u1"]
    assert "小明 的积分：35" in reply.text
    assert "群内排名第 2/3" in reply.text
    assert "签到 +5" in reply.text
    assert "发放 +30" in reply.text
    assert "@" not in reply.text


def test_balance_in_private_chat_has_no_rank(bot: MessageService) -> None:
    assert say(bot, "u1", "余额", room=None) == "balance"
    reply = last_reply(bot)
    assert reply.conversation_wxid == "u1"
    assert not reply.is_room
    assert "排名" not in reply.text
    assert "积分：0" in reply.text


@pytest.mark.parametrize("command_overrides", [{"balance_reply": "private"}])
def test_balance_reply_private_when_configured(bot: MessageService) -> None:
    assert say(bot, "u1", "余额") == "balance"
    reply = last_reply(bot)
    assert reply.conversation_wxid == "u1"
    assert not reply.is_room
    assert "群内排名第 1/" in reply.text


# -- help -------------------------------------------------------------------------------------------


def test_help_lists_commands_and_activities(bot: MessageService, clock: FakeClock) -> None:
    assert say(bot, ADMIN, "开始活动 报名 10 5 2小时 读书会") == "activity_started"
    assert say(bot, "u1", "帮助") == "help"
    member_help = last_reply(bot).text
    assert "发红包 <积分> <个数>" in member_help
    assert "打赏 <积分> @成员" in member_help
    assert "开始活动" not in member_help
    assert "发送「报名」参与「读书会」，截止 12-04 14:00" in member_help

    assert say(bot, ADMIN, "帮助") == "help"
    assert "开始活动 <口令> <名额> <奖励> [时长] [名称]" in last_reply(bot).text

    clock.advance(seconds=10)  # past the cooldown of 帮助
    assert say(bot, "u1", "帮助", room=None) == "help"
    private_help = last_reply(bot).text
    assert "余额" in private_help
    assert "发红包" not in private_help
    assert "当前没有进行中的活动" in private_help


@pytest.mark.parametrize(
    "command_overrides",
    [{"help": {"words": ["菜单"]}, "tip": {"words": []}, "balance": {"words": ["查分"], "usage": "{word}"}}],
)
def test_help_built_from_config(bot: MessageService) -> None:
    assert say(bot, "u1", "帮助") == "ignored"
    assert say(bot, "u1", "菜单") == "help"
    text = last_reply(bot).text
    assert "菜单  查看可用命令和进行中的活动" in text
    assert "查分" in text
    assert "打赏" not in text
    assert say(bot, "u1", "打赏 5 @u2", mentions=("u2",)) == "ignored"


# -- check-in ---------------------------------------------------------------------------------------


def test_checkin_once_per_day(bot: MessageService, clock: FakeClock) -> None:
    assert say(bot, "u1", "签到") == "checkin"
    clock.advance(minutes=1)
    assert say(bot, "u1", "签到") == "checkin_already"
    assert say(bot, "u2", "签到", room=None) == "checkin"

    assert balance(bot, "u1") == 5
    assert balance(bot, "u2") == 5
    assert "今天已经签到过了" in replies(bot, ROOM)[-1].text
    assert len(ledger_reasons(bot, "checkin")) == 2


@pytest.fixture
def utc_process_zone() -> Iterator[None]:
    previous = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    yield
    if previous is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = previous
    time.tzset()


def test_checkin_across_shanghai_midnight(
    bot: MessageService, clock: FakeClock, utc_process_zone: None
) -> None:
    assert time.strftime("%Z") == "UTC"
    clock.set(datetime(2026, 12, 4, 15, 59, tzinfo=timezone.utc))  # 23:59 on 12-04 in Asia/Shanghai
    assert say(bot, "u1", "签到") == "checkin"
    clock.set(datetime(2026, 12, 4, 16, 1, tzinfo=timezone.utc))  # 00:01 on 12-05, still 12-04 in UTC
    assert say(bot, "u1", "签到") == "checkin"
    clock.set(datetime(2026, 12, 4, 23, 30, tzinfo=timezone.utc))  # 07:30 on 12-05
    assert say(bot, "u1", "签到") == "checkin_already"

    with session_scope(bot.engine) as session:
        rows = list(session.execute(select(CheckIn).order_by(CheckIn.id)).scalars())
    assert [row.day for row in rows] == ["2026-12-04", "2026-12-05"]
    assert [row.streak for row in rows] == [1, 2]
    assert balance(bot, "u1") == 10


@pytest.mark.parametrize("command_overrides", [{"streak_days": 3, "streak_bonus": 10, "checkin_points": 2}])
def test_checkin_streak_bonus_and_reset(bot: MessageService, clock: FakeClock) -> None:
    for _ in range(3):
        assert say(bot, "u1", "签到") == "checkin"
        clock.advance(days=1)
    assert balance(bot, "u1") == 2 * 3 + 10
    assert "连续签到 3 天奖励 10 积分" in last_reply(bot).text
    assert len(ledger_reasons(bot, "checkin_bonus")) == 1

    clock.advance(days=1)  # a missed day
    assert say(bot, "u1", "签到") == "checkin"
    assert "已连续签到 1 天" in last_reply(bot).text
    with session_scope(bot.engine) as session:
        streaks = list(session.execute(select(CheckIn.streak).order_by(CheckIn.id)).scalars())
    assert streaks == [1, 2, 3, 1]


# -- leaderboard ------------------------------------------------------------------------------------


def test_leaderboard_by_balance(bot: MessageService, clock: FakeClock) -> None:
    sync_room(bot, {"u1": "小明", "u2": "", "u3": "小刚", "u4": "小丽"})
    grant(bot.engine, "u1", 10, clock())
    grant(bot.engine, "u2", 30, clock())
    grant(bot.engine, "u3", 30, clock())
    grant(bot.engine, "outsider", 999, clock())  # not a member of the synced room

    assert say(bot, "u4", "排行榜") == "leaderboard"
    reply = last_reply(bot)
    lines = reply.text.splitlines()
    assert lines[0] == "积分排行榜"
    assert lines[1:] == ["1. 微信用户u2 30", "1. 小刚 30", "3. 小明 10"]
    assert json.loads(reply.mention_ids) == []
    assert say(bot, "u1", "排行榜", room=None) == "not_in_room"


@pytest.mark.parametrize("command_overrides", [{"leaderboard_by": "week", "leaderboard_size": 2}])
def test_leaderboard_by_week(bot: MessageService, clock: FakeClock) -> None:
    sync_room(bot, {"u1": "小明", "u2": "小红", "u3": "小刚"})
    # 2026-12-04 is a Friday; the week started Monday 2026-11-30 00:00 in Asia/Shanghai.
    grant(bot.engine, "u1", 500, datetime(2026, 11, 29, 15, 0, tzinfo=timezone.utc))  # Sunday 23:00 local
    grant(bot.engine, "u2", 20, datetime(2026, 11, 29, 16, 30, tzinfo=timezone.utc))  # Monday 00:30 local
    grant(bot.engine, "u3", 15, clock())
    say(bot, "u1", "签到")

    assert say(bot, "u2", "排行榜") == "leaderboard"
    lines = last_reply(bot).text.splitlines()
    assert lines == ["本周积分榜", "1. 小红 20", "2. 小刚 15"]


def test_leaderboard_empty(bot: MessageService) -> None:
    assert say(bot, "u1", "排行榜") == "leaderboard"
    assert "暂无数据" in last_reply(bot).text


# -- red packets ------------------------------------------------------------------------------------


def packet_refunds(service: MessageService, activity_id: int) -> list[LedgerEntry]:
    with session_scope(service.engine) as session:
        return list(
            session.execute(
                select(LedgerEntry).where(
                    LedgerEntry.reason == "activity_refund",
                    LedgerEntry.activity_id == activity_id,
                    LedgerEntry.delta > 0,
                )
            ).scalars()
        )


def test_red_packet_expires_and_refunds_once_across_restart(
    engine: Engine, settings: Settings, clock: FakeClock
) -> None:
    bot = start_service(engine, settings, clock)
    grant(engine, "funder", 100, clock())
    assert say(bot, "funder", "发红包 60 5") == "packet_created"
    assert balance(bot, "funder") == 40

    (packet,) = open_activities(bot)
    assert packet.id is not None
    assert packet.reward_mode == "random"
    assert packet.capacity == 5
    assert packet.pool == 60
    assert packet.funder_wxid == "funder"
    assert packet.passphrase == "抢红包"
    assert packet.deadline_at is not None
    assert packet.deadline_at - clock() == timedelta(minutes=1440)

    assert say(bot, "u1", "抢红包") == "joined"
    assert say(bot, "u2", "抢红包") == "joined"
    claimed = balance(bot, "u1") + balance(bot, "u2")
    assert 2 <= claimed <= 58
    assert verify_ledger(engine) == []

    clock.advance(minutes=1441)
    bot.housekeeping()
    bot.housekeeping()
    restarted = start_service(engine, settings, clock)
    restarted.recover()
    restarted.housekeeping()

    assert balance(restarted, "funder") == 40 + 60 - claimed
    assert len(packet_refunds(restarted, packet.id)) == 1
    with session_scope(engine) as session:
        notices = list(
            session.execute(
                select(OutboxMessage).where(
                    OutboxMessage.kind == "notice", OutboxMessage.conversation_wxid == "funder"
                )
            ).scalars()
        )
        closed = session.get(Activity, packet.id)
    assert len(notices) == 1
    assert f"退回剩余 {60 - claimed} 积分" in notices[0].text
    assert closed is not None
    assert closed.close_reason == "deadline"
    assert say(restarted, "u3", "抢红包") == "ignored"
    assert verify_ledger(engine) == []


def test_red_packet_fully_claimed_pays_whole_pool(bot: MessageService, clock: FakeClock) -> None:
    grant(bot.engine, "funder", 30, clock())
    assert say(bot, "funder", "发红包 30 3") == "packet_created"
    for member in ("u1", "u2", "u3"):
        assert say(bot, member, "抢红包") == "joined"
    assert say(bot, "u4", "抢红包") == "ignored"
    assert balance(bot, "u1") + balance(bot, "u2") + balance(bot, "u3") == 30
    assert balance(bot, "funder") == 0
    assert open_activities(bot) == []


@pytest.mark.parametrize(
    ("text", "status", "fragment"),
    [
        ("发红包", "usage", "正确格式：发红包 <积分> <个数>"),
        ("发红包 十 3", "usage", "正确格式"),
        ("发红包 10", "usage", "正确格式"),
        ("发红包 10 3 5", "usage", "正确格式"),
        ("发红包 -5 3", "usage", "正确格式"),
        ("发红包 10 0", "packet_count", "红包个数要在 1 到 100 之间"),
        ("发红包 500 101", "packet_count", "红包个数要在 1 到 100 之间"),
        ("发红包 5 10", "packet_too_small", "10 个红包至少要 10 积分"),
        ("发红包 0 1", "usage", "正确格式"),
        ("发红包 101 3", "insufficient", "需要 101 积分，你现在有 100 积分"),
        ("发红包 9999999 3", "too_large", "不能超过 1000000"),
        ("口令红包 10 3", "usage", "正确格式：口令红包 <口令> <积分> <个数>"),
        ("口令红包 签到 10 3", "passphrase_reserved", "「签到」是命令词"),
        ("口令红包 ！！ 10 3", "passphrase_invalid", "口令「!!」无效"),
    ],
)
def test_red_packet_invalid_forms(
    bot: MessageService, clock: FakeClock, text: str, status: str, fragment: str
) -> None:
    grant(bot.engine, "funder", 100, clock())
    assert say(bot, "funder", text) == status
    assert fragment in last_reply(bot).text
    assert open_activities(bot) == []
    assert balance(bot, "funder") == 100


def test_red_packet_needs_room(bot: MessageService, clock: FakeClock) -> None:
    grant(bot.engine, "funder", 100, clock())
    assert say(bot, "funder", "发红包 10 2", room=None) == "not_in_room"
    assert "只能在群里使用" in last_reply(bot).text
    assert balance(bot, "funder") == 100


@pytest.mark.parametrize(
    "command_overrides", [{"packet_max_open": 2, "red_packet": {"words": ["发红包"], "cooldown_seconds": 0}}]
)
def test_red_packet_open_limit_and_busy_passphrase(bot: MessageService, clock: FakeClock) -> None:
    grant(bot.engine, "funder", 100, clock())
    assert say(bot, "funder", "发红包 10 2") == "packet_created"
    assert say(bot, "funder", "发红包 10 2") == "packet_busy"
    assert "口令红包 <口令> <积分> <个数>" in last_reply(bot).text
    clock.advance(seconds=10)
    assert say(bot, "funder", "口令红包 恭喜发财 10 2") == "packet_created"
    clock.advance(seconds=10)
    assert say(bot, "funder", "口令红包 大吉大利 10 2") == "packet_open_limit"
    assert "最多同时发 2 个" in last_reply(bot).text
    assert say(bot, "funder", "发红包 10 2", room=OTHER_ROOM) == "packet_open_limit"
    assert balance(bot, "funder") == 80


@pytest.mark.parametrize("command_overrides", [{"packet_daily_points": 50, "packet_max_open": 0}])
def test_red_packet_daily_limit(bot: MessageService, clock: FakeClock) -> None:
    grant(bot.engine, "funder", 200, clock())
    assert say(bot, "funder", "口令红包 一 30 3") == "packet_created"
    clock.advance(seconds=10)
    assert say(bot, "funder", "口令红包 二 30 3") == "packet_daily_limit"
    assert "今天已发红包 30 积分，每天最多 50 积分" in last_reply(bot).text
    clock.advance(days=1)
    assert say(bot, "funder", "口令红包 二 30 3") == "packet_created"
    assert balance(bot, "funder") == 140


def test_passphrase_packet_claimed_by_passphrase(bot: MessageService, clock: FakeClock) -> None:
    grant(bot.engine, "funder", 100, clock())
    assert say(bot, ADMIN, "开始活动 报名 0 0") == "activity_started"
    assert say(bot, "funder", "口令红包 报名 10 2") == "passphrase_taken"
    assert "口令「报名」正被本群进行中的活动使用" in last_reply(bot).text
    clock.advance(seconds=10)
    assert say(bot, "funder", "口令红包 新年快乐 10 2") == "packet_created"
    assert say(bot, "u1", "新年快乐！") == "joined"
    assert say(bot, "u2", "新年快乐", room=OTHER_ROOM) == "ignored"

    with session_scope(bot.engine) as session:
        packet = session.execute(select(RedPacket)).scalars().one()
        entries = (
            session.execute(select(ActivityEntry).where(ActivityEntry.activity_id == packet.activity_id))
            .scalars()
            .all()
        )
    assert packet.funder_wxid == "funder"
    assert packet.points == 10
    assert [entry.contact_wxid for entry in entries] == ["u1"]


def test_red_packet_closed_by_admin_refunds_funder(bot: MessageService, clock: FakeClock) -> None:
    grant(bot.engine, "funder", 50, clock())
    assert say(bot, "funder", "发红包 50 5") == "packet_created"
    assert say(bot, "u1", "抢红包") == "joined"
    paid = balance(bot, "u1")
    assert say(bot, ADMIN, "结束活动 抢红包") == "activity_closed"
    assert balance(bot, "funder") == 50 - paid
    assert open_activities(bot) == []


# -- tips -------------------------------------------------------------------------------------------


def test_two_members_tip_each_other(bot: MessageService, clock: FakeClock) -> None:
    sync_room(bot, {"alice": "爱丽丝", "bob": "鲍勃"})
    grant(bot.engine, "alice", 50, clock())
    grant(bot.engine, "bob", 20, clock())

    assert say(bot, "alice", "打赏 15 @鲍勃", mentions=("bob",)) == "tipped"
    reply = last_reply(bot)
    assert reply.text == "爱丽丝 打赏给 鲍勃 每人 15 积分"
    assert json.loads(reply.mention_ids) == ["bob"]
    assert say(bot, "bob", "打赏 35 @爱丽丝 谢谢", mentions=("alice",)) == "tipped"

    assert balance(bot, "alice") == 70
    assert balance(bot, "bob") == 0
    tips = ledger_reasons(bot, "tip")
    assert len(tips) == 2
    assert tips[1].memo == "谢谢"


def test_tip_several_members_all_or_none(bot: MessageService, clock: FakeClock) -> None:
    grant(bot.engine, "alice", 25, clock())
    assert say(bot, "alice", "打赏 10 @b @c @d", mentions=("b", "c", "d")) == "insufficient"
    assert "需要 30 积分，你现在有 25 积分" in last_reply(bot).text
    assert balance(bot, "alice") == 25
    assert ledger_reasons(bot, "tip") == []

    clock.advance(seconds=10)
    assert say(bot, "alice", "打赏 10 @b @c @b", mentions=("b", "c", "b")) == "tipped"
    assert balance(bot, "alice") == 5
    assert balance(bot, "b") == 10
    assert balance(bot, "c") == 10


@pytest.mark.parametrize(
    ("text", "mentions", "status", "fragment"),
    [
        ("打赏 5 @自己", ("alice",), "tip_self", "不能打赏自己"),
        ("打赏 5 @b @自己", ("b", "alice"), "tip_self", "不能打赏自己"),
        ("打赏 5 @repe-bot", (BOT,), "target_bot", "不能对机器人使用「打赏」"),
        ("打赏 5 @b @repe-bot", ("b", BOT), "target_bot", "不能对机器人使用「打赏」"),
        ("打赏 5 @某人", (), "mention_unresolved", "没能识别你 @ 的成员"),
        ("打赏 5 ＠某人", (), "mention_unresolved", "没能识别你 @ 的成员"),
        ("打赏 5", (), "usage", "正确格式：打赏 <积分> @成员"),
        ("打赏 五 @b", ("b",), "usage", "正确格式"),
        ("打赏 0 @b", ("b",), "usage", "正确格式"),
    ],
)
def test_tip_rejections(
    bot: MessageService, clock: FakeClock, text: str, mentions: tuple[str, ...], status: str, fragment: str
) -> None:
    grant(bot.engine, "alice", 50, clock())
    assert say(bot, "alice", text, mentions=mentions) == status
    assert fragment in last_reply(bot).text
    assert balance(bot, "alice") == 50


def test_tip_failure_midway_rolls_back_earlier_transfers(
    bot: MessageService, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    grant(bot.engine, "alice", 50, clock())
    real_transfer = ledger.transfer
    calls = 0

    def fail_on_second(session: Any, **kwargs: Any) -> ledger.Transfer:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise ledger.InsufficientBalance(kwargs["from_key"], 0, kwargs["amount"])
        return real_transfer(session, **kwargs)

    monkeypatch.setattr(ledger, "transfer", fail_on_second)
    assert say(bot, "alice", "打赏 10 @b @c", mentions=("b", "c"), message_id="tip-1") == "insufficient"
    monkeypatch.setattr(ledger, "transfer", real_transfer)

    assert calls == 2
    assert balance(bot, "alice") == 50
    assert balance(bot, "b") == 0
    assert "积分不足" in last_reply(bot).text
    assert say(bot, "alice", "打赏 10 @b @c", mentions=("b", "c"), message_id="tip-1") == "duplicate"


def test_tip_addressed_to_bot_first(bot: MessageService, clock: FakeClock) -> None:
    grant(bot.engine, "alice", 50, clock())
    assert say(bot, "alice", "@repe-bot 打赏 5 @b", mentions=(BOT, "b")) == "tipped"
    assert balance(bot, "b") == 5


def test_tip_in_private_chat_rejected(bot: MessageService, clock: FakeClock) -> None:
    grant(bot.engine, "alice", 50, clock())
    assert say(bot, "alice", "打赏 5 @b", room=None, mentions=("b",)) == "not_in_room"
    assert balance(bot, "alice") == 50


# -- admin commands ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["开始活动 报名 10 5", "结束活动 报名", "加分 100 @u1", "扣分 5 @u1"],
)
def test_non_admin_refused(bot: MessageService, clock: FakeClock, text: str) -> None:
    grant(bot.engine, "u1", 10, clock())
    assert say(bot, ADMIN, "开始活动 报名 0 0") == "activity_started"
    assert say(bot, "u1", text, mentions=("u1",)) == "not_admin"
    reply = last_reply(bot)
    assert "只有管理员可以使用" in reply.text
    assert json.loads(reply.mention_ids) == ["u1"]
    assert balance(bot, "u1") == 10
    assert len(open_activities(bot)) == 1


def test_admin_decided_by_id_not_name(bot: MessageService) -> None:
    assert say(bot, "impostor", "开始活动 报名 0 0", name=ADMIN) == "not_admin"
    assert open_activities(bot) == []


def test_admin_starts_and_ends_activity(bot: MessageService, clock: FakeClock) -> None:
    assert say(bot, ADMIN, "开始活动 打卡 2 5 30分钟 晨跑打卡") == "activity_started"
    (activity,) = open_activities(bot)
    assert activity.name == "晨跑打卡"
    assert activity.capacity == 2
    assert activity.reward_mode == "fixed"
    assert activity.reward_amount == 5
    assert activity.funder_wxid is None
    assert activity.created_by == ADMIN
    assert activity.deadline_at == clock() + timedelta(minutes=30)

    assert say(bot, "u1", "打卡") == "joined"
    assert balance(bot, "u1") == 5
    assert say(bot, ADMIN, "结束活动 打卡") == "activity_closed"
    assert open_activities(bot) == []
    assert say(bot, ADMIN, "结束活动 打卡") == "activity_not_found"


def test_admin_pool_activity_and_clock_deadline(bot: MessageService, clock: FakeClock) -> None:
    # 12:00 in Asia/Shanghai now, so 09:30 means tomorrow morning.
    assert say(bot, ADMIN, "开始活动 抽奖 4 随机100 09:30") == "activity_started"
    (activity,) = open_activities(bot)
    assert activity.reward_mode == "random"
    assert activity.pool == 100
    assert activity.name == "抽奖"
    assert activity.deadline_at == datetime(2026, 12, 5, 1, 30, tzinfo=timezone.utc)
    assert say(bot, ADMIN, f"结束活动 #{activity.id}", room=None) == "activity_closed"
    assert "已结束活动" in last_reply(bot).text


@pytest.mark.parametrize(
    ("text", "status", "fragment"),
    [
        ("开始活动", "usage", "开始活动 <口令> <名额> <奖励>"),
        ("开始活动 报名 十 5", "usage", "正确格式"),
        ("开始活动 报名 10 五", "usage", "正确格式"),
        ("开始活动 报名 10 平分", "usage", "正确格式"),
        ("开始活动 报名 0 平分100", "pool_capacity", "至少 1 个名额"),
        ("开始活动 报名 10 随机5", "pool_small", "奖池 5 积分不够分给 10 人"),
        ("开始活动 报名 10 5 2周", "deadline_invalid", "截止时间「2周」无效"),
        ("开始活动 报名 10 5 25:00", "deadline_invalid", "截止时间「25:00」无效"),
        ("开始活动 余额 10 5", "passphrase_reserved", "是命令词"),
        ("结束活动", "usage", "结束活动 <口令或#编号>"),
        ("结束活动 #999", "activity_not_found", "没有找到进行中的活动「#999」"),
        ("加分 @u1", "usage", "加分 <积分> @成员 [原因]"),
        ("加分 10", "usage", "正确格式"),
        ("加分 10 @机器人", "target_bot", "不能对机器人使用「加分」"),
    ],
)
def test_admin_invalid_forms(bot: MessageService, text: str, status: str, fragment: str) -> None:
    mentions = (BOT,) if "机器人" in text else ()
    assert say(bot, ADMIN, text, mentions=mentions) == status
    assert fragment in last_reply(bot).text
    assert open_activities(bot) == []


def test_admin_activity_in_other_room_not_closed(bot: MessageService) -> None:
    assert say(bot, ADMIN, "开始活动 报名 0 0", room=OTHER_ROOM) == "activity_started"
    (activity,) = open_activities(bot)
    assert say(bot, ADMIN, f"结束活动 #{activity.id}") == "activity_not_found"
    assert len(open_activities(bot)) == 1


def test_admin_adds_and_deducts_points(bot: MessageService, clock: FakeClock) -> None:
    sync_room(bot, {"u1": "小明", "u2": "小红"})
    assert say(bot, ADMIN, "加分 20 @小明 @小红 活动奖励", mentions=("u1", "u2")) == "points_added"
    reply = last_reply(bot)
    assert reply.text.endswith("给 小明、小红 每人加 20 积分（活动奖励）")
    assert json.loads(reply.mention_ids) == ["u1", "u2"]
    assert balance(bot, "u1") == 20
    assert balance(bot, "u2") == 20

    assert say(bot, ADMIN, "扣分 5 @小明", mentions=("u1",)) == "points_deducted"
    assert "（管理员扣分）" in last_reply(bot).text
    assert balance(bot, "u1") == 15

    assert say(bot, ADMIN, "扣分 18 @小明 @小红", mentions=("u1", "u2")) == "deduct_insufficient"
    assert "小明 的积分不足 18" in last_reply(bot).text
    assert balance(bot, "u1") == 15
    assert balance(bot, "u2") == 20

    adds = ledger_reasons(bot, "admin_add")
    assert [entry.memo for entry in adds] == ["活动奖励", "活动奖励"]


def test_admin_mention_unresolved(bot: MessageService) -> None:
    assert say(bot, ADMIN, "加分 10 @没解析的人") == "mention_unresolved"


# -- abuse limits -----------------------------------------------------------------------------------


def test_cooldown_tells_once_then_stays_silent(bot: MessageService, clock: FakeClock) -> None:
    assert say(bot, "u1", "余额") == "balance"
    clock.advance(seconds=1)
    assert say(bot, "u1", "余额") == "cooldown"
    assert "请 4 秒后再试" in last_reply(bot).text
    count = len(replies(bot))
    clock.advance(seconds=1)
    assert say(bot, "u1", "积分") == "cooldown"
    assert len(replies(bot)) == count
    assert say(bot, "u2", "余额") == "balance"

    clock.advance(seconds=4)
    assert say(bot, "u1", "余额") == "balance"


def test_admin_skips_cooldown(bot: MessageService) -> None:
    assert say(bot, ADMIN, "余额") == "balance"
    assert say(bot, ADMIN, "余额") == "balance"


@pytest.mark.parametrize("command_overrides", [{"room_replies_per_minute": 2}])
def test_room_reply_cap_delays_and_merges(bot: MessageService, clock: FakeClock) -> None:
    start = clock()
    for member in ("u1", "u2"):
        assert say(bot, member, "余额") == "balance"
    clock.advance(seconds=20)
    for member in ("u3", "u4", "u5"):
        assert say(bot, member, "余额") == "balance"
    assert say(bot, "u6", "余额", room=OTHER_ROOM) == "balance"

    rows = replies(bot, ROOM)
    assert len(rows) == 5
    assert [row.coalesce_key for row in rows[:2]] == [None, None]
    assert {row.coalesce_key for row in rows[2:]} == {f"command-overflow:{ROOM}"}
    assert all(row.not_before == start + timedelta(seconds=60) for row in rows[2:])
    assert replies(bot, OTHER_ROOM)[0].coalesce_key is None

    with session_scope(bot.engine) as session:
        due_now = [outbox.claim_next(session, clock()) for _ in range(3)]
    assert [batch.conversation_wxid for batch in due_now if batch] == [ROOM, ROOM, OTHER_ROOM]
    clock.set(start + timedelta(seconds=60))
    with session_scope(bot.engine) as session:
        merged = outbox.claim_next(session, clock())
    assert merged is not None
    assert len(merged.row_ids) == 3
    assert merged.mention_ids == ["u3", "u4", "u5"]
    assert merged.text.count("的积分") == 3


@pytest.mark.parametrize(
    "text",
    [
        "发红包 1e3 2",
        "发红包 ５ ２ ２",
        "打赏 ９９９９９９９９９９９９９９９９９９９ @b",
        "口令红包 @ 1 1",
        "开始活动 a b c d e f g",
        "开始活动 口令 1 平分9999999999",
        "结束活动 # ",
        "扣分 -1 @b",
        "加分 1.5 @b",
        "发红包 " + "9" * 5000 + " 2",
        "发红包 10 " + "9" * 5000,
        "打赏 " + "9" * 5000 + " @b",
    ],
)
def test_bad_formats_get_reply(bot: MessageService, clock: FakeClock, text: str) -> None:
    for talker in ("u1", ADMIN):
        before = len(replies(bot))
        outcome = say(bot, talker, text, mentions=("b",) if "@b" in text else ())
        assert outcome not in ("ignored", "cooldown")
        assert len(replies(bot)) == before + 1
        clock.advance(seconds=30)
    assert open_activities(bot) == []


# -- configuration ----------------------------------------------------------------------------------


def test_template_unknown_placeholder_names_key() -> None:
    with pytest.raises(
        ValidationError, match=r"commands\.templates\.tip_ok uses unknown placeholder \{amount\}"
    ):
        CommandTemplates(tip_ok="{name} {amount}")


def test_duplicate_command_word_rejected() -> None:
    with pytest.raises(ValidationError, match="used by both commands.balance and commands.checkin"):
        CommandSettings.model_validate({"checkin": {"words": ["余额"]}})


def test_usage_placeholder_checked() -> None:
    with pytest.raises(ValidationError, match=r"usage uses unknown placeholder \{points\}"):
        CommandSettings.model_validate({"tip": {"words": ["打赏"], "usage": "{word} {points}"}})


def test_packet_passphrase_cannot_be_command_word() -> None:
    with pytest.raises(
        ValidationError, match="packet_passphrase '签到' is the command word of commands.checkin"
    ):
        CommandSettings(packet_passphrase="签到")


def test_partial_command_config_keeps_defaults() -> None:
    config = CommandSettings.model_validate(
        {"help": {"words": ["菜单"]}, "reason_labels": {"checkin": "每日签到"}}
    )
    assert config.help.words == ["菜单"]
    assert config.help.description == CommandSettings().help.description
    assert config.help.cooldown_seconds == 10
    assert config.reason_labels["checkin"] == "每日签到"
    assert config.reason_labels["tip"] == "打赏"


def test_settings_reject_unknown_command_key(db_path: Path) -> None:
    with pytest.raises(ConfigError, match="commands.checkin_point: unknown key"):
        command_settings(db_path, checkin_point=5)


def test_settings_report_bad_template_key(db_path: Path) -> None:
    with pytest.raises(
        ConfigError, match=r"commands\.templates\.balance uses unknown placeholder \{points\}"
    ):
        command_settings(db_path, templates={"balance": "{name} {points}"})
