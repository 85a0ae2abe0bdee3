"""The simulator puppet and scenario player, driven through the real ``Wechaty`` class."""

from __future__ import annotations

import logging
import re
import socket
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from repe_bot.adapter import compat

compat.apply()

from apscheduler.schedulers.asyncio import AsyncIOScheduler  # noqa: E402
from wechaty import Wechaty, WechatyOptions  # noqa: E402
from wechaty.user import Contact, Friendship, Message, Room, RoomInvitation  # noqa: E402
from wechaty_puppet import MessageType, WechatyPuppetError  # noqa: E402

from repe_bot.adapter.scenario import (  # noqa: E402
    Delivery,
    ScenarioError,
    ScenarioMessage,
    build_puppet,
    describe_delivery,
    load_scenario,
    parse_scenario,
    play,
)
from repe_bot.adapter.simulator import SimulatorPuppet, forget_delivered_message_ids  # noqa: E402

BOT_ID = "wxid_repe_bot"
ROOM_ID = "demo@chatroom"
FIXED_EPOCH = 1_796_400_000.0
DOC_PATH = Path(__file__).resolve().parent.parent / "docs" / "scenario-format.md"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RecordingBot(Wechaty):
    """A Wechaty bot that records what its event hooks receive."""

    def __init__(self, puppet: SimulatorPuppet) -> None:
        super().__init__(
            WechatyOptions(puppet=puppet, host="127.0.0.1", port=free_port(), scheduler=AsyncIOScheduler())
        )
        self.logins: list[str] = []
        self.messages: list[Message] = []
        self.joins: list[tuple[str, list[str], str]] = []
        self.leaves: list[tuple[str, list[str], str]] = []
        self.topics: list[tuple[str, str, str, str]] = []
        self.friendships: list[Friendship] = []
        self.invitations: list[RoomInvitation] = []
        self.fail_on_text: str | None = None

    async def on_login(self, contact: Contact) -> None:
        self.logins.append(contact.contact_id)

    async def on_message(self, msg: Message) -> None:
        self.messages.append(msg)
        if self.fail_on_text is not None and msg.text() == self.fail_on_text:
            raise RuntimeError(f"handler failed on {msg.text()!r}")

    async def on_room_join(
        self, room: Room, invitees: list[Contact], inviter: Contact, date: datetime
    ) -> None:
        self.joins.append((room.room_id, [c.contact_id for c in invitees], inviter.contact_id))

    async def on_room_leave(
        self, room: Room, leavers: list[Contact], remover: Contact, date: datetime
    ) -> None:
        self.leaves.append((room.room_id, [c.contact_id for c in leavers], remover.contact_id))

    async def on_room_topic(
        self, room: Room, new_topic: str, old_topic: str, changer: Contact, date: datetime
    ) -> None:
        self.topics.append((room.room_id, new_topic, old_topic, changer.contact_id))

    async def on_friendship(self, friendship: Friendship) -> None:
        self.friendships.append(friendship)

    async def on_room_invite(self, room_invitation: RoomInvitation) -> None:
        self.invitations.append(room_invitation)


def make_world(**options: Any) -> SimulatorPuppet:
    puppet = SimulatorPuppet(BOT_ID, "活动助手", clock=lambda: FIXED_EPOCH, **options)
    puppet.add_contact("wxid_zhang", "张三")
    puppet.add_contact("wxid_li", "李四", alias="小李")
    puppet.add_contact("wxid_wang", "王五", friend=False)
    puppet.add_room(
        ROOM_ID,
        "周末读书会",
        [BOT_ID, "wxid_zhang", "wxid_li"],
        owner_id="wxid_zhang",
        display_names={"wxid_li": "李四（读书会）"},
    )
    puppet.add_room("other@chatroom", "别的群", ["wxid_zhang"])
    return puppet


async def start_bot(puppet: SimulatorPuppet) -> RecordingBot:
    bot = RecordingBot(puppet)
    await bot.start()
    await puppet.drain()
    return bot


async def stop_bot(bot: RecordingBot, puppet: SimulatorPuppet) -> None:
    if bot._puppet is not None:
        await bot.stop()
    await puppet.drain()
    bot._plugin_manager.scheduler.shutdown(wait=False)


