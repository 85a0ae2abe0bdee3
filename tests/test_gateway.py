"""The bot runtime against the official Wechaty puppet-service gateway, over gRPC on 127.0.0.1.

``tests/gateway/server.mjs`` serves wechaty-puppet-mock through wechaty-puppet-service's
PuppetServer, so these tests run the real ``BotRuntime``, the real ``Wechaty`` class, the gRPC
client of wechaty-puppet-service and a real SQLite file. They skip when ``node`` is missing and
fail with the install command when the gateway's npm packages are missing.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from repe_bot.activities import ActivitySpec
from repe_bot.adapter.runtime import BotRuntime, BotStartError, run_bot, service_puppet
from repe_bot.config import Settings
from repe_bot.db.database import make_engine, session_scope, upgrade
from repe_bot.db.models import ActivityEntry, Contact, OutboxMessage, Room, RoomMember
from repe_bot.tasks import Target, TaskSpec
from tests.gateway_harness import (
    SELF_ID,
    SELF_NAME,
    GatewayHarness,
    free_loopback_port,
    node_available,
)
from tests.harness import fast_settings

pytestmark = pytest.mark.skipif(
    not node_available(), reason="node is not on PATH; the gateway tests need Node.js 20 or later"
)

REPO_ROOT = Path(__file__).resolve().parents[1]

RUN_ROOM = "room_run@chatroom"
RUN_TOPIC = "周末跑团"
BOOK_ROOM = "room_book@chatroom"
BOOK_TOPIC = "读书会"
MEMBER_COUNT = 60
OUTSIDER = "outsider"
PASSPHRASE = "报名"

# Generous bounds for things that take well under a second on a normal machine.
WAIT_SECONDS = 20.0
START_BOUND_SECONDS = 20.0


def member_id(index: int) -> str:
    return f"m{index:02d}"


def member_name(index: int) -> str:
    return f"队员{index:02d}"


MEMBERS = [member_id(index) for index in range(1, MEMBER_COUNT + 1)]

# Contact ids must not contain "@" and room ids must, because the mock routes ids by that character.
SCENARIO: dict[str, Any] = {
    "self": {"id": SELF_ID, "name": SELF_NAME},
    "contacts": [
        *({"id": member_id(index), "name": member_name(index)} for index in range(1, MEMBER_COUNT + 1)),
        {"id": OUTSIDER, "name": "路人甲"},
    ],
    "rooms": [
        {"id": RUN_ROOM, "topic": RUN_TOPIC, "members": MEMBERS, "owner": member_id(1)},
        {"id": BOOK_ROOM, "topic": BOOK_TOPIC, "members": MEMBERS[:3], "owner": member_id(2)},
    ],
}


def gateway_settings(db_path: Path, gateway: GatewayHarness, **overrides: Any) -> Settings:
    """Settings for a bot on ``gateway``: instant sending unless ``sending`` overrides it."""
    service = {
        "token": gateway.token,
        "endpoint": gateway.endpoint,
        "login_timeout_seconds": START_BOUND_SECONDS,
    }
    service.update(overrides.pop("service", {}))
    bot = {"puppet": "service", "service": service}
    tasks = {"poll_seconds": 0.2}
    tasks.update(overrides.pop("tasks", {}))
    return fast_settings(db_path, bot=bot, tasks=tasks, **overrides)


async def wait_until(condition: Callable[[], bool], description: str, timeout: float = WAIT_SECONDS) -> None:
    """Poll ``condition`` every 20 ms, and fail the test when it stays false for ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {description}")
        await asyncio.sleep(0.02)


