"""In-process puppet that simulates one logged-in WeChat account for demos and tests.

:class:`SimulatorPuppet` implements the ``wechaty_puppet.Puppet`` interface, so the real
``wechaty.Wechaty`` class runs on top of it unchanged::

    puppet = SimulatorPuppet("wxid_repe_bot", "活动助手")
    puppet.add_contact("wxid_zhang", "张三")
    puppet.add_room("demo@chatroom", "周末读书会", ["wxid_repe_bot", "wxid_zhang"])
    bot = Wechaty(WechatyOptions(puppet=puppet, host="127.0.0.1", port=free_port))
    await bot.start()
    await puppet.say("wxid_zhang", "@活动助手 报名", room_id="demo@chatroom",
                     mention_ids=["wxid_repe_bot"])
    await puppet.drain()
    assert puppet.sent[-1].conversation_id == "demo@chatroom"

The world (contacts, rooms, members, topics) lives in this object. The injection methods
(:meth:`SimulatorPuppet.say`, :meth:`SimulatorPuppet.room_join` and the others) change it as
a real account would see the change and then emit the puppet event that wechaty listens to.

Payload objects returned to wechaty are the live records of the world, not copies. wechaty
0.10.7 caches a ``Room`` payload once loaded and ``Room.ready(force_sync=True)`` does not
reload it, so sharing the records is what keeps membership and topic current in wechaty.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pyee.base import EventEmitter
from wechaty_puppet import (
    EventDongPayload,
    EventFriendshipPayload,
    EventLoginPayload,
    EventLogoutPayload,
    EventMessagePayload,
    EventReadyPayload,
    EventRoomInvitePayload,
    EventRoomJoinPayload,
    EventRoomLeavePayload,
    EventRoomTopicPayload,
    Puppet,
    WechatyPuppetError,
)
from wechaty_puppet.exceptions import WechatyPuppetOperationError, WechatyPuppetPayloadError
from wechaty_puppet.schemas.message import MessageQueryFilter
from wechaty_puppet.schemas.room import RoomQueryFilter
from wechaty_puppet.schemas.types import (
    ContactGender,
    ContactPayload,
    ContactType,
    FriendshipPayload,
    FriendshipType,
    MessagePayload,
    MessageType,
    PayloadType,
    RoomInvitationPayload,
    RoomMemberPayload,
    RoomPayload,
)

from repe_bot.adapter import compat

log = logging.getLogger(__name__)

Clock = Callable[[], "float | datetime"]


@dataclass
class SentMessage:
    """A text message that the bot sent through :meth:`SimulatorPuppet.message_send_text`."""

    conversation_id: str
    text: str
    mention_ids: list[str]
    sent_at_monotonic: float
    message_id: str = ""


def forget_delivered_message_ids() -> None:
    """Reset wechaty's process-global set of delivered message ids, as a new process would.

    wechaty 0.10.7 drops a ``message`` event whose id it has already seen in this process
    (``wechaty.utils.async_helper.SingleIdContainer``) before ``on_message`` runs. A test
    that restarts the bot and expects a repeated id to reach the bot's own duplicate check
    calls this between the two runs.
    """
    compat.apply()
    from wechaty.utils.async_helper import SingleIdContainer

    SingleIdContainer._instance = None


def clear_wechaty_object_pools(keep_puppet: Puppet | None = None) -> int:
    """Remove cached wechaty objects bound to other puppets; see :func:`compat.clear_wechaty_object_pools`."""
    return compat.clear_wechaty_object_pools(keep_puppet)


def _to_epoch_seconds(value: float | datetime) -> float:
    if isinstance(value, datetime):
        return value.timestamp()
    return float(value)


class SimulatorPuppet(Puppet):
    """A wechaty puppet whose account, contacts and rooms live in memory.

    Event listeners that wechaty registers with :meth:`on` run as asyncio tasks, like the
    listeners of a real puppet. :meth:`drain` waits for them. An exception raised by a
    listener is logged with its traceback and kept in :attr:`listener_errors`.
    """

    def __init__(
        self,
        self_id: str,
        self_name: str,
        *,
        echo_own_messages: bool = True,
        clock: Clock | None = None,
        monotonic: Callable[[], float] | None = None,
    ) -> None:
        """Create a logged-out account ``self_id`` named ``self_name``.

        ``clock`` returns the current time as epoch seconds or an aware ``datetime`` and
        stamps messages and room events; it defaults to ``time.time``. ``monotonic`` stamps
        :attr:`SentMessage.sent_at_monotonic` and defaults to ``time.monotonic``.
        """
        super().__init__(name="simulator")
        _check_contact_id(self_id, "self_id")
        self._self_id = self_id
        self.echo_own_messages = echo_own_messages
        self._clock: Clock = clock or time.time
        self._monotonic = monotonic or time.monotonic

        self._emitter = EventEmitter()
        self._pending_tasks: set[asyncio.Future[Any]] = set()
        self._started = False
        self._logged_in = False

        self._contacts: dict[str, ContactPayload] = {}
        self._rooms: dict[str, RoomPayload] = {}
        # room id -> member ids, mirroring RoomPayload.member_ids for constant-time membership checks
        self._room_member_sets: dict[str, set[str]] = {}
        # room id -> contact id -> display name in that room (群昵称)
        self._room_display_names: dict[str, dict[str, str]] = {}
        # room id -> contact id -> id of the member who invited them
        self._room_inviters: dict[str, dict[str, str]] = {}
        self._messages: dict[str, MessagePayload] = {}
        self._friendships: dict[str, FriendshipPayload] = {}
        self._room_invitations: dict[str, RoomInvitationPayload] = {}
        # invitation id -> id of the room it invites the bot into
        self._invitation_room_ids: dict[str, str] = {}

        self._sends_to_fail = 0
        self._send_failure: BaseException | type[BaseException] | None = None

        self.sent: list[SentMessage] = []
        """Messages sent successfully, oldest first."""
        self.failed_sends: list[SentMessage] = []
        """Send attempts that :meth:`fail_next_sends` made raise."""
        self.listener_errors: list[BaseException] = []
        """Exceptions raised by event listeners, oldest first."""
        self.on_send: Callable[[SentMessage], None] | None = None
        """Optional callback run after each successful send, e.g. to print it in a console."""

        self._contacts[self_id] = ContactPayload(
            id=self_id, name=self_name, type=ContactType.CONTACT_TYPE_PERSONAL, friend=False
        )

    # ------------------------------------------------------------------ world building

    @property
    def bot_id(self) -> str:
        """Contact id of the simulated bot account, available before login unlike ``self_id()``."""
        return self._self_id

    @property
    def bot_name(self) -> str:
        """Nickname of the simulated bot account."""
        return self._contacts[self._self_id].name

    @property
    def started(self) -> bool:
        """Whether :meth:`start` ran and :meth:`stop` did not run since."""
        return self._started

    def add_contact(
        self,
        contact_id: str,
        name: str,
        alias: str = "",
        friend: bool = True,
        *,
        gender: ContactGender = ContactGender.CONTACT_GENDER_UNSPECIFIED,
        weixin: str = "",
        avatar: str = "",
        contact_type: ContactType = ContactType.CONTACT_TYPE_PERSONAL,
    ) -> ContactPayload:
        """Add a contact of the account. With ``friend=False`` it is a room member only.

        Raises ``ValueError`` for an invalid or duplicate id.
        """
        _check_contact_id(contact_id, "contact_id")
        if contact_id in self._contacts:
            raise ValueError(f"contact {contact_id!r} already exists; use a different id")
        payload = ContactPayload(
            id=contact_id,
            name=name,
            alias=alias,
            friend=friend,
            gender=gender,
            weixin=weixin,
            avatar=avatar,
            type=contact_type,
        )
        self._contacts[contact_id] = payload
        return payload

    def add_room(
        self,
        room_id: str,
        topic: str,
        member_ids: Iterable[str],
        owner_id: str | None = None,
        display_names: dict[str, str] | None = None,
    ) -> RoomPayload:
        """Add a room whose members are known contacts, the bot included if it is in the room.

        ``display_names`` maps member ids to their display name in this room (群昵称).
        Raises ``ValueError`` for an invalid or duplicate room id, an unknown or repeated
        member, or an owner or display name for someone who is not a member.
        """
        _check_room_id(room_id)
        if room_id in self._rooms:
            raise ValueError(f"room {room_id!r} already exists; use a different id")
        members = list(member_ids)
        seen: set[str] = set()
        for member_id in members:
            if member_id in seen:
                raise ValueError(f"room {room_id!r}: member {member_id!r} is listed twice")
            seen.add(member_id)
            self._require_contact(member_id, f"room {room_id!r} member")
        if owner_id is not None and owner_id not in seen:
            raise ValueError(f"room {room_id!r}: owner {owner_id!r} is not a member; add it to member_ids")
        names = dict(display_names or {})
        for member_id in names:
            if member_id not in seen:
                raise ValueError(
                    f"room {room_id!r}: display name given for {member_id!r}, who is not a member"
                )

        payload = RoomPayload(
            id=room_id,
            topic=topic,
            owner_id=owner_id or "",
            admin_ids=[owner_id] if owner_id else [],
            member_ids=members,
        )
        self._rooms[room_id] = payload
        self._room_member_sets[room_id] = set(members)
        self._room_display_names[room_id] = names
        self._room_inviters[room_id] = {}
        return payload

    def get_contact(self, contact_id: str) -> ContactPayload:
        """Return the live contact record, or raise ``KeyError`` for an unknown id."""
        return self._contacts[contact_id]

    def get_room(self, room_id: str) -> RoomPayload:
        """Return the live room record, or raise ``KeyError`` for an unknown id."""
        return self._rooms[room_id]

    def fail_next_sends(self, count: int, exc: BaseException | type[BaseException] | None = None) -> None:
        """Make the next ``count`` sends raise ``exc`` (default ``WechatyPuppetError``).

        A failed send is recorded in :attr:`failed_sends`, not in :attr:`sent`, and emits
        no echo. ``count=0`` cancels failures still pending.
        """
        if count < 0:
            raise ValueError(f"count must be 0 or more, got {count}")
        self._sends_to_fail = count
        self._send_failure = exc

    # ------------------------------------------------------------------ events and lifecycle

    def on(self, event_name: str, caller: Callable[..., Any]) -> None:
        """Register ``caller`` for the puppet event ``event_name``, as ``Wechaty`` does for each event."""
        self._emitter.on(event_name, caller)

    def listener_count(self, event_name: str) -> int:
        return len(self._emitter.listeners(event_name))

    async def start(self) -> None:
        """Log in and emit ``login`` then ``ready``. Calling it while started does nothing.

        The same object can be started again after :meth:`stop`, which is what
        ``Wechaty.restart()`` does.
        """
        if self._started:
            log.debug("simulator puppet %s is already started", self._self_id)
            return
        removed = clear_wechaty_object_pools(keep_puppet=self)
        if removed:
            log.debug("removed %d wechaty objects bound to another puppet", removed)
        self._started = True
        log.info("simulator puppet %s started", self._self_id)
        await self.login(self._self_id)
        self._emit("ready", EventReadyPayload(data="ready"))

    async def stop(self) -> None:
        """Log out without a ``logout`` event and remove every listener. A second call does nothing.

        Listeners are removed because ``Wechaty.start()`` registers its listeners again on
        the same puppet object, and keeping the old ones would deliver each event twice.
        Listener tasks still running keep running; :meth:`drain` waits for them.
        """
        if not self._started:
            return
        self._started = False
        self._logged_in = False
        self._emitter.remove_all_listeners()
        log.info("simulator puppet %s stopped", self._self_id)

    async def login(self, user_id: str) -> None:
        """Mark the account logged in and emit ``login``. ``user_id`` must be the bot's id."""
        if user_id != self._self_id:
            raise WechatyPuppetOperationError(
                f"this simulator is account {self._self_id!r} and cannot log in as {user_id!r}"
            )
        self._logged_in = True
        self._emit("login", EventLoginPayload(contact_id=self._self_id))

    async def logout(self) -> None:
        """Mark the account logged out and emit ``logout``, unless it is already logged out."""
        if not self._logged_in:
            return
        self._logged_in = False
        self._emit("logout", EventLogoutPayload(contact_id=self._self_id, data="logout"))

    def self_id(self) -> str:
        if not self._logged_in:
            raise WechatyPuppetOperationError(
                f"simulator account {self._self_id!r} is not logged in; start the puppet first"
            )
        return self._self_id

    async def ding(self, data: str | None = None) -> None:
        """Emit ``dong`` with ``data``, as a connected puppet replies to a ding."""
        self._emit("dong", EventDongPayload(data=data or ""))

    async def drain(self, timeout: float = 10.0) -> None:
        """Wait until every listener task started by an emitted event has finished.

        Tasks started while waiting, such as the echo of a reply, are waited for too. This
        covers wechaty's own listeners, which await ``on_message`` and the plugins. Handlers
        attached with ``bot.on(...)`` run as separate pyee tasks that this does not track.
        Raises ``TimeoutError`` when tasks are still running after ``timeout`` seconds.
        """
        current = asyncio.current_task()

        async def wait_for_pending() -> None:
            while True:
                pending = {task for task in self._pending_tasks if task is not current}
                if not pending:
                    return
                await asyncio.wait(pending)

        try:
            await asyncio.wait_for(wait_for_pending(), timeout)
        except asyncio.TimeoutError:
            raise TimeoutError(
                f"{len(self._pending_tasks)} puppet listener task(s) still running after {timeout} s"
            ) from None

    def _emit(self, event_name: str, payload: Any) -> None:
        listeners = list(self._emitter.listeners(event_name))
        log.debug("emit %s to %d listener(s): %s", event_name, len(listeners), payload)
        for listener in listeners:
            try:
                result = listener(payload)
            except Exception as error:  # noqa: BLE001 - a listener bug must not stop the others
                self._record_listener_error(event_name, error)
                continue
            if inspect.isawaitable(result):
                task = asyncio.ensure_future(result)
                self._pending_tasks.add(task)
                task.add_done_callback(functools.partial(self._finish_listener_task, event_name))

    def _finish_listener_task(self, event_name: str, task: asyncio.Future[Any]) -> None:
        self._pending_tasks.discard(task)
        if task.cancelled():
            return
        error = task.exception()
        if error is not None:
            self._record_listener_error(event_name, error)

    def _record_listener_error(self, event_name: str, error: BaseException) -> None:
        log.error("listener for puppet event %r raised %r", event_name, error, exc_info=error)
        self.listener_errors.append(error)

    # ------------------------------------------------------------------ injection: the world acts

    async def say(
        self,
        talker_id: str,
        text: str,
        room_id: str | None = None,
        mention_ids: Iterable[str] = (),
        message_id: str | None = None,
        message_type: MessageType = MessageType.MESSAGE_TYPE_TEXT,
        timestamp: float | None = None,
        to_id: str | None = None,
    ) -> str:
        """Deliver a message from ``talker_id`` to the bot and return its message id.

        With ``room_id`` the message is posted in that room and ``talker_id`` must be a
        member. Without it, it is a private message to the bot, or to ``to_id`` when the bot
        account itself is the talker (a message typed on the phone). Reusing a
        ``message_id`` emits the message again, as puppets deliver duplicates.
        ``timestamp`` is epoch seconds, stored as whole seconds like the gRPC puppet service.
        """
        self._require_logged_in("deliver a message")
        self._require_contact(talker_id, "talker")
        mentions = list(mention_ids)
        if room_id is not None:
            room = self._require_room(room_id)
            if talker_id not in room.member_ids:
                raise ValueError(
                    f"{talker_id!r} is not a member of room {room_id!r}; add them with room_join first"
                )
            if self._self_id not in room.member_ids:
                raise ValueError(
                    f"the bot is not a member of room {room_id!r}, so it cannot receive this message"
                )
            for mention_id in mentions:
                if mention_id not in room.member_ids:
                    raise ValueError(f"mentioned {mention_id!r} is not a member of room {room_id!r}")
            recipient_id = ""
        else:
            if mentions:
                raise ValueError("mention_ids need a room_id: private messages have no mentions")
            if talker_id == self._self_id:
                if to_id is None:
                    raise ValueError("a private message from the bot account needs to_id")
                self._require_contact(to_id, "recipient")
                recipient_id = to_id
            else:
                recipient_id = self._self_id

        payload = MessagePayload(
            id=message_id or _new_id("msg"),
            text=text,
            timestamp=int(timestamp if timestamp is not None else self._now()),
            type=message_type,
            from_id=talker_id,
            room_id=room_id or "",
            to_id=recipient_id,
            mention_ids=mentions,
        )
        self._deliver_message(payload)
        return payload.id

    async def room_join(
        self,
        room_id: str,
        invitee_ids: Iterable[str],
        inviter_id: str,
        timestamp: float | None = None,
    ) -> None:
        """Add known contacts to a room, invited by the member ``inviter_id``, and emit ``room-join``."""
        self._require_logged_in("deliver a room-join")
        room = self._require_room(room_id)
        invitees = list(invitee_ids)
        if not invitees:
            raise ValueError("room_join needs at least one invitee")
        for invitee_id in invitees:
            self._require_contact(invitee_id, "invitee")
            if invitee_id in room.member_ids:
                raise ValueError(f"{invitee_id!r} is already a member of room {room_id!r}")
        if inviter_id not in room.member_ids:
            raise ValueError(f"inviter {inviter_id!r} is not a member of room {room_id!r}")
        self._join(room, invitees, inviter_id, timestamp)

    async def room_leave(
        self,
        room_id: str,
        leaver_ids: Iterable[str],
        remover_id: str | None = None,
        timestamp: float | None = None,
        *,
        emit_event: bool = True,
    ) -> None:
        """Remove members from a room and emit ``room-leave``.

        ``remover_id`` defaults to the leaver when exactly one member leaves. Pass
        ``emit_event=False`` to model a member quitting by themselves, which WeChat does not
        announce to the room: membership changes but no event is emitted.
        """
        self._require_logged_in("deliver a room-leave")
        room = self._require_room(room_id)
        leavers = list(leaver_ids)
        if not leavers:
            raise ValueError("room_leave needs at least one leaver")
        for leaver_id in leavers:
            if leaver_id not in room.member_ids:
                raise ValueError(f"{leaver_id!r} is not a member of room {room_id!r}")
        if remover_id is None:
            if len(leavers) != 1:
                raise ValueError("room_leave with several leavers needs remover_id")
            remover_id = leavers[0]
        elif remover_id not in room.member_ids:
            raise ValueError(f"remover {remover_id!r} is not a member of room {room_id!r}")
        self._leave(room, leavers, remover_id, timestamp, emit_event=emit_event)

    async def room_topic_change(
        self, room_id: str, new_topic: str, changer_id: str, timestamp: float | None = None
    ) -> None:
        """Change a room's topic as member ``changer_id`` and emit ``room-topic``."""
        self._require_logged_in("deliver a room-topic")
        room = self._require_room(room_id)
        if changer_id not in room.member_ids:
            raise ValueError(f"changer {changer_id!r} is not a member of room {room_id!r}")
        self._change_topic(room, new_topic, changer_id, timestamp)

    async def friend_request(self, contact_id: str, hello: str = "") -> str:
        """Emit a received friend request from a known contact; returns the friendship id."""
        self._require_logged_in("deliver a friend request")
        self._require_contact(contact_id, "requester")
        if contact_id == self._self_id:
            raise ValueError("the bot account cannot send itself a friend request")
        payload = FriendshipPayload(
            id=_new_id("friendship"),
            contact_id=contact_id,
            hello=hello,
            type=FriendshipType.FRIENDSHIP_TYPE_RECEIVE,
        )
        self._friendships[payload.id] = payload
        self._emit("friendship", EventFriendshipPayload(friendship_id=payload.id))
        return payload.id

    async def room_invite(self, room_id: str, inviter_id: str, timestamp: float | None = None) -> str:
        """Emit an invitation for the bot to join ``room_id``; returns the invitation id.

        The room must exist and not contain the bot, and the inviter must be a member.
        Accepting it with ``room_invitation_accept`` adds the bot and emits ``room-join``.
        """
        self._require_logged_in("deliver a room invitation")
        room = self._require_room(room_id)
        if self._self_id in room.member_ids:
            raise ValueError(f"the bot is already a member of room {room_id!r}")
        if inviter_id not in room.member_ids:
            raise ValueError(f"inviter {inviter_id!r} is not a member of room {room_id!r}")
        payload = RoomInvitationPayload(
            id=_new_id("room-invitation"),
            inviter_id=inviter_id,
            topic=room.topic,
            member_count=len(room.member_ids),
            member_ids=list(room.member_ids),
            timestamp=int(timestamp if timestamp is not None else self._now()),
            receiver_id=self._self_id,
        )
        self._room_invitations[payload.id] = payload
        self._invitation_room_ids[payload.id] = room_id
        self._emit("room-invite", EventRoomInvitePayload(room_invitation_id=payload.id))
        return payload.id

    # ------------------------------------------------------------------ Puppet: messages

    async def message_send_text(
        self, conversation_id: str, message: str, mention_ids: list[str] | None = None
    ) -> str:
        """Record a text sent by the bot in :attr:`sent` and, if enabled, echo it as a ``message``.

        Raises ``WechatyPuppetOperationError`` when the account is logged out, is not in the
        room, or the private conversation is with a contact who is not a friend.
        """
        self._require_logged_in("send a message")
        if conversation_id in self._rooms:
            room = self._rooms[conversation_id]
            if self._self_id not in room.member_ids:
                raise WechatyPuppetOperationError(
                    f"cannot send to room {conversation_id!r}: the bot is not a member"
                )
        elif conversation_id not in self._contacts:
            raise WechatyPuppetPayloadError(f"conversation not found: {conversation_id!r}")
        elif conversation_id != self._self_id and not self._contacts[conversation_id].friend:
            # WeChat rejects private messages to someone who is not a friend of the account.
            raise WechatyPuppetOperationError(
                f"cannot send to {conversation_id!r}: not a friend of the bot account; "
                "message them in a shared room instead"
            )

        message_id = _new_id("sent")
        record = SentMessage(
            conversation_id=conversation_id,
            text=message,
            mention_ids=list(mention_ids or []),
            sent_at_monotonic=self._monotonic(),
            message_id=message_id,
        )
        if self._sends_to_fail > 0:
            self._sends_to_fail -= 1
            self.failed_sends.append(record)
            raise self._make_send_failure()
        self.sent.append(record)

        in_room = conversation_id in self._rooms
        payload = MessagePayload(
            id=message_id,
            text=message,
            timestamp=int(self._now()),
            type=MessageType.MESSAGE_TYPE_TEXT,
            from_id=self._self_id,
            room_id=conversation_id if in_room else "",
            to_id="" if in_room else conversation_id,
            mention_ids=list(record.mention_ids),
        )
        self._messages[message_id] = payload
        if self.on_send is not None:
            self.on_send(record)
        if self.echo_own_messages:
            self._emit("message", _message_event(payload))
        return message_id

    async def message_payload(self, message_id: str) -> MessagePayload:
        try:
            return self._messages[message_id]
        except KeyError:
            raise WechatyPuppetPayloadError(f"message not found: {message_id!r}") from None

    async def message_search(self, query: MessageQueryFilter | None = None) -> list[str]:
        """Return ids of the known messages whose set filter fields all match."""
        if query is None:
            return list(self._messages)
        matches = []
        for payload in self._messages.values():
            checks = [
                (query.id, payload.id),
                (query.from_id, payload.from_id),
                (query.room_id, payload.room_id),
                (query.to_id, payload.to_id),
                (query.text, payload.text),
                (query.type, payload.type),
            ]
            if all(expected is None or expected == actual for expected, actual in checks):
                matches.append(payload.id)
        return matches

    # ------------------------------------------------------------------ Puppet: contacts

    async def contact_list(self) -> list[str]:
        """Return the ids of all known contacts: friends, room members and the bot itself."""
        return list(self._contacts)

    async def contact_payload(self, contact_id: str) -> ContactPayload:
        try:
            return self._contacts[contact_id]
        except KeyError:
            raise WechatyPuppetPayloadError(f"contact not found: {contact_id!r}") from None

    async def contact_alias(self, contact_id: str, alias: str | None = None) -> str:
        """Return the contact's alias (备注), or set it when ``alias`` is given."""
        contact = await self.contact_payload(contact_id)
        if alias is not None:
            contact.alias = alias
        return contact.alias

    async def contact_payload_dirty(self, contact_id: str) -> None:
        """Do nothing: wechaty already holds the live record."""

    async def dirty_payload(self, payload_type: PayloadType, payload_id: str) -> None:
        """Do nothing: wechaty already holds the live record."""

    # ------------------------------------------------------------------ Puppet: friendships

    async def friendship_payload(
        self, friendship_id: str, payload: FriendshipPayload | None = None
    ) -> FriendshipPayload:
        if payload is not None:
            self._friendships[friendship_id] = payload
            return payload
        try:
            return self._friendships[friendship_id]
        except KeyError:
            raise WechatyPuppetPayloadError(f"friendship not found: {friendship_id!r}") from None

    async def friendship_accept(self, friendship_id: str) -> None:
        """Make the requester a friend; emits no event."""
        friendship = await self.friendship_payload(friendship_id)
        if friendship.type != FriendshipType.FRIENDSHIP_TYPE_RECEIVE:
            raise WechatyPuppetOperationError(
                f"friendship {friendship_id!r} is {friendship.type.name}; "
                "only received requests can be accepted"
            )
        self._contacts[friendship.contact_id].friend = True

    # ------------------------------------------------------------------ Puppet: rooms

    async def room_list(self) -> list[str]:
        """Return the ids of the rooms the bot is a member of."""
        return [room_id for room_id, room in self._rooms.items() if self._self_id in room.member_ids]

    async def room_search(self, query: RoomQueryFilter | None = None) -> list[str]:
        """Return the bot's rooms, filtered by exact ``id`` and ``topic`` when the query sets them."""
        room_ids = await self.room_list()
        if query is None:
            return room_ids
        return [
            room_id
            for room_id in room_ids
            if (query.id is None or query.id == room_id)
            and (query.topic is None or query.topic == self._rooms[room_id].topic)
        ]

    async def room_payload(self, room_id: str) -> RoomPayload:
        try:
            return self._rooms[room_id]
        except KeyError:
            raise WechatyPuppetPayloadError(f"room not found: {room_id!r}") from None

    async def room_members(self, room_id: str) -> list[str]:
        return list((await self.room_payload(room_id)).member_ids)

    async def room_member_payload(self, room_id: str, contact_id: str) -> RoomMemberPayload:
        await self.room_payload(room_id)
        if contact_id not in self._room_member_sets[room_id]:
            raise WechatyPuppetPayloadError(f"{contact_id!r} is not a member of room {room_id!r}")
        contact = self._contacts[contact_id]
        return RoomMemberPayload(
            id=contact_id,
            room_alias=self._room_display_names[room_id].get(contact_id, ""),
            inviter_id=self._room_inviters[room_id].get(contact_id, ""),
            avatar=contact.avatar,
            name=contact.name,
        )

    async def room_topic(self, room_id: str, new_topic: str) -> None:
        """Change the topic as the bot (``Room.topic(new_topic)``) and emit ``room-topic``."""
        self._require_logged_in("change a room topic")
        room = await self.room_payload(room_id)
        self._change_topic(room, new_topic, self._self_id, None)

    async def room_add(self, room_id: str, contact_id: str) -> None:
        """Invite a known contact into the room as the bot and emit ``room-join``."""
        self._require_logged_in("add a room member")
        await self.room_join(room_id, [contact_id], self._self_id)

    async def room_delete(self, room_id: str, contact_id: str) -> None:
        """Remove a member from the room as the bot and emit ``room-leave``."""
        self._require_logged_in("remove a room member")
        await self.room_leave(room_id, [contact_id], self._self_id)

    async def room_quit(self, room_id: str) -> None:
        """Leave the room as the bot and emit ``room-leave``."""
        self._require_logged_in("quit a room")
        await self.room_leave(room_id, [self._self_id], self._self_id)

    async def room_invitation_payload(
        self, room_invitation_id: str, payload: RoomInvitationPayload | None = None
    ) -> RoomInvitationPayload:
        if payload is not None:
            self._room_invitations[room_invitation_id] = payload
            return payload
        try:
            return self._room_invitations[room_invitation_id]
        except KeyError:
            raise WechatyPuppetPayloadError(f"room invitation not found: {room_invitation_id!r}") from None

    async def room_invitation_accept(self, room_invitation_id: str) -> None:
        """Add the bot to the invitation's room and emit ``room-join``."""
        self._require_logged_in("accept a room invitation")
        invitation = await self.room_invitation_payload(room_invitation_id)
        room_id = self._invitation_room_ids.get(room_invitation_id)
        if room_id is None:
            raise WechatyPuppetPayloadError(
                f"room invitation {room_invitation_id!r} was not created by room_invite"
            )
        room = self._rooms[room_id]
        if self._self_id in room.member_ids:
            return
        self._join(room, [self._self_id], invitation.inviter_id, None)

    # ------------------------------------------------------------------ internals

    def _deliver_message(self, payload: MessagePayload) -> None:
        self._messages[payload.id] = payload
        self._emit("message", _message_event(payload))

    def _join(
        self, room: RoomPayload, invitee_ids: list[str], inviter_id: str, timestamp: float | None
    ) -> None:
        room.member_ids.extend(invitee_ids)
        self._room_member_sets[room.id].update(invitee_ids)
        inviters = self._room_inviters[room.id]
        for invitee_id in invitee_ids:
            inviters[invitee_id] = inviter_id
        self._emit(
            "room-join",
            EventRoomJoinPayload(
                invited_ids=list(invitee_ids),
                inviter_id=inviter_id,
                room_id=room.id,
                timestamp=self._event_time(timestamp),
            ),
        )

    def _leave(
        self,
        room: RoomPayload,
        leaver_ids: list[str],
        remover_id: str,
        timestamp: float | None,
        *,
        emit_event: bool,
    ) -> None:
        for leaver_id in leaver_ids:
            room.member_ids.remove(leaver_id)
            self._room_member_sets[room.id].discard(leaver_id)
            self._room_display_names[room.id].pop(leaver_id, None)
            self._room_inviters[room.id].pop(leaver_id, None)
            if leaver_id in room.admin_ids:
                room.admin_ids.remove(leaver_id)
        if not emit_event:
            return
        self._emit(
            "room-leave",
            EventRoomLeavePayload(
                removed_ids=list(leaver_ids),
                remover_id=remover_id,
                room_id=room.id,
                timestamp=self._event_time(timestamp),
            ),
        )

    def _change_topic(
        self, room: RoomPayload, new_topic: str, changer_id: str, timestamp: float | None
    ) -> None:
        old_topic = room.topic
        room.topic = new_topic
        self._emit(
            "room-topic",
            EventRoomTopicPayload(
                changer_id=changer_id,
                new_topic=new_topic,
                old_topic=old_topic,
                room_id=room.id,
                timestamp=self._event_time(timestamp),
            ),
        )

    def _now(self) -> float:
        return _to_epoch_seconds(self._clock())

    def _event_time(self, timestamp: float | None) -> float:
        return float(timestamp) if timestamp is not None else self._now()

    def _make_send_failure(self) -> BaseException:
        failure = self._send_failure
        if failure is None:
            return WechatyPuppetError("simulated send failure")
        if isinstance(failure, type):
            return failure("simulated send failure")
        return failure

    def _require_logged_in(self, action: str) -> None:
        if not self._logged_in:
            raise WechatyPuppetOperationError(
                f"cannot {action}: simulator account {self._self_id!r} is not logged in; "
                "start the puppet (or the Wechaty bot) first"
            )

    def _require_contact(self, contact_id: str, role: str) -> ContactPayload:
        contact = self._contacts.get(contact_id)
        if contact is None:
            raise ValueError(f"{role} {contact_id!r} is not a known contact; add it with add_contact first")
        return contact

    def _require_room(self, room_id: str) -> RoomPayload:
        room = self._rooms.get(room_id)
        if room is None:
            raise ValueError(f"room {room_id!r} is not known; add it with add_room first")
        return room