@pytest.fixture(autouse=True)
def _fresh_message_ids() -> None:
    # Fixed message ids repeat across tests, and wechaty drops ids it saw in this process.
    forget_delivered_message_ids()


@pytest.fixture
def puppet() -> SimulatorPuppet:
    return make_world()


@pytest.fixture
async def bot(puppet: SimulatorPuppet) -> AsyncIterator[RecordingBot]:
    started = await start_bot(puppet)
    yield started
    await stop_bot(started, puppet)


async def test_login_fires_on_login(bot: RecordingBot, puppet: SimulatorPuppet) -> None:
    assert bot.logins == [BOT_ID]
    assert bot.user_self().contact_id == BOT_ID
    assert bot.user_self().name == "活动助手"
    assert puppet.listener_errors == []


async def test_room_message_reaches_on_message(bot: RecordingBot, puppet: SimulatorPuppet) -> None:
    message_id = await puppet.say("wxid_zhang", "@活动助手 报名", room_id=ROOM_ID, mention_ids=[BOT_ID])
    await puppet.drain()

    assert len(bot.messages) == 1
    msg = bot.messages[0]
    room = msg.room()
    assert msg.message_id == message_id
    assert room is not None
    assert room.room_id == ROOM_ID
    assert msg.talker().contact_id == "wxid_zhang"
    assert msg.talker().name == "张三"
    assert msg.text() == "@活动助手 报名"
    assert msg.payload.mention_ids == [BOT_ID]
    assert msg.message_type() == MessageType.MESSAGE_TYPE_TEXT
    assert msg.payload.timestamp == int(FIXED_EPOCH)
    assert msg.date() == datetime.fromtimestamp(FIXED_EPOCH)


async def test_private_message_has_no_room(bot: RecordingBot, puppet: SimulatorPuppet) -> None:
    await puppet.say("wxid_li", "查积分")
    await puppet.drain()

    msg = bot.messages[0]
    assert msg.room() is None
    assert msg.talker().contact_id == "wxid_li"
    assert msg.payload.to_id == BOT_ID


async def test_room_say_records_mentions(bot: RecordingBot, puppet: SimulatorPuppet) -> None:
    room = bot.Room.load(ROOM_ID)
    await room.ready()

    await room.say("报名成功", mention_ids=["wxid_zhang"])

    assert len(puppet.sent) == 1
    sent = puppet.sent[0]
    assert sent.conversation_id == ROOM_ID
    assert sent.mention_ids == ["wxid_zhang"]
    assert sent.text.startswith("@张三")
    assert sent.text.endswith("报名成功")


async def test_own_send_is_echoed(bot: RecordingBot, puppet: SimulatorPuppet) -> None:
    contact = bot.Contact.load("wxid_zhang")
    await contact.ready()

    await contact.say("你好")
    await puppet.drain()

    assert len(bot.messages) == 1
    echo = bot.messages[0]
    assert echo.talker().contact_id == BOT_ID
    assert echo.message_id == puppet.sent[0].message_id
    assert echo.payload.to_id == "wxid_zhang"
    assert echo.room() is None


async def test_private_send_needs_friend(bot: RecordingBot, puppet: SimulatorPuppet) -> None:
    stranger = bot.Contact.load("wxid_wang")
    await stranger.ready()

    with pytest.raises(WechatyPuppetError, match="not a friend"):
        await stranger.say("你好")

    assert puppet.sent == []


async def test_echo_can_be_disabled() -> None:
    puppet = make_world(echo_own_messages=False)
    bot = await start_bot(puppet)
    try:
        room = bot.Room.load(ROOM_ID)
        await room.ready()
        await room.say("公告")
        await puppet.drain()

        assert [sent.text for sent in puppet.sent] == ["公告"]
        assert bot.messages == []
    finally:
        await stop_bot(bot, puppet)


async def test_contact_and_room_lists(bot: RecordingBot) -> None:
    contacts = await bot.Contact.find_all()
    rooms = await bot.Room.find_all()

    assert {contact.contact_id for contact in contacts} == {BOT_ID, "wxid_zhang", "wxid_li", "wxid_wang"}
    # The bot is not in other@chatroom, so the account does not list it.
    assert [room.room_id for room in rooms] == [ROOM_ID]
    assert await rooms[0].topic() == "周末读书会"


