"""The bot process: python-wechaty events in, domain calls, outbox sends out.

This package is the only place that imports wechaty. ``BotRuntime`` owns one ``Wechaty`` instance,
the message service, the sender loop and the housekeeping loop; ``run_bot`` is what
``repe bot run`` calls.
"""

from __future__ import annotations

import asyncio
import logging
import random
import signal
import socket
from collections import Counter
from datetime import datetime, timezone
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy import Engine

from repe_bot import directory, outbox
from repe_bot.adapter import compat
from repe_bot.adapter.sync import DirectorySync, SyncReport
from repe_bot.clock import Clock, utc_now
from repe_bot.config import Settings
from repe_bot.db.database import make_engine, session_scope, upgrade
from repe_bot.sender import PermanentSendError, Sender
from repe_bot.service import IncomingMessage, MessageService

compat.apply()

from wechaty import Contact, Friendship, Message, Room, RoomInvitation, Wechaty, WechatyOptions  # noqa: E402
from wechaty_puppet import FriendshipType, MessageType, Puppet, PuppetOptions  # noqa: E402

log = logging.getLogger(__name__)

compat.configure_wechaty_logging()

WECHATY_STOP_TIMEOUT_SECONDS = 5.0


class BotStartError(RuntimeError):
    """The bot could not log in: bad configuration, unreachable gateway, wrong token or TLS mismatch."""


def message_time(timestamp: Any) -> datetime | None:
    """Convert a puppet timestamp (seconds or milliseconds since the epoch) to UTC."""
    if not timestamp:
        return None
    value = float(timestamp)
    if value > 1e12:
        value /= 1000
    return datetime.fromtimestamp(value, tz=timezone.utc)


class _RepeWechaty(Wechaty):
    """Wechaty with its event hooks forwarded to the runtime."""

    def __init__(self, runtime: BotRuntime, options: WechatyOptions) -> None:
        super().__init__(options)
        self.runtime = runtime

    async def start(self) -> None:
        """Connect the puppet and, for the gRPC puppet, read its event stream until it ends.

        Unlike ``Wechaty.start`` in wechaty 0.10.7 this lets errors propagate: the original catches
        connection errors, sleeps 60 s and restarts, prints other errors, and on a configuration
        error stops the whole event loop. The runtime decides instead.
        """
        await self.init_puppet()
        await self.init_puppet_event_bridge(self.puppet)
        self.started = True
        await self.puppet.start()

    async def on_login(self, contact: Contact) -> None:
        await self.runtime.on_login(contact)

    async def on_logout(self, contact: Contact) -> None:
        log.warning("logged out: %s", contact.contact_id)

    async def on_message(self, msg: Message) -> None:
        await self.runtime.on_message(msg)

    async def on_room_join(self, room: Room, invitees: list[Contact], inviter: Contact, date: datetime) -> None:
        await self.runtime.on_room_join(room, invitees)

    async def on_room_leave(self, room: Room, leavers: list[Contact], remover: Contact, date: datetime) -> None:
        await self.runtime.on_room_leave(room, leavers)

    async def on_room_topic(self, room: Room, new_topic: str, old_topic: str, changer: Contact,
                            date: datetime) -> None:
        await self.runtime.on_room_topic(room, new_topic)

    async def on_friendship(self, friendship: Friendship) -> None:
        await self.runtime.on_friendship(friendship)

    async def on_room_invite(self, room_invitation: RoomInvitation) -> None:
        await self.runtime.on_room_invite(room_invitation)


def service_puppet(settings: Settings) -> Puppet:
    """Create the gRPC puppet; raise BotStartError unless both token and endpoint are configured.

    An explicit endpoint is required because wechaty-puppet-service 0.8.10 requests one from a
    public discovery host when it has only a token.
    """
    token = settings.bot.service.resolved_token()
    endpoint = settings.bot.service.resolved_endpoint()
    if not endpoint:
        raise BotStartError(
            "bot.service.endpoint is not set: give the gateway address (host:port) in the config "
            "or in WECHATY_PUPPET_SERVICE_ENDPOINT"
        )
    if not token:
        raise BotStartError(
            "bot.service.token is not set: give the gateway token in the config or in WECHATY_PUPPET_SERVICE_TOKEN"
        )
    parse_endpoint(endpoint)

    import wechaty_puppet_service

    compat.configure_wechaty_logging(secrets=[token])
    return wechaty_puppet_service.PuppetService(PuppetOptions(token=token, end_point=endpoint))