class GatewayBot:
    """A ``BotRuntime`` on the gRPC puppet of one gateway, with its own SQLite file."""

    def __init__(self, gateway: GatewayHarness, settings: Settings) -> None:
        self.gateway = gateway
        self.settings = settings
        self.engine = make_engine(settings.database_url())
        upgrade(self.engine)
        self.runtime = BotRuntime(settings, service_puppet(settings), engine=self.engine, show_progress=False)
        self.logins: list[str] = []
        self._count_logins()
        self._sent_before = len(gateway.sent())

    def _count_logins(self) -> None:
        # Wechaty calls runtime.on_login on every login, including the one after a reconnect.
        original = self.runtime.on_login

        async def counting_on_login(contact: Any) -> None:
            self.logins.append(contact.contact_id)
            await original(contact)

        self.runtime.on_login = counting_on_login  # type: ignore[method-assign]

    async def start(self) -> GatewayBot:
        await asyncio.wait_for(self.runtime.start(login_timeout=START_BOUND_SECONDS), START_BOUND_SECONDS + 5)
        await self.wait_sync()
        return self

    async def wait_sync(self) -> None:
        if self.runtime.sync_task is not None:
            await asyncio.wait_for(asyncio.shield(self.runtime.sync_task), WAIT_SECONDS)

    async def stop(self) -> None:
        try:
            await asyncio.wait_for(self.runtime.stop(), 30)
        finally:
            self.engine.dispose()

    def sent(self) -> list[dict[str, Any]]:
        """Return the gateway's records of messages sent since this bot was created."""
        return self.gateway.sent()[self._sent_before:]

    @property
    def outcomes(self) -> Counter[str]:
        return self.runtime.outcomes

    async def wait_outcome(self, outcome: str, count: int) -> None:
        await wait_until(lambda: self.outcomes[outcome] >= count,
                         f"{count} {outcome!r} outcome(s); outcomes so far {dict(self.outcomes)}")

    async def settle(self) -> None:
        assert await self.runtime.wait_idle(timeout=WAIT_SECONDS), "the outbox did not drain"

    def now(self) -> datetime:
        return self.runtime.clock()

    def create_activity(self, **fields: Any) -> int:
        spec = ActivitySpec(**{"name": "晨跑打卡", "passphrase": PASSPHRASE, "room_wxid": RUN_ROOM, **fields})
        with session_scope(self.engine) as session:
            activity = self.runtime.service.activities.create(session, spec, self.now())
            assert activity.id is not None
            return activity.id

    def create_task(self, spec: TaskSpec) -> None:
        with session_scope(self.engine) as session:
            self.runtime.service.tasks.create(session, spec, self.now())

    def entry_ids(self, activity_id: int) -> list[str]:
        with session_scope(self.engine) as session:
            query = select(ActivityEntry.contact_wxid).where(ActivityEntry.activity_id == activity_id)
            return list(session.execute(query.order_by(ActivityEntry.id)).scalars())

    def outbox_statuses(self) -> Counter[str]:
        with session_scope(self.engine) as session:
            return Counter(session.execute(select(OutboxMessage.status)).scalars())

    def count(self, model: Any) -> int:
        with session_scope(self.engine) as session:
            return int(session.execute(select(func.count()).select_from(model)).scalar() or 0)


def confirmations(records: list[dict[str, Any]], conversation: str = RUN_ROOM) -> list[dict[str, Any]]:
    """Return the join confirmations among the gateway's sent records, single or merged."""
    return [r for r in records if r["conversation_id"] == conversation and "报名成功" in r["text"]]


# ------------------------------------------------------------------ fixtures


# One gateway serves the whole module, because starting Node takes over a second. Each test
# gets a fresh bot and database, and reads only the sends recorded after its bot started.
@pytest.fixture(scope="module")
def gateway() -> Iterator[GatewayHarness]:
    with GatewayHarness(SCENARIO) as harness:
        yield harness


@pytest.fixture(scope="module")
def tls_gateway() -> Iterator[GatewayHarness]:
    """A gateway serving TLS, which python-wechaty's insecure gRPC client cannot talk to."""
    with GatewayHarness(SCENARIO, tls=True) as harness:
        yield harness


BotFactory = Callable[..., Awaitable[GatewayBot]]