async def test_member_payload_and_alias(bot: RecordingBot, puppet: SimulatorPuppet) -> None:
    room = bot.Room.load(ROOM_ID)
    await room.ready()
    li = bot.Contact.load("wxid_li")
    await li.ready()

    assert await room.alias(li) == "李四（读书会）"
    assert await li.alias() == "小李"
    await li.alias("老李")
    assert puppet.get_contact("wxid_li").alias == "老李"


async def test_room_join_updates_members(bot: RecordingBot, puppet: SimulatorPuppet) -> None:
    room = bot.Room.load(ROOM_ID)
    await room.ready()

    await puppet.room_join(ROOM_ID, ["wxid_wang"], "wxid_zhang")
    await puppet.drain()

    assert bot.joins == [(ROOM_ID, ["wxid_wang"], "wxid_zhang")]
    members = [member.contact_id for member in await room.member_list()]
    assert members == [BOT_ID, "wxid_zhang", "wxid_li", "wxid_wang"]
    assert await room.has(bot.Contact.load("wxid_wang"))
    member_payload = await puppet.room_member_payload(ROOM_ID, "wxid_wang")
    assert member_payload.inviter_id == "wxid_zhang"


async def test_room_leave_and_topic(bot: RecordingBot, puppet: SimulatorPuppet) -> None:
    room = bot.Room.load(ROOM_ID)
    await room.ready()

    await puppet.room_leave(ROOM_ID, ["wxid_li"], "wxid_zhang")
    await puppet.room_topic_change(ROOM_ID, "读书会（第二期）", "wxid_zhang")
    await puppet.drain()

    assert bot.leaves == [(ROOM_ID, ["wxid_li"], "wxid_zhang")]
    assert bot.topics == [(ROOM_ID, "读书会（第二期）", "周末读书会", "wxid_zhang")]
    assert [member.contact_id for member in await room.member_list()] == [BOT_ID, "wxid_zhang"]
    assert await room.topic() == "读书会（第二期）"


async def test_silent_leave_emits_nothing(bot: RecordingBot, puppet: SimulatorPuppet) -> None:
    await puppet.room_leave(ROOM_ID, ["wxid_li"], emit_event=False)
    await puppet.drain()

    assert bot.leaves == []
    assert await puppet.room_members(ROOM_ID) == [BOT_ID, "wxid_zhang"]


async def test_duplicate_id_is_emitted_twice(bot: RecordingBot, puppet: SimulatorPuppet) -> None:
    emitted: list[str] = []
    puppet.on("message", lambda payload: emitted.append(payload.message_id))

    await puppet.say("wxid_zhang", "报名", room_id=ROOM_ID, message_id="msg-dup-1")
    await puppet.say("wxid_zhang", "报名", room_id=ROOM_ID, message_id="msg-dup-1")
    await puppet.drain()

    assert emitted == ["msg-dup-1", "msg-dup-1"]
    # wechaty itself drops the repeat within one process.
    assert [msg.message_id for msg in bot.messages] == ["msg-dup-1"]

    forget_delivered_message_ids()
    await puppet.say("wxid_zhang", "报名", room_id=ROOM_ID, message_id="msg-dup-1")
    await puppet.drain()
    assert [msg.message_id for msg in bot.messages] == ["msg-dup-1", "msg-dup-1"]


async def test_fail_next_sends(bot: RecordingBot, puppet: SimulatorPuppet) -> None:
    room = bot.Room.load(ROOM_ID)
    await room.ready()
    puppet.fail_next_sends(1)

    with pytest.raises(WechatyPuppetError):
        await room.say("第一次")
    await room.say("第二次")

    assert [sent.text for sent in puppet.failed_sends] == ["第一次"]
    assert [sent.text for sent in puppet.sent] == ["第二次"]


async def test_fail_next_sends_custom_error(bot: RecordingBot, puppet: SimulatorPuppet) -> None:
    room = bot.Room.load(ROOM_ID)
    await room.ready()
    puppet.fail_next_sends(2, exc=ConnectionResetError)

    for _ in range(2):
        with pytest.raises(ConnectionResetError):
            await room.say("发不出去")
    await room.say("恢复了")

    assert len(puppet.failed_sends) == 2
    assert [sent.text for sent in puppet.sent] == ["恢复了"]