def _message_event(payload: MessagePayload) -> EventMessagePayload:
    return EventMessagePayload(
        message_id=payload.id,
        type=payload.type.name,
        from_id=payload.from_id,
        text=payload.text,
        timestamp=float(payload.timestamp),
        room_id=payload.room_id,
        to_id=payload.to_id,
    )


def _new_id(kind: str) -> str:
    # Random ids stay unique across processes, so a restarted bot with a persistent
    # processed-message table never mistakes a new message for a duplicate.
    return f"sim-{kind}-{uuid.uuid4().hex[:16]}"


def _check_contact_id(contact_id: str, name: str) -> None:
    if not isinstance(contact_id, str) or not contact_id.strip():
        raise ValueError(f"{name} must be a non-empty string, got {contact_id!r}")
    if "@" in contact_id:
        raise ValueError(
            f"{name} {contact_id!r} contains '@', which marks room ids; contact ids look like 'wxid_zhang'"
        )


def _check_room_id(room_id: str) -> None:
    if not isinstance(room_id, str) or "@" not in room_id:
        raise ValueError(f"room id {room_id!r} must contain '@', like 'demo@chatroom'")


__all__ = [
    "SentMessage",
    "SimulatorPuppet",
    "clear_wechaty_object_pools",
    "forget_delivered_message_ids",
]
