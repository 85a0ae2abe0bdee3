"""python-wechaty against the mock gateway over the real puppet-service gRPC protocol.

Each test starts ``tests/gateway/server.mjs`` through :class:`GatewayHarness`
and connects the real ``Wechaty`` class to it on 127.0.0.1. The tests skip when
``node`` is missing and fail when node is present but the npm packages are not
installed. The failure-case tests pin down how python-wechaty 0.10.7 behaves,
because the runtime's error handling is built on that behaviour.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import socket
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from repe_bot.adapter import compat
from tests import gateway_harness
from tests.gateway_harness import (
    CONTACTS,
    ROOM_ID,
    SELF_ID,
    GatewayError,
    GatewayHarness,
    GatewayNotInstalledError,
    free_loopback_port,
    node_available,
    port_open,
)

compat.apply()

from wechaty import Wechaty, WechatyOptions  # noqa: E402
from wechaty.user.contact import Contact  # noqa: E402
from wechaty.user.message import Message  # noqa: E402
from wechaty.user.room import Room  # noqa: E402
from wechaty.user.tag import Tag  # noqa: E402
from wechaty_puppet import PuppetOptions, WechatyPuppetError  # noqa: E402

pytestmark = pytest.mark.skipif(
    not node_available(), reason="node is not on PATH; the gateway harness needs Node.js"
)

# Upper bound for every wait on the bot. Local round trips take milliseconds,
# and python-wechaty's own retry sleeps 60 s, so a hit means a real failure.
WAIT_SECONDS = 10.0

# python-wechaty 0.10.7 logs this at ERROR before it sleeps 60 s and restarts.
RETRY_LOG_TEXT = "The network is not good"


class RecordingHandler(logging.Handler):
    """Logging handler that keeps every record, for loggers with propagate=False."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def messages(self, level: int = logging.DEBUG) -> list[str]:
        return [record.getMessage() for record in self.records if record.levelno >= level]


class RecordingBot(Wechaty):
    """A real Wechaty whose event callbacks push into asyncio queues."""

    def __init__(self, options: WechatyOptions) -> None:
        super().__init__(options)
        self.logins: asyncio.Queue[Contact] = asyncio.Queue()
        self.logouts: asyncio.Queue[Contact] = asyncio.Queue()
        self.messages: asyncio.Queue[Message] = asyncio.Queue()
        self.room_joins: asyncio.Queue[tuple[Room, list[Contact], Contact]] = asyncio.Queue()
        self.start_task: asyncio.Task[None] | None = None

    def start_in_background(self) -> None:
        """Run start() as a task, because it returns only when the event stream ends."""
        self.start_task = asyncio.create_task(self.start())

    async def on_login(self, contact: Contact) -> None:
        await self.logins.put(contact)

    async def on_logout(self, contact: Contact) -> None:
        await self.logouts.put(contact)

    async def on_message(self, msg: Message) -> None:
        await self.messages.put(msg)

    async def on_room_join(self, room: Room, invitees: list[Contact], inviter: Contact, date: Any) -> None:
        await self.room_joins.put((room, invitees, inviter))


def clear_wechaty_pools() -> None:
    """Drop the Contact, Room and Tag objects cached by earlier Wechaty instances.

    python-wechaty 0.10.7 keeps these pools in class attributes of the base
    classes, shared by every Wechaty instance in the process, and a cached
    object stays bound to the puppet of the instance that loaded it.
    """
    Contact._pool.clear()
    Room._pool.clear()
    Tag._pool.clear()


def make_bot(token: str, endpoint: str) -> RecordingBot:
    options = WechatyOptions(
        puppet="wechaty-puppet-service",
        puppet_options=PuppetOptions(token=token, end_point=endpoint),
        # The plugin web server must not take a fixed port or listen beyond loopback.
        host="127.0.0.1",
        port=free_loopback_port(),
    )
    return RecordingBot(options)


async def cancel_start_task(bot: RecordingBot) -> None:
    task = bot.start_task
    if task is None:
        return
    bot.start_task = None
    task.cancel()
    try:
        await asyncio.wait_for(task, WAIT_SECONDS)
    except asyncio.CancelledError:
        pass
    except Exception as error:  # noqa: BLE001  (teardown must not hide the test's own failure)
        logging.getLogger(__name__).warning("bot start() task ended with %r", error)