async def test_listener_error_is_logged(
    bot: RecordingBot, puppet: SimulatorPuppet, caplog: pytest.LogCaptureFixture
) -> None:
    bot.fail_on_text = "坏消息"

    with caplog.at_level(logging.ERROR, logger="repe_bot.adapter.simulator"):
        await puppet.say("wxid_zhang", "坏消息", room_id=ROOM_ID)
        await puppet.say("wxid_zhang", "好消息", room_id=ROOM_ID)
        await puppet.drain()

    assert [msg.text() for msg in bot.messages] == ["坏消息", "好消息"]
    assert len(puppet.listener_errors) == 1
    assert isinstance(puppet.listener_errors[0], RuntimeError)
    assert "handler failed" in caplog.text


async def test_restart_on_same_puppet(puppet: SimulatorPuppet) -> None:
    first = await start_bot(puppet)
    await stop_bot(first, puppet)
    await puppet.stop()  # a second stop is allowed

    second = await start_bot(puppet)
    try:
        await puppet.say("wxid_zhang", "重启后", room_id=ROOM_ID)
        await puppet.drain()

        assert second.logins == [BOT_ID]
        assert [msg.text() for msg in second.messages] == ["重启后"]
        assert first.messages == []
        assert puppet.listener_count("message") == 1
        room = second.Room.load(ROOM_ID)
        await room.ready()
        await room.say("回复")
        assert puppet.sent[-1].text == "回复"
    finally:
        await stop_bot(second, puppet)


async def test_injection_needs_login(puppet: SimulatorPuppet) -> None:
    with pytest.raises(WechatyPuppetError, match="not logged in"):
        await puppet.say("wxid_zhang", "太早了", room_id=ROOM_ID)


async def test_injection_rejects_impossible_world(bot: RecordingBot, puppet: SimulatorPuppet) -> None:
    with pytest.raises(ValueError, match="not a member"):
        await puppet.say("wxid_wang", "我不在群里", room_id=ROOM_ID)
    with pytest.raises(ValueError, match="bot is not a member"):
        await puppet.say("wxid_zhang", "别的群", room_id="other@chatroom")
    with pytest.raises(ValueError, match="not a known contact"):
        await puppet.say("wxid_ghost", "你好")
    with pytest.raises(ValueError, match="already a member"):
        await puppet.room_join(ROOM_ID, ["wxid_li"], "wxid_zhang")
    with pytest.raises(ValueError, match="needs remover_id"):
        await puppet.room_leave(ROOM_ID, ["wxid_li", "wxid_zhang"])


def test_world_building_validates_ids() -> None:
    puppet = SimulatorPuppet(BOT_ID, "活动助手")
    puppet.add_contact("wxid_zhang", "张三")

    with pytest.raises(ValueError, match="contains '@'"):
        puppet.add_contact("zhang@chatroom", "张三")
    with pytest.raises(ValueError, match="already exists"):
        puppet.add_contact("wxid_zhang", "张三")
    with pytest.raises(ValueError, match="must contain '@'"):
        puppet.add_room("wxid_room", "群", [BOT_ID])
    with pytest.raises(ValueError, match="not a known contact"):
        puppet.add_room("a@chatroom", "群", [BOT_ID, "wxid_ghost"])
    with pytest.raises(ValueError, match="owner"):
        puppet.add_room("b@chatroom", "群", [BOT_ID], owner_id="wxid_zhang")


async def test_friend_request_accept(bot: RecordingBot, puppet: SimulatorPuppet) -> None:
    await puppet.friend_request("wxid_wang", "我是王五")
    await puppet.drain()

    assert len(bot.friendships) == 1
    friendship = bot.friendships[0]
    assert friendship.hello() == "我是王五"
    assert friendship.contact().contact_id == "wxid_wang"
    await friendship.accept()
    assert puppet.get_contact("wxid_wang").friend is True