@pytest.fixture
async def start_bot(gateway: GatewayHarness, tmp_path: Path) -> AsyncIterator[BotFactory]:
    """Return a function that starts a bot on the gateway with settings overrides.

    Every bot it started is stopped when the test ends.
    """
    bots: list[GatewayBot] = []

    async def start(**overrides: Any) -> GatewayBot:
        settings = gateway_settings(tmp_path / f"bot{len(bots)}.db", gateway, **overrides)
        bot = GatewayBot(gateway, settings)
        bots.append(bot)
        return await bot.start()

    try:
        yield start
    finally:
        for bot in bots:
            await bot.stop()


@pytest.fixture
async def bot(start_bot: BotFactory) -> GatewayBot:
    return await start_bot()


# ------------------------------------------------------------------ login and sync


async def test_login_syncs_directory(bot: GatewayBot) -> None:
    report = bot.runtime.sync_report

    assert bot.runtime.service.bot_id == SELF_ID
    assert bot.logins == [SELF_ID]
    assert report is not None
    # The mock account's contact list includes the account itself.
    assert bot.count(Contact) == MEMBER_COUNT + 2
    assert bot.count(Room) == 2
    # The bot account is a member of every room.
    assert bot.count(RoomMember) == (MEMBER_COUNT + 1) + (3 + 1)
    assert (report.contacts, report.rooms, report.members) == (MEMBER_COUNT + 2, 2, MEMBER_COUNT + 5)


async def test_synced_room_has_topic(bot: GatewayBot) -> None:
    with session_scope(bot.engine) as session:
        topics = dict(session.execute(select(Room.wxid, Room.topic)).tuples().all())

    assert topics == {RUN_ROOM: RUN_TOPIC, BOOK_ROOM: BOOK_TOPIC}


# ------------------------------------------------------------------ messages


async def test_room_passphrase_joins_once(bot: GatewayBot, gateway: GatewayHarness) -> None:
    activity_id = bot.create_activity()
    await bot.settle()

    text = f"@{SELF_NAME}\u2005{PASSPHRASE}"
    await gateway.say_async(member_id(1), text, room=RUN_ROOM, mentions=[SELF_ID])
    await bot.wait_outcome("joined", 1)
    await bot.settle()

    assert bot.entry_ids(activity_id) == [member_id(1)]
    sent = confirmations(bot.sent())
    assert len(sent) == 1
    assert sent[0]["mention_ids"] == [member_id(1)]
    assert sent[0]["text"].startswith(f"@{member_name(1)} ")
    assert member_name(1) in sent[0]["text"].split("报名成功", 1)[1]


async def test_announcement_reaches_room(bot: GatewayBot, gateway: GatewayHarness) -> None:
    bot.create_activity(announcement="明早六点操场集合")
    await bot.settle()

    records = bot.sent()
    assert len(records) == 1
    assert records[0]["conversation_id"] == RUN_ROOM
    assert "明早六点操场集合" in records[0]["text"]
    assert PASSPHRASE in records[0]["text"]


async def test_own_echo_triggers_nothing(start_bot: BotFactory, gateway: GatewayHarness) -> None:
    # With this template the echo of the confirmation reads "@队员01 报名", which is the passphrase
    # once the mention is stripped, so only the self check keeps the bot from joining itself.
    bot = await start_bot(templates={"join_ok": PASSPHRASE})
    activity_id = bot.create_activity()
    await bot.settle()

    await gateway.say_async(member_id(1), PASSPHRASE, room=RUN_ROOM)
    await bot.wait_outcome("joined", 1)
    await bot.settle()
    # One echo for the announcement and one for the confirmation.
    await bot.wait_outcome("self", 2)
    await bot.settle()

    assert bot.outcomes["self"] == 2
    assert bot.outcomes["joined"] == 1
    assert bot.entry_ids(activity_id) == [member_id(1)]
    records = bot.sent()
    assert len(records) == 2
    assert records[1]["text"] == f"@{member_name(1)} {PASSPHRASE}"