def parse_endpoint(endpoint: str) -> tuple[str, int]:
    """Split ``host:port``; raise BotStartError naming the value when it is not one."""
    host, _separator, port = endpoint.strip().rpartition(":")
    if not host or not port.isdigit() or not 1 <= int(port) <= 65535 or endpoint != endpoint.strip():
        raise BotStartError(
            f"invalid gateway endpoint {endpoint!r}: use host:port with a port from 1 to 65535, "
            "for example 127.0.0.1:8788"
        )
    return host, int(port)


def check_endpoint(endpoint: str, timeout: float = 3.0) -> None:
    """Raise BotStartError unless a TCP connection to ``host:port`` succeeds.

    wechaty-puppet-service 0.8.10 runs its own reachability check and, when it fails, wechaty
    stops the whole asyncio loop, so the runtime checks first and fails with a clear message.
    """
    host, port = parse_endpoint(endpoint)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except OSError as error:
        raise BotStartError(
            f"gateway not reachable at {endpoint}: {error.strerror or error}; check that the gateway "
            "is running and bot.service.endpoint is right"
        ) from None


def describe_start_error(error: BaseException) -> str:
    """Turn a puppet connection error into a message that names the likely fix."""
    text = str(error)
    name = type(error).__name__
    if "UNAUTHENTICATED" in text or "Invalid Wechaty TOKEN" in text:
        return "the gateway rejected the token: check bot.service.token or WECHATY_PUPPET_SERVICE_TOKEN"
    if name == "StreamTerminatedError":
        return (
            "the gateway closed the connection: if it runs with TLS, restart it with TLS disabled "
            "(WECHATY_PUPPET_SERVICE_NO_TLS_INSECURE_SERVER=true), because python-wechaty speaks insecure gRPC"
        )
    return f"{name}: {text}"