async def test_room_invite_accept(bot: RecordingBot, puppet: SimulatorPuppet) -> None:
    await puppet.room_invite("other@chatroom", "wxid_zhang")
    await puppet.drain()

    assert len(bot.invitations) == 1
    # wechaty 0.10.7's RoomInvitation.load() builds an object bound to no puppet, so the
    # bot rebuilds it from its own bound class before accepting.
    invitation = bot.RoomInvitation(bot.invitations[0].invitation_id)
    assert await invitation.topic() == "别的群"
    await invitation.accept()
    await puppet.drain()

    assert BOT_ID in await puppet.room_members("other@chatroom")
    assert bot.joins == [("other@chatroom", [BOT_ID], "wxid_zhang")]


async def test_ding_emits_dong(bot: RecordingBot, puppet: SimulatorPuppet) -> None:
    dongs: list[str] = []
    bot.on("dong", dongs.append)

    await puppet.ding("ping")
    await puppet.drain()

    assert dongs == ["ping"]


# ---------------------------------------------------------------------------- scenario files

SCENARIO = """
[bot]
id = "wxid_repe_bot"
name = "活动助手"

[[contacts]]
id = "wxid_zhang"
name = "张三"

[[contacts]]
id = "wxid_li"
name = "李四"
friend = false

[[contacts]]
id = "wxid_zhao"
name = "赵六"
friend = false

[[rooms]]
id = "demo@chatroom"
topic = "周末读书会"
members = ["wxid_zhang", "wxid_li"]
owner = "wxid_zhang"
display_names = { wxid_li = "小李" }
generate_members = { count = 3, prefix = "wxid_m", name = "成员{n}" }

[[messages]]
at = 0.5
from = "wxid_zhang"
room = "demo@chatroom"
text = "@活动助手 报名"

[[messages]]
at = 2
from = "wxid_zhao"
room = "demo@chatroom"
text = "我也报名 @小李"

[[messages]]
at = 1
from = "wxid_li"
room = "demo@chatroom"
text = "报名"
id = "msg-dup-1"

[[messages]]
at = 1.2
from = "wxid_li"
room = "demo@chatroom"
text = "报名"
id = "msg-dup-1"

[[messages]]
at = 3
from = "wxid_zhang"
text = "查积分"

[[events]]
at = 2
kind = "room-join"
room = "demo@chatroom"
contacts = ["wxid_zhao"]
inviter = "wxid_zhang"

[[events]]
at = 4
kind = "room-leave"
room = "demo@chatroom"
contacts = ["wxid_m_0002"]

[[activities]]
room = "demo@chatroom"
passphrase = "报名"
capacity = 3

[[tasks]]
kind = "daily"
at = "09:00"
text = "早上好"
"""


def test_scenario_parses_world() -> None:
    scenario = parse_scenario(SCENARIO, "inline.toml")

    assert scenario.bot.id == BOT_ID
    room = scenario.rooms[0]
    assert room.member_ids == (BOT_ID, "wxid_zhang", "wxid_li", "wxid_m_0001", "wxid_m_0002", "wxid_m_0003")
    assert room.display_names == {"wxid_li": "小李"}
    generated = [contact for contact in scenario.contacts if contact.id.startswith("wxid_m_")]
    assert [(c.id, c.name, c.friend) for c in generated][0] == ("wxid_m_0001", "成员1", False)
    assert scenario.activities == [{"room": ROOM_ID, "passphrase": "报名", "capacity": 3}]
    assert scenario.tasks == [{"kind": "daily", "at": "09:00", "text": "早上好"}]


def test_scenario_derives_mentions() -> None:
    scenario = parse_scenario(SCENARIO, "inline.toml")

    by_text = {message.text: message.mention_ids for message in scenario.messages}
    assert by_text["@活动助手 报名"] == (BOT_ID,)
    # @小李 is wxid_li's display name in the room.
    assert by_text["我也报名 @小李"] == ("wxid_li",)
    assert by_text["报名"] == ()


def test_scenario_timeline_order() -> None:
    scenario = parse_scenario(SCENARIO, "inline.toml")

    order = [
        (item.text if isinstance(item, ScenarioMessage) else item.kind, item.at)
        for item in scenario.timeline()
    ]
    assert order == [
        ("@活动助手 报名", 0.5),
        ("报名", 1.0),
        ("报名", 1.2),
        ("room-join", 2.0),
        ("我也报名 @小李", 2.0),
        ("查积分", 3.0),
        ("room-leave", 4.0),
    ]