async def test_private_passphrase_replies_privately(bot: GatewayBot, gateway: GatewayHarness) -> None:
    activity_id = bot.create_activity(name="私享读书", passphrase="私聊报名", room_wxid=None)

    await gateway.say_async(OUTSIDER, "私聊报名")
    await bot.wait_outcome("joined", 1)
    await bot.settle()

    assert bot.entry_ids(activity_id) == [OUTSIDER]
    records = bot.sent()
    assert len(records) == 1
    assert records[0]["conversation_id"] == OUTSIDER
    assert records[0]["mention_ids"] == []
    assert "报名成功" in records[0]["text"]


async def test_room_passphrase_ignored_privately(bot: GatewayBot, gateway: GatewayHarness) -> None:
    activity_id = bot.create_activity()
    await bot.settle()

    await gateway.say_async(member_id(2), PASSPHRASE)
    await bot.wait_outcome("ignored", 1)
    await bot.settle()

    assert bot.entry_ids(activity_id) == []
    assert len(bot.sent()) == 1  # the announcement only


async def test_scheduled_tasks_post_to_rooms(bot: GatewayBot, gateway: GatewayHarness) -> None:
    bot.create_task(TaskSpec(kind="now", text="读书会今晚停一次", targets=[Target("room", BOOK_ROOM)]))
    bot.create_task(TaskSpec(kind="once", text="夜跑八点操场集合", targets=[Target("room", RUN_ROOM)],
                             run_at=bot.now() + timedelta(seconds=1)))

    await wait_until(lambda: len(bot.sent()) >= 2, "both task messages at the gateway")
    await bot.settle()

    texts = [(record["conversation_id"], record["text"]) for record in bot.sent()]
    assert sorted(texts) == [(BOOK_ROOM, "读书会今晚停一次"), (RUN_ROOM, "夜跑八点操场集合")]


# ------------------------------------------------------------------ pacing

BURST_SIZE = 50
PER_MINUTE = 600
SPACING_SECONDS = 0.2


async def test_burst_coalesced_and_paced(start_bot: BotFactory, gateway: GatewayHarness) -> None:
    bot = await start_bot(sending={"per_minute": PER_MINUTE, "conversation_spacing_seconds": SPACING_SECONDS,
                                   "coalesce_seconds": 0.5})
    activity_id = bot.create_activity()
    await bot.settle()

    for index in range(1, BURST_SIZE + 1):
        await gateway.say_async(member_id(index), PASSPHRASE, room=RUN_ROOM)
    await bot.wait_outcome("joined", BURST_SIZE)
    await bot.settle()

    assert len(bot.entry_ids(activity_id)) == BURST_SIZE
    records = bot.sent()
    sent = confirmations(records)
    assert 1 <= len(sent) <= BURST_SIZE // 5, f"{len(sent)} confirmations for {BURST_SIZE} joins"
    mentions = Counter(wxid for record in sent for wxid in record["mention_ids"])
    assert mentions == Counter(MEMBERS[:BURST_SIZE])
    assert set(bot.outbox_statuses()) <= {"sent", "merged"}

    times = sorted(record["time_ms"] for record in records if record["conversation_id"] == RUN_ROOM)
    gaps = [later - earlier for earlier, later in zip(times[:-1], times[1:], strict=True)]
    assert min(gaps) >= SPACING_SECONDS * 1000, f"gaps between sends to one room (ms): {gaps}"
    all_times = sorted(record["time_ms"] for record in records)
    for start in all_times:
        in_window = [t for t in all_times if start <= t < start + 60_000]
        assert len(in_window) <= PER_MINUTE


# ------------------------------------------------------------------ gateway restart