class BotRuntime:
    """One bot account: wechaty, the message service, the sender and the housekeeping loop."""

    def __init__(
        self,
        settings: Settings,
        puppet: Puppet,
        *,
        engine: Engine | None = None,
        clock: Clock = utc_now,
        rng: random.Random | None = None,
        show_progress: bool = True,
    ) -> None:
        self.settings = settings
        self.puppet = puppet
        self.clock = clock
        self.engine = engine or make_engine(settings.database_url(), settings.database.busy_timeout_ms)
        self.service = MessageService(self.engine, settings, clock=clock, rng=rng)
        _register_commands(self.service)
        self.sender = Sender(self.engine, settings.sending, self._send, clock=clock, rng=rng)
        self.show_progress = show_progress
        self.bot = self._new_wechaty()
        self._wechaty_task: asyncio.Task[None] | None = None
        self.outcomes: Counter[str] = Counter()
        self.sync_report: SyncReport | None = None
        self.sync_task: asyncio.Task[None] | None = None
        self._logged_in: asyncio.Event | None = None
        self._stop: asyncio.Event | None = None
        self._loops: list[asyncio.Task[None]] = []

    # -- lifecycle --------------------------------------------------------------------------------

    async def start(self, login_timeout: float | None = None) -> None:
        """Recover state, connect and log in, then start the sender and housekeeping loops.

        Raises BotStartError when the puppet fails or does not log in within ``login_timeout``.
        """
        timeout = login_timeout or self.settings.bot.service.login_timeout_seconds
        self._stop = asyncio.Event()
        log.info("bot starting: puppet=%s database=%s", type(self.puppet).__name__,
                 self.engine.url.render_as_string(hide_password=True))
        self.service.recover()

        await self._connect(timeout)

        self._loops = [
            asyncio.create_task(self.sender.run(self._stop), name="repe-sender"),
            asyncio.create_task(self._housekeeping_loop(self._stop), name="repe-housekeeping"),
        ]
        if self._streams_events:
            self._loops.append(asyncio.create_task(self._watch_connection(self._stop, timeout), name="repe-watch"))
        log.info("bot started as %s", self.service.bot_id)

    @property
    def _streams_events(self) -> bool:
        # The gRPC puppet's start() reads the event stream until the connection ends; the simulator's
        # returns at once.
        return type(self.puppet).__name__ == "PuppetService"

    def _new_wechaty(self) -> _RepeWechaty:
        compat.clear_wechaty_object_pools()
        return _RepeWechaty(
            self,
            WechatyOptions(
                name=self.settings.bot.name,
                puppet=self.puppet,
                host=self.settings.bot.plugin_host,
                port=self.settings.bot.plugin_port,
                # An in-memory scheduler: wechaty's default keeps plugin jobs in .wechaty/job.db
                # under the working directory, and repe-bot schedules its own tasks in its database.
                scheduler=AsyncIOScheduler(),
            ),
        )

    async def _connect(self, timeout: float) -> None:
        """Start a fresh Wechaty on the puppet and wait for its login."""
        if self._streams_events:
            check_endpoint(self.settings.bot.service.resolved_endpoint())
        self.bot = self._new_wechaty()
        self._logged_in = asyncio.Event()
        self._wechaty_task = asyncio.create_task(self.bot.start(), name="repe-wechaty")
        login = asyncio.create_task(self._logged_in.wait())
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        try:
            done, _pending = await asyncio.wait({login, self._wechaty_task}, timeout=timeout,
                                                return_when=asyncio.FIRST_COMPLETED)
            if login in done:
                return
            if self._wechaty_task in done:
                error = self._wechaty_task.exception()
                if error is not None:
                    raise BotStartError(describe_start_error(error)) from error
                if self._streams_events:
                    raise BotStartError(
                        "the gateway closed the connection before login: check the token "
                        "(bot.service.token or WECHATY_PUPPET_SERVICE_TOKEN)"
                    )
                await asyncio.wait_for(login, timeout=max(0.0, deadline - loop.time()))
                return
            raise asyncio.TimeoutError
        except asyncio.TimeoutError:
            await self._stop_wechaty()
            raise BotStartError(
                f"login timed out after {timeout:.0f} s: check the gateway endpoint and token, and that "
                "the gateway runs without TLS (WECHATY_PUPPET_SERVICE_NO_TLS_INSECURE_SERVER=true)"
            ) from None
        except BotStartError:
            await self._stop_wechaty()
            raise
        finally:
            login.cancel()

    async def _watch_connection(self, stop: asyncio.Event, timeout: float) -> None:
        """Reconnect with back-off when the gateway's event stream ends while the bot runs."""
        delay = 1.0
        while not stop.is_set():
            task = self._wechaty_task
            if task is None:
                return
            stopped = asyncio.create_task(stop.wait())
            await asyncio.wait({task, stopped}, return_when=asyncio.FIRST_COMPLETED)
            stopped.cancel()
            if stop.is_set():
                return
            error = task.exception() if not task.cancelled() else None
            reason = f"{type(error).__name__}: {error}" if error else "event stream ended"
            log.error("gateway connection lost (%s); reconnecting in %.0f s; unsent messages stay in the outbox",
                      reason, delay)
            self.sender.online = False
            await self._stop_wechaty()
            while not stop.is_set():
                try:
                    await asyncio.wait_for(stop.wait(), timeout=delay)
                    return
                except asyncio.TimeoutError:
                    pass
                try:
                    await self._connect(timeout)
                    log.info("gateway reconnected as %s", self.service.bot_id)
                    self.sender.online = True
                    self.sender.wake()
                    delay = 1.0
                    break
                except BotStartError as retry_error:
                    delay = min(delay * 2, 60.0)
                    log.error("reconnect failed: %s; next attempt in %.0f s", retry_error, delay)

    async def stop(self) -> None:
        """Stop the loops and wechaty; rows still in the outbox are sent after the next start."""
        log.info("bot stopping")
        if self._stop is not None:
            self._stop.set()
        if self.sync_task is not None and not self.sync_task.done():
            self.sync_task.cancel()
        for task in self._loops:
            try:
                await asyncio.wait_for(task, timeout=10)
            except asyncio.TimeoutError:
                log.error("loop %s did not stop within 10 s; cancelling it", task.get_name())
                task.cancel()
        self._loops = []
        await self._stop_wechaty()
        log.info("bot stopped: outcomes %s", dict(self.outcomes))

    async def _stop_wechaty(self) -> None:
        """Stop wechaty within bounded time, even when the gateway never replies to the stop call."""
        if self.bot.started:
            self.bot.started = False
            try:
                await asyncio.wait_for(self.bot.stop(), timeout=WECHATY_STOP_TIMEOUT_SECONDS)
            except asyncio.TimeoutError:
                log.warning("wechaty stop timed out after %.0f s; closing the gateway channel",
                            WECHATY_STOP_TIMEOUT_SECONDS)
                _close_channel(self.puppet)
            except Exception as error:  # noqa: BLE001 - stopping must not fail the caller
                log.warning("wechaty stop failed: %r", error)
        task = self._wechaty_task
        if task is not None and not task.done():
            task.cancel()
            try:
                await asyncio.wait_for(task, timeout=5)
            except (asyncio.CancelledError, asyncio.TimeoutError, Exception):  # noqa: BLE001
                pass
        self._wechaty_task = None

    async def wait_idle(self, timeout: float = 30.0) -> bool:
        """Wait until the outbox contains no pending or sending rows; return False on timeout."""
        deadline = asyncio.get_running_loop().time() + timeout
        while asyncio.get_running_loop().time() < deadline:
            with session_scope(self.engine) as session:
                counts = outbox.counts_by_status(session)
            if not counts.get(outbox.PENDING) and not counts.get(outbox.SENDING):
                return True
            self.sender.wake()
            await asyncio.sleep(0.05)
        return False

    async def _housekeeping_loop(self, stop: asyncio.Event) -> None:
        poll = self.settings.tasks.poll_seconds
        log.info("housekeeping started: polling every %.1f s", poll)
        while not stop.is_set():
            try:
                due = self.service.housekeeping()
                self.sender.wake()
                wait = poll
                if due is not None:
                    wait = min(poll, max(0.01, (due - self.clock()).total_seconds()))
            except Exception:  # noqa: BLE001 - the loop must outlive one failed round
                log.exception("housekeeping round failed; retrying in %.1f s", poll)
                wait = poll
            try:
                await asyncio.wait_for(stop.wait(), timeout=wait)
            except asyncio.TimeoutError:
                pass
        log.info("housekeeping stopped")

    # -- events -----------------------------------------------------------------------------------

    async def on_login(self, contact: Contact) -> None:
        name = contact.payload.name if contact.payload else ""
        self.service.set_self(contact.contact_id, name or "")
        log.info("logged in as %s (%s)", contact.contact_id, name)
        if self._logged_in is not None:
            self._logged_in.set()
        if self.settings.sync.on_login and (self.sync_task is None or self.sync_task.done()):
            self.sync_task = asyncio.create_task(self._full_sync(), name="repe-sync")

    async def _full_sync(self) -> None:
        sync = DirectorySync(
            self.puppet, self.engine, self.clock, concurrency=self.settings.sync.concurrency,
            batch_size=self.settings.sync.batch_size, show_progress=self.show_progress,
        )
        try:
            self.sync_report = await sync.run()
        except asyncio.CancelledError:
            log.info("sync cancelled")
            raise
        except Exception:  # noqa: BLE001 - a failed sync is retried at the next login
            log.exception("sync failed")

    def to_incoming(self, msg: Message) -> IncomingMessage:
        """Convert a wechaty message into an IncomingMessage, so no wechaty object reaches the domain."""
        payload = msg.payload
        talker_id = payload.from_id or ""
        talker_name = ""
        mention_ids = tuple(payload.mention_ids or ())
        mention_names: list[str] = []
        try:
            talker = self.bot.Contact.load(talker_id)
            if talker.payload is not None:
                talker_name = talker.payload.name or ""
            for mention_id in mention_ids:
                mentioned = self.bot.Contact.load(mention_id)
                if mentioned.payload is not None and mentioned.payload.name:
                    mention_names.append(mentioned.payload.name)
        except Exception as error:  # noqa: BLE001 - names are optional, ids are what count
            log.debug("message %s: contact names unavailable: %r", payload.id, error)
        return IncomingMessage(
            id=payload.id,
            talker_id=talker_id,
            text=payload.text or "",
            room_id=payload.room_id or None,
            talker_name=talker_name,
            mention_ids=mention_ids,
            mention_names=tuple(mention_names),
            timestamp=message_time(payload.timestamp),
            is_text=payload.type == MessageType.MESSAGE_TYPE_TEXT,
        )

    async def on_message(self, msg: Message) -> None:
        message_id = getattr(msg, "message_id", "?")
        try:
            incoming = self.to_incoming(msg)
            outcome = self.service.handle(incoming)
        except Exception:  # noqa: BLE001 - one bad message must never stop the listener
            self.outcomes["error"] += 1
            log.exception("message %s: handling failed", message_id)
            return
        self.outcomes[outcome] += 1
        if outcome not in ("ignored", "self", "not_text", "xml", "stale", "duplicate"):
            self.sender.wake()

    async def on_room_join(self, room: Room, invitees: list[Contact]) -> None:
        try:
            with session_scope(self.engine) as session:
                now = self.clock()
                ids = [c.contact_id for c in invitees]
                directory.upsert_rooms(session, [directory.RoomInfo(room.room_id, _topic(room))], now)
                directory.add_room_members(session, room.room_id, [directory.MemberInfo(i) for i in ids], now)
                directory.insert_missing_contacts(
                    session, [directory.ContactInfo(c.contact_id, _name(c)) for c in invitees], now
                )
                if self.service.bot_id in ids:
                    directory.set_room_active(session, room.room_id, True, now)
            log.info("room %s: %d member(s) joined", room.room_id, len(invitees))
        except Exception:  # noqa: BLE001
            log.exception("room-join in %s failed", room.room_id)

    async def on_room_leave(self, room: Room, leavers: list[Contact]) -> None:
        try:
            ids = [c.contact_id for c in leavers]
            with session_scope(self.engine) as session:
                now = self.clock()
                directory.remove_room_members(session, room.room_id, ids, now)
                if self.service.bot_id in ids:
                    directory.set_room_active(session, room.room_id, False, now)
            log.info("room %s: %d member(s) left", room.room_id, len(leavers))
        except Exception:  # noqa: BLE001
            log.exception("room-leave in %s failed", room.room_id)

    async def on_room_topic(self, room: Room, new_topic: str) -> None:
        try:
            with session_scope(self.engine) as session:
                directory.set_room_topic(session, room.room_id, new_topic, self.clock())
            log.info("room %s: topic changed", room.room_id)
        except Exception:  # noqa: BLE001
            log.exception("room-topic in %s failed", room.room_id)

    async def on_friendship(self, friendship: Friendship) -> None:
        try:
            kind = friendship.type()
            contact = friendship.contact()
            if kind == FriendshipType.FRIENDSHIP_TYPE_RECEIVE and self.settings.sync.auto_accept_friends:
                await friendship.accept()
                log.info("friend request from %s accepted", contact.contact_id)
            elif kind == FriendshipType.FRIENDSHIP_TYPE_RECEIVE:
                log.info("friend request from %s left for a person (auto-accept is off)", contact.contact_id)
            if kind == FriendshipType.FRIENDSHIP_TYPE_CONFIRM or (
                kind == FriendshipType.FRIENDSHIP_TYPE_RECEIVE and self.settings.sync.auto_accept_friends
            ):
                with session_scope(self.engine) as session:
                    directory.upsert_contacts(
                        session, [directory.ContactInfo(contact.contact_id, _name(contact), "", True)], self.clock()
                    )
        except Exception:  # noqa: BLE001
            log.exception("friendship %s failed", getattr(friendship, "friendship_id", "?"))

    async def on_room_invite(self, invitation: RoomInvitation) -> None:
        invitation_id = getattr(invitation, "invitation_id", "?")
        if not self.settings.sync.auto_accept_room_invites:
            log.info("room invitation %s left for a person (auto-accept is off)", invitation_id)
            return
        try:
            # wechaty 0.10.7's RoomInvitation.load() returns an object without a puppet, so
            # rebuild it through the bot's bound class before accepting.
            await self.bot.RoomInvitation(invitation.invitation_id).accept()
            log.info("room invitation %s accepted", invitation_id)
        except Exception:  # noqa: BLE001
            log.exception("room invitation %s failed", invitation_id)

    # -- sending ----------------------------------------------------------------------------------

    async def _send(self, batch: outbox.Batch) -> None:
        """Send one outbox batch through wechaty; mentions go as ids and wechaty writes the @names."""
        if batch.is_room:
            room = self.bot.Room.load(batch.conversation_wxid)
            await room.ready()
            await room.say(batch.text, mention_ids=batch.mention_ids or None)
        else:
            contact = self.bot.Contact.load(batch.conversation_wxid)
            await contact.ready()
            try:
                await contact.say(batch.text)
            except Exception as error:
                if contact.payload is not None and contact.payload.friend is False:
                    raise PermanentSendError(
                        f"{batch.conversation_wxid} is not a friend of the bot account, and WeChat delivers "
                        f"private messages only to friends: {error}"
                    ) from error
                raise