async def shutdown_bot(bot: RecordingBot) -> None:
    """Cancel the start() task, stop the puppet and the plugin scheduler, all bounded in time."""
    await cancel_start_task(bot)

    if bot._puppet is not None:
        try:
            await asyncio.wait_for(bot.stop(), WAIT_SECONDS)
        except Exception as error:  # noqa: BLE001
            logging.getLogger(__name__).warning("bot.stop() failed: %r", error)

    scheduler = bot._plugin_manager.scheduler
    if scheduler.running:
        scheduler.shutdown(wait=False)


async def next_item(queue: asyncio.Queue[Any], description: str) -> Any:
    try:
        return await asyncio.wait_for(queue.get(), WAIT_SECONDS)
    except asyncio.TimeoutError:
        pytest.fail(f"no {description} within {WAIT_SECONDS} s")


async def next_message_matching(bot: RecordingBot, text: str) -> Message:
    """Return the next received message whose text equals ``text``, skipping others."""
    while True:
        msg = await next_item(bot.messages, f"message {text!r}")
        if msg.text() == text:
            return msg


async def wait_for_log(handler: RecordingHandler, text: str, level: int = logging.DEBUG) -> None:
    for _ in range(int(WAIT_SECONDS / 0.05)):
        if any(text in message for message in handler.messages(level)):
            return
        await asyncio.sleep(0.05)
    pytest.fail(f"no log message containing {text!r} within {WAIT_SECONDS} s; got {handler.messages(level)}")


@pytest.fixture(autouse=True)
def fresh_wechaty_pools() -> Iterator[None]:
    clear_wechaty_pools()
    yield
    clear_wechaty_pools()


@pytest.fixture
def gateway() -> Iterator[GatewayHarness]:
    with GatewayHarness() as harness:
        yield harness


@pytest.fixture
def wechaty_log() -> Iterator[RecordingHandler]:
    """Records the ``Wechaty`` logger, which python-wechaty sets to propagate=False."""
    handler = RecordingHandler()
    logger = logging.getLogger("Wechaty")
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)


@pytest.fixture
async def logged_in_bot(gateway: GatewayHarness) -> AsyncIterator[RecordingBot]:
    bot = make_bot(gateway.token, gateway.endpoint)
    bot.start_in_background()
    try:
        await next_item(bot.logins, "login event")
        yield bot
    finally:
        await shutdown_bot(bot)


# ------------------------------------------------------------------ harness