async def test_gateway_restart_loses_no_outbox_row(start_bot: BotFactory, gateway: GatewayHarness) -> None:
    # The coalescing delay keeps the first confirmations queued while the gateway goes down, so
    # no send is in flight at that moment. The sender pauses until the watcher reconnects.
    bot = await start_bot(sending={"coalesce_seconds": 1.0, "retry_base_seconds": 0.5})
    activity_id = bot.create_activity()
    await bot.settle()

    for index in range(1, 6):
        await gateway.say_async(member_id(index), PASSPHRASE, room=RUN_ROOM)
    await bot.wait_outcome("joined", 5)
    restart = asyncio.create_task(gateway.restart_async(down_seconds=1.5))
    await wait_until(lambda: not bot.runtime.sender.online, "the bot to notice the gateway is down")
    bot.create_task(TaskSpec(kind="now", text="网关恢复后发送", targets=[Target("room", RUN_ROOM)]))
    await restart
    await wait_until(lambda: len(bot.logins) == 2, "the watcher to log in again")
    for index in range(6, 11):
        await gateway.say_async(member_id(index), PASSPHRASE, room=RUN_ROOM)
    await bot.wait_outcome("joined", 10)
    await bot.settle()

    assert sorted(bot.entry_ids(activity_id)) == MEMBERS[:10]
    assert set(bot.outbox_statuses()) <= {"sent", "merged"}
    assert bot.runtime.sender.online
    records = bot.sent()
    mentions = Counter(wxid for record in confirmations(records) for wxid in record["mention_ids"])
    assert mentions == Counter(MEMBERS[:10])
    texts = Counter(record["text"] for record in records)
    assert texts["网关恢复后发送"] == 1
    assert sum(1 for text in texts.elements() if text.startswith("【晨跑打卡】")) == 1


# ------------------------------------------------------------------ start failures


@contextlib.asynccontextmanager
async def stopped_on_exit(runtime: BotRuntime) -> AsyncIterator[BotRuntime]:
    try:
        yield runtime
    finally:
        # Bounded, because a runtime stuck in a gRPC call must not hang the test session.
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(runtime.stop(), 5)
        runtime.engine.dispose()


def failing_runtime(settings: Settings) -> BotRuntime:
    engine = make_engine(settings.database_url())
    upgrade(engine)
    return BotRuntime(settings, service_puppet(settings), engine=engine, show_progress=False)


async def test_wrong_token_raises_start_error(gateway: GatewayHarness, tmp_path: Path) -> None:
    settings = gateway_settings(tmp_path / "bot.db", gateway, service={"token": "wrong-token"})

    async with stopped_on_exit(failing_runtime(settings)) as runtime:
        with pytest.raises(BotStartError, match="the gateway rejected the token"):
            await asyncio.wait_for(runtime.start(), START_BOUND_SECONDS)


async def test_closed_port_raises_start_error(tmp_path: Path) -> None:
    endpoint = f"127.0.0.1:{free_loopback_port()}"
    settings = fast_settings(tmp_path / "bot.db", bot={"puppet": "service",
                                                       "service": {"token": "any", "endpoint": endpoint}})

    async with stopped_on_exit(failing_runtime(settings)) as runtime:
        with pytest.raises(BotStartError, match=f"gateway not reachable at {endpoint}"):
            await asyncio.wait_for(runtime.start(), START_BOUND_SECONDS)


async def test_tls_gateway_raises_start_error(tls_gateway: GatewayHarness, tmp_path: Path) -> None:
    settings = gateway_settings(tmp_path / "bot.db", tls_gateway)

    async with stopped_on_exit(failing_runtime(settings)) as runtime:
        with pytest.raises(BotStartError, match="WECHATY_PUPPET_SERVICE_NO_TLS_INSECURE_SERVER=true"):
            await asyncio.wait_for(runtime.start(), START_BOUND_SECONDS)


@contextlib.asynccontextmanager
async def silent_endpoint() -> AsyncIterator[str]:
    """Yield the endpoint of a TCP server that accepts connections and never sends a byte."""
    writers: list[asyncio.StreamWriter] = []

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    try:
        yield f"127.0.0.1:{server.sockets[0].getsockname()[1]}"
    finally:
        for writer in writers:
            writer.close()
        server.close()
        await server.wait_closed()