async def test_play_speed_zero_in_order() -> None:
    scenario = parse_scenario(SCENARIO, "inline.toml")
    puppet = build_puppet(scenario)
    bot = await start_bot(puppet)
    seen: list[Delivery] = []
    try:
        deliveries = await play(puppet, scenario, speed=0, on_event=seen.append, drain_each=True)

        assert seen == deliveries
        assert len(deliveries) == 7
        # The repeated msg-dup-1 is emitted twice but wechaty drops the second copy.
        assert [msg.text() for msg in bot.messages] == ["@活动助手 报名", "报名", "我也报名 @小李", "查积分"]
        assert bot.messages[0].payload.mention_ids == [BOT_ID]
        assert bot.joins == [(ROOM_ID, ["wxid_zhao"], "wxid_zhang")]
        assert bot.leaves == [(ROOM_ID, ["wxid_m_0002"], "wxid_m_0002")]
        assert "wxid_m_0002" not in await puppet.room_members(ROOM_ID)
        assert puppet.listener_errors == []
    finally:
        await stop_bot(bot, puppet)


async def test_play_with_positive_speed() -> None:
    scenario = parse_scenario(SCENARIO, "inline.toml")
    puppet = build_puppet(scenario, echo_own_messages=False)
    bot = await start_bot(puppet)
    try:
        deliveries = await play(puppet, scenario, speed=1000)

        assert [delivery.item.at for delivery in deliveries] == [0.5, 1.0, 1.2, 2.0, 2.0, 3.0, 4.0]
        assert deliveries[1].message_id == "msg-dup-1"
        assert len(bot.messages) == 4
    finally:
        await stop_bot(bot, puppet)


async def test_play_rejects_negative_speed() -> None:
    scenario = parse_scenario(SCENARIO, "inline.toml")
    with pytest.raises(ValueError, match="speed"):
        await play(build_puppet(scenario), scenario, speed=-1)


def test_describe_delivery_in_chinese() -> None:
    scenario = parse_scenario(SCENARIO, "inline.toml")
    timeline = scenario.timeline()

    assert (
        describe_delivery(Delivery(timeline[0], "id"), scenario) == "[0.5s] 周末读书会 | 张三: @活动助手 报名"
    )
    assert describe_delivery(Delivery(timeline[3]), scenario) == "[2s] 周末读书会 | 张三 邀请 赵六 加入了群聊"
    assert describe_delivery(Delivery(timeline[6]), scenario) == "[4s] 周末读书会 | 成员2 退出了群聊"


def test_load_scenario_from_file(tmp_path: Path) -> None:
    path = tmp_path / "demo.toml"
    path.write_text(SCENARIO, encoding="utf-8")

    scenario = load_scenario(path)

    assert scenario.source == str(path)
    assert len(scenario.messages) == 5


def test_load_scenario_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="cannot read scenario file"):
        load_scenario(tmp_path / "missing.toml")


BOT_AND_ROOM = """
[bot]
id = "wxid_repe_bot"
name = "活动助手"

[[contacts]]
id = "wxid_zhang"
name = "张三"

[[contacts]]
id = "wxid_li"
name = "李四"

[[rooms]]
id = "demo@chatroom"
topic = "周末读书会"
members = ["wxid_zhang"]
"""