def _close_channel(puppet: Puppet) -> None:
    """Close a PuppetService's gRPC channel so calls stuck on a silent gateway end."""
    channel = getattr(puppet, "channel", None)
    if channel is not None:
        channel.close()
        puppet.channel = None  # type: ignore[attr-defined]
        puppet._puppet_stub = None  # type: ignore[attr-defined]


def _name(contact: Contact) -> str:
    return (contact.payload.name or "") if contact.payload else ""


def _topic(room: Room) -> str:
    return (room.payload.topic or "") if room.payload else ""


def _register_commands(service: MessageService) -> None:
    try:
        from repe_bot.commands import register_commands
    except ImportError:
        return
    register_commands(service)


async def _run_until_signal(runtime: BotRuntime) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(signum, stop.set)
        except (NotImplementedError, RuntimeError):
            pass
    await runtime.start()
    try:
        await stop.wait()
    finally:
        await runtime.stop()


def prepare_database(settings: Settings) -> Engine:
    engine = make_engine(settings.database_url(), settings.database.busy_timeout_ms)
    upgrade(engine)
    return engine


def configure_logging(level: int = logging.INFO) -> None:
    """Send repe-bot's log records to stderr with timestamps, unless the caller configured logging."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def run_bot(settings: Settings) -> int:
    """Run the bot until SIGINT or SIGTERM; return the process exit code."""
    configure_logging()
    engine = prepare_database(settings)
    if settings.bot.puppet == "simulator":
        from repe_bot.adapter.demo import run_scenario

        if not settings.bot.simulator.scenario:
            log.error("bot.simulator.scenario is empty: give a scenario file (the bundled demo is "
                      "repe_bot/scenarios/demo.toml), or set bot.puppet = \"service\"")
            return 2
        return run_scenario(settings, engine=engine)

    try:
        puppet = service_puppet(settings)
    except BotStartError as error:
        log.error("%s", error)
        return 2
    runtime = BotRuntime(settings, puppet, engine=engine)
    try:
        asyncio.run(_run_until_signal(runtime))
    except BotStartError as error:
        log.error("%s", error)
        return 1
    return 0