async def test_silent_endpoint_times_out(tmp_path: Path) -> None:
    """A port that accepts TCP but never responds to gRPC must end in the login timeout error.

    NOTE: fails while BotRuntime._stop_wechaty awaits Wechaty.stop() without a time limit. After
    the login timeout that gRPC stop call waits forever for a response, so start() never returns.
    """
    async with silent_endpoint() as endpoint:
        settings = fast_settings(tmp_path / "bot.db", bot={"puppet": "service",
                                                           "service": {"token": "any", "endpoint": endpoint}})

        async with stopped_on_exit(failing_runtime(settings)) as runtime:
            with pytest.raises(BotStartError, match="login timed out after 2 s"):
                await asyncio.wait_for(runtime.start(login_timeout=2), START_BOUND_SECONDS)


# ------------------------------------------------------------------ run_bot exit codes


# These tests are synchronous because run_bot calls asyncio.run. They run it on the main thread:
# from a worker thread, CPython 3.11.7 could format two tracebacks at once and fail with
# "SystemError: AST constructor recursion depth mismatch".


def test_run_bot_wrong_token_returns_one(gateway: GatewayHarness, tmp_path: Path) -> None:
    settings = gateway_settings(tmp_path / "bot.db", gateway, service={"token": "wrong-token"})

    assert run_bot(settings) == 1


def test_run_bot_closed_port_returns_one(gateway: GatewayHarness, tmp_path: Path) -> None:
    closed = f"127.0.0.1:{free_loopback_port()}"
    settings = gateway_settings(tmp_path / "bot.db", gateway, service={"endpoint": closed})

    assert run_bot(settings) == 1


def test_run_bot_tls_gateway_returns_one(tls_gateway: GatewayHarness, tmp_path: Path) -> None:
    settings = gateway_settings(tmp_path / "bot.db", tls_gateway)

    assert run_bot(settings) == 1


def test_run_bot_missing_token_returns_two(gateway: GatewayHarness, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WECHATY_PUPPET_SERVICE_TOKEN", raising=False)
    settings = gateway_settings(tmp_path / "bot.db", gateway, service={"token": ""})

    assert run_bot(settings) == 2


def test_cli_bot_run_wrong_token_exits_one(gateway: GatewayHarness, tmp_path: Path) -> None:
    config = tmp_path / "repe.toml"
    config.write_text(
        f'[database]\nurl = "sqlite:///{tmp_path / "bot.db"}"\n\n'
        f'[bot]\npuppet = "service"\nplugin_port = {free_loopback_port()}\n\n'
        f'[bot.service]\ntoken = "wrong-token"\nendpoint = "{gateway.endpoint}"\n',
        encoding="utf-8",
    )
    environment = {key: value for key, value in os.environ.items() if not key.startswith("WECHATY_")}
    environment["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), environment.get("PYTHONPATH")]))

    result = subprocess.run(
        [sys.executable, "-c", "from cli.main import main; main()", "--config", str(config), "bot", "run"],
        cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=60, check=False,
    )

    assert result.returncode == 1, result.stderr[-2000:]
    assert "the gateway rejected the token" in result.stderr + result.stdout



# ------------------------------------------------------------------ make demo-gateway


def test_gateway_demo_plays_bundled_scenario(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tests import gateway_demo

    database = tmp_path / "demo.db"

    code = gateway_demo.main(["--speed", "0", "--spacing", "0", "--db", str(database)])

    output = capsys.readouterr().out
    assert code == 0, output[-3000:]
    assert "报名成功" in output
    assert "账本校验通过" in output or "Ledger verified" in output
    engine = make_engine(f"sqlite:///{database}")
    try:
        with session_scope(engine) as session:
            statuses = Counter(session.execute(select(OutboxMessage.status)).scalars())
            joined = session.execute(select(func.count()).select_from(ActivityEntry)).scalar()
    finally:
        engine.dispose()
    # "cancelled": an announcement still queued when its activity was closed is never sent.
    assert set(statuses) <= {"sent", "merged", "cancelled"}
    assert joined