SCENARIO_ERRORS = [
    ("invalid TOML", "[bot\n", "invalid TOML"),
    ("missing bot", '[[contacts]]\nid = "wxid_a"\nname = "甲"\n', "has no [bot] table"),
    ("unknown top key", BOT_AND_ROOM + "[setting]\nx = 1\n", "top level.setting: unknown key"),
    (
        "unknown message key",
        BOT_AND_ROOM
        + '[[messages]]\nat = 1\nfrom = "wxid_zhang"\nroom = "demo@chatroom"\ntext = "hi"\nmention = []\n',
        "messages[0].mention: unknown key",
    ),
    (
        "unknown talker",
        BOT_AND_ROOM
        + '[[messages]]\nat = 1\nfrom = "wxid_zhang"\ntext = "a"\n'
        + '[[messages]]\nat = 2\nfrom = "wxid_x"\ntext = "b"\n',
        "messages[1].from: 'wxid_x' is not a known contact",
    ),
    (
        "negative time",
        BOT_AND_ROOM + '[[messages]]\nat = -1\nfrom = "wxid_zhang"\ntext = "hi"\n',
        "messages[0].at: must be 0 or more seconds",
    ),
    (
        "room id without at sign",
        BOT_AND_ROOM + '[[rooms]]\nid = "room2"\ntopic = "二群"\n',
        "rooms[1].id: 'room2' must contain '@'",
    ),
    (
        "contact id with at sign",
        BOT_AND_ROOM + '[[contacts]]\nid = "x@chatroom"\nname = "某"\n',
        "contacts[2].id: 'x@chatroom' contains '@'",
    ),
    (
        "talker not a member",
        BOT_AND_ROOM + '[[messages]]\nat = 1\nfrom = "wxid_li"\nroom = "demo@chatroom"\ntext = "hi"\n',
        "messages[0].from: talker 'wxid_li' is not a member",
    ),
    (
        "message after leave",
        BOT_AND_ROOM
        + '[[events]]\nat = 1\nkind = "room-leave"\nroom = "demo@chatroom"\ncontacts = ["wxid_zhang"]\n'
        + '[[messages]]\nat = 2\nfrom = "wxid_zhang"\nroom = "demo@chatroom"\ntext = "还在吗"\n',
        "messages[0].from: talker 'wxid_zhang' is not a member",
    ),
    (
        "unknown event kind",
        BOT_AND_ROOM + '[[events]]\nat = 1\nkind = "room-kick"\n',
        "events[0].kind: unknown event kind 'room-kick'",
    ),
    (
        "unknown message type",
        BOT_AND_ROOM + '[[messages]]\nat = 1\nfrom = "wxid_zhang"\ntext = "a"\ntype = "gif"\n',
        "messages[0].type: unknown message type 'gif'",
    ),
    (
        "xml without xml body",
        BOT_AND_ROOM + '[[messages]]\nat = 1\nfrom = "wxid_zhang"\ntext = "plain"\ntype = "xml"\n',
        'messages[0].text: type "xml" needs an XML body',
    ),
    (
        "mentions in private chat",
        BOT_AND_ROOM
        + '[[messages]]\nat = 1\nfrom = "wxid_zhang"\ntext = "a"\nmentions = ["wxid_repe_bot"]\n',
        "messages[0].mentions: works only in a room",
    ),
    (
        "activities not an array",
        BOT_AND_ROOM + '[activities]\nroom = "demo@chatroom"\n',
        "activities: must be an array of tables",
    ),
    (
        "generate_members count",
        BOT_AND_ROOM
        + '[[rooms]]\nid = "b@chatroom"\ntopic = "b"\ngenerate_members = { count = 0, prefix = "m" }\n',
        "rooms[1].generate_members.count: must be a whole number",
    ),
]


@pytest.mark.parametrize(
    ("text", "expected"), [case[1:] for case in SCENARIO_ERRORS], ids=[c[0] for c in SCENARIO_ERRORS]
)
def test_scenario_error_names_key(text: str, expected: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(text, "bad.toml")

    message = str(caught.value)
    assert message.startswith("bad.toml: ")
    assert expected in message


def test_scenario_error_is_value_error() -> None:
    assert issubclass(ScenarioError, ValueError)


def test_ambiguous_mention_is_rejected() -> None:
    text = (
        BOT_AND_ROOM.replace('name = "李四"', 'name = "张三"').replace(
            'members = ["wxid_zhang"]', 'members = ["wxid_zhang", "wxid_li"]'
        )
        + '[[messages]]\nat = 1\nfrom = "wxid_zhang"\nroom = "demo@chatroom"\ntext = "@张三 你好"\n'
    )

    with pytest.raises(ScenarioError, match=r"messages\[0\]\.text: @张三 matches several members"):
        parse_scenario(text, "bad.toml")


def test_documented_example_is_valid() -> None:
    doc = DOC_PATH.read_text(encoding="utf-8")
    blocks = re.findall(r"```toml\n(.*?)```", doc, flags=re.DOTALL)
    assert blocks, "docs/scenario-format.md has no ```toml example"

    scenario = parse_scenario(blocks[0], str(DOC_PATH))

    assert scenario.messages
    assert scenario.events