def test_harness_reports_missing_node_modules(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    monkeypatch.setattr(gateway_harness, "GATEWAY_DIR", tmp_path)

    with pytest.raises(GatewayNotInstalledError, match="npm ci --ignore-scripts --prefix tests/gateway"):
        GatewayHarness().start()


def test_harness_stop_ends_process(gateway: GatewayHarness) -> None:
    port = gateway.port
    assert gateway.running()
    assert port_open(port)

    gateway.stop()

    assert not gateway.running()
    assert not port_open(port)


def test_harness_rejects_say_before_login(gateway: GatewayHarness) -> None:
    with pytest.raises(GatewayError, match="not logged in"):
        gateway.say("alice", "太早了", room=ROOM_ID)


def test_harness_rejects_unknown_room(gateway: GatewayHarness) -> None:
    with pytest.raises(GatewayError, match="unknown room id"):
        gateway.room_join("no_such_room@chatroom", ["alice"])


# ------------------------------------------------------------------ happy path


async def test_bot_logs_in_as_scenario_self(gateway: GatewayHarness) -> None:
    bot = make_bot(gateway.token, gateway.endpoint)
    bot.start_in_background()
    try:
        contact = await next_item(bot.logins, "login event")

        assert contact.contact_id == SELF_ID
        assert bot.user_self().contact_id == SELF_ID
    finally:
        await shutdown_bot(bot)


async def test_room_message_reaches_on_message(gateway: GatewayHarness, logged_in_bot: RecordingBot) -> None:
    message_id = await gateway.say_async("alice", "签到 晨跑", room=ROOM_ID, mentions=[SELF_ID])

    msg = await next_message_matching(logged_in_bot, "签到 晨跑")

    room = msg.room()
    assert room is not None
    assert room.room_id == ROOM_ID
    assert msg.talker().contact_id == "alice"
    assert msg.talker().name == CONTACTS["alice"]
    assert msg.message_id == message_id
    assert [contact.contact_id for contact in await msg.mention_list()] == [SELF_ID]


async def test_direct_message_reaches_on_message(
    gateway: GatewayHarness, logged_in_bot: RecordingBot
) -> None:
    await gateway.say_async("bob", "我的积分")

    msg = await next_message_matching(logged_in_bot, "我的积分")

    assert msg.room() is None
    assert msg.talker().contact_id == "bob"


async def test_room_say_records_mention_ids(gateway: GatewayHarness, logged_in_bot: RecordingBot) -> None:
    room = logged_in_bot.Room.load(ROOM_ID)
    await room.ready()

    sent_message = await asyncio.wait_for(room.say("x", mention_ids=["alice", "bob"]), WAIT_SECONDS)

    records = gateway.sent()
    assert len(records) == 1
    record = records[0]
    assert record["conversation_id"] == ROOM_ID
    assert record["mention_ids"] == ["alice", "bob"]
    # python-wechaty joins "@name" per mentioned contact with U+2005, then a space and the text.
    assert record["text"] == f"@{CONTACTS['alice']}\u2005@{CONTACTS['bob']} x"
    assert isinstance(record["time_ms"], int)
    assert sent_message is not None
    assert sent_message.message_id == record["message_id"]


async def test_own_message_echo_has_self_talker(gateway: GatewayHarness, logged_in_bot: RecordingBot) -> None:
    room = logged_in_bot.Room.load(ROOM_ID)
    await room.ready()

    await asyncio.wait_for(room.say("活动已开始"), WAIT_SECONDS)
    echo = await next_message_matching(logged_in_bot, "活动已开始")

    assert echo.talker().contact_id == SELF_ID
    assert echo.is_self()
    assert echo.message_id == gateway.sent()[-1]["message_id"]


async def test_room_join_reaches_on_room_join(gateway: GatewayHarness, logged_in_bot: RecordingBot) -> None:
    await asyncio.to_thread(gateway.room_join, ROOM_ID, ["carol"], "alice")

    room, invitees, inviter = await next_item(logged_in_bot.room_joins, "room-join event")

    assert room.room_id == ROOM_ID
    assert [contact.contact_id for contact in invitees] == ["carol"]
    assert inviter.contact_id == "alice"


async def test_scenario_script_runs_after_login() -> None:
    scenario = copy.deepcopy(gateway_harness.DEFAULT_SCENARIO)
    scenario["script"] = [{"after_ms": 0, "from": "bob", "room": ROOM_ID, "text": "脚本消息"}]

    async with GatewayHarness(scenario) as scripted_gateway:
        bot = make_bot(scripted_gateway.token, scripted_gateway.endpoint)
        bot.start_in_background()
        try:
            msg = await next_message_matching(bot, "脚本消息")

            assert msg.talker().contact_id == "bob"
        finally:
            await shutdown_bot(bot)


# ------------------------------------------------------------------ failure cases


async def test_wrong_token_start_returns_without_login(
    gateway: GatewayHarness, capsys: pytest.CaptureFixture[str]
) -> None:
    bot = make_bot("wrong-token", gateway.endpoint)
    try:
        # Wechaty.start() catches the UNAUTHENTICATED GRPCError, prints it to stdout and returns.
        await asyncio.wait_for(bot.start(), WAIT_SECONDS)

        assert bot.logins.empty()
        assert not bot.started
        assert bot.puppet.login_user_id is None
        assert "UNAUTHENTICATED" in capsys.readouterr().out
    finally:
        await shutdown_bot(bot)


def test_closed_port_stops_event_loop() -> None:
    """Wechaty.start() calls loop.stop() when the endpoint refuses connections.

    python-wechaty raises WechatyPuppetConfigurationError from its port check,
    catches it as WechatyPuppetError, prints the traceback and stops the running
    loop, so the caller's run_until_complete() raises RuntimeError. The test
    uses its own loop so that the stop cannot reach pytest's loop.
    """
    closed_endpoint = f"127.0.0.1:{free_loopback_port()}"
    loop = asyncio.new_event_loop()
    try:
        bot = loop.run_until_complete(_make_bot_in_loop("any-token", closed_endpoint))

        with pytest.raises(RuntimeError, match="Event loop stopped before Future completed"):
            loop.run_until_complete(asyncio.wait_for(bot.start(), WAIT_SECONDS))

        assert bot.logins.empty()
        assert not bot.started
    finally:
        pending = asyncio.all_tasks(loop)
        for task in pending:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.close()


async def _make_bot_in_loop(token: str, endpoint: str) -> RecordingBot:
    return make_bot(token, endpoint)


async def test_tls_mismatch_enters_sixty_second_retry(wechaty_log: RecordingHandler) -> None:
    async with GatewayHarness(tls=True) as tls_gateway:
        bot = make_bot(tls_gateway.token, tls_gateway.endpoint)
        bot.start_in_background()
        try:
            # A plaintext HTTP/2 client against a TLS server gets StreamTerminatedError,
            # which Wechaty.start() handles with the retry log and asyncio.sleep(60).
            await wait_for_log(wechaty_log, RETRY_LOG_TEXT, logging.ERROR)

            assert bot.start_task is not None
            assert not bot.start_task.done()
            assert bot.logins.empty()
        finally:
            await shutdown_bot(bot)


async def test_gateway_restart_ends_stream_without_logout(
    gateway: GatewayHarness, logged_in_bot: RecordingBot, wechaty_log: RecordingHandler
) -> None:
    await gateway.restart_async()

    # The event stream ends with StreamTerminatedError, and python-wechaty only
    # logs the retry message and sleeps 60 s before its own restart().
    await wait_for_log(wechaty_log, RETRY_LOG_TEXT, logging.ERROR)

    assert logged_in_bot.start_task is not None
    assert not logged_in_bot.start_task.done()
    assert logged_in_bot.logouts.empty()
    with pytest.raises(GatewayError, match="not logged in"):
        await gateway.say_async("alice", "网关重启后", room=ROOM_ID)


async def test_new_bot_works_after_gateway_restart(
    gateway: GatewayHarness, logged_in_bot: RecordingBot
) -> None:
    await gateway.restart_async()
    await shutdown_bot(logged_in_bot)
    clear_wechaty_pools()

    fresh_bot = make_bot(gateway.token, gateway.endpoint)
    fresh_bot.start_in_background()
    try:
        contact = await next_item(fresh_bot.logins, "login event after gateway restart")
        await gateway.say_async("alice", "重连成功", room=ROOM_ID)
        msg = await next_message_matching(fresh_bot, "重连成功")
        room = msg.room()
        assert room is not None
        await asyncio.wait_for(room.say("收到"), WAIT_SECONDS)

        assert contact.contact_id == SELF_ID
        assert msg.talker().contact_id == "alice"
        assert gateway.sent()[-1]["text"] == "收到"
    finally:
        await shutdown_bot(fresh_bot)


async def test_room_pool_outlives_stopped_bot(gateway: GatewayHarness, logged_in_bot: RecordingBot) -> None:
    """A Room cached by a stopped Wechaty is returned to the next one and cannot send."""
    stale_room = logged_in_bot.Room.load(ROOM_ID)
    await stale_room.ready()
    await shutdown_bot(logged_in_bot)

    next_bot = make_bot(gateway.token, gateway.endpoint)
    next_bot.start_in_background()
    try:
        await next_item(next_bot.logins, "login event of the second bot")
        room = next_bot.Room.load(ROOM_ID)

        assert room is stale_room
        with pytest.raises(WechatyPuppetError, match="puppet_stub should not be none"):
            await asyncio.wait_for(room.say("发不出去"), WAIT_SECONDS)
    finally:
        await shutdown_bot(next_bot)


async def test_same_bot_restart_skips_on_login(
    gateway: GatewayHarness, logged_in_bot: RecordingBot, wechaty_log: RecordingHandler
) -> None:
    """A second start() on one Wechaty object never calls on_login.

    The login listener starts the plugin scheduler again, APScheduler raises
    "Scheduler is already running", and python-wechaty logs it as an internal
    error. This is also what its own restart after the 60 s sleep runs into.
    """
    await gateway.restart_async()
    await wait_for_log(wechaty_log, RETRY_LOG_TEXT, logging.ERROR)
    bot = logged_in_bot
    await cancel_start_task(bot)
    await asyncio.wait_for(bot.stop(), WAIT_SECONDS)

    bot.start_in_background()
    await wait_for_log(wechaty_log, "Scheduler is already running", logging.ERROR)

    assert bot.logins.empty()


def test_free_loopback_port_is_bindable() -> None:
    port = free_loopback_port()

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", port))
