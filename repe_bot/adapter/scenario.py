"""Scenario files: a simulated WeChat account, its contacts and rooms, and timed traffic.

A scenario is a TOML file, documented with an example in ``docs/scenario-format.md``.
:func:`load_scenario` reads and validates it, :func:`build_puppet` creates the
:class:`~repe_bot.adapter.simulator.SimulatorPuppet` world it describes, and :func:`play`
delivers its messages and events to that puppet at their times.

The loader checks every reference, including room membership along the timeline, so a
mistake is reported with its table, index and key before anything is played. The
``[[activities]]`` and ``[[tasks]]`` tables are kept as plain dicts for the bot runtime.
"""

from __future__ import annotations

import asyncio
import inspect
import math
import sys
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, NoReturn

from wechaty_puppet.schemas.types import MessageType

from repe_bot.adapter.simulator import Clock, SimulatorPuppet

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib


class ScenarioError(ValueError):
    """Error for an invalid scenario file. Its message names the file, the table and key, and the fix."""


# Scenario ``type`` names. "xml" models puppets that deliver app and quote messages as text
# whose body is the raw XML, so it is a text-type message and the body must be XML.
MESSAGE_TYPES: dict[str, MessageType] = {
    "text": MessageType.MESSAGE_TYPE_TEXT,
    "xml": MessageType.MESSAGE_TYPE_TEXT,
    "image": MessageType.MESSAGE_TYPE_IMAGE,
    "emoticon": MessageType.MESSAGE_TYPE_EMOTICON,
    "audio": MessageType.MESSAGE_TYPE_AUDIO,
    "video": MessageType.MESSAGE_TYPE_VIDEO,
    "attachment": MessageType.MESSAGE_TYPE_ATTACHMENT,
    "url": MessageType.MESSAGE_TYPE_URL,
    "mini-program": MessageType.MESSAGE_TYPE_MINI_PROGRAM,
    "recalled": MessageType.MESSAGE_TYPE_RECALLED,
    "unknown": MessageType.MESSAGE_TYPE_UNSPECIFIED,
}

EVENT_KINDS = ("room-join", "room-leave", "room-topic", "friendship", "room-invite")

MAX_GENERATED_MEMBERS = 100_000

_TOP_LEVEL_KEYS = (
    "title",
    "description",
    "bot",
    "contacts",
    "rooms",
    "messages",
    "events",
    "activities",
    "tasks",
)


@dataclass(frozen=True)
class BotSpec:
    id: str
    name: str
    admins: tuple[str, ...] = ()


@dataclass(frozen=True)
class ContactSpec:
    id: str
    name: str
    alias: str = ""
    friend: bool = True


@dataclass(frozen=True)
class RoomSpec:
    id: str
    topic: str
    member_ids: tuple[str, ...]
    owner_id: str | None = None
    display_names: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ScenarioMessage:
    """One ``[[messages]]`` entry; ``index`` is its position among them, from 0."""

    index: int
    at: float
    talker_id: str
    text: str
    room_id: str | None = None
    to_id: str | None = None
    mention_ids: tuple[str, ...] = ()
    message_id: str | None = None
    type_name: str = "text"

    @property
    def message_type(self) -> MessageType:
        return MESSAGE_TYPES[self.type_name]


@dataclass(frozen=True)
class ScenarioEvent:
    """One ``[[events]]`` entry; ``index`` is its position among them, from 0.

    ``actor_id`` is the inviter (room-join, room-invite), remover (room-leave), changer
    (room-topic) or requester (friendship). ``contact_ids`` are the members who join or leave.
    """

    index: int
    at: float
    kind: str
    room_id: str | None = None
    contact_ids: tuple[str, ...] = ()
    actor_id: str = ""
    topic: str = ""
    hello: str = ""
    silent: bool = False


ScenarioItem = ScenarioMessage | ScenarioEvent


@dataclass(frozen=True)
class Scenario:
    bot: BotSpec
    contacts: tuple[ContactSpec, ...]
    rooms: tuple[RoomSpec, ...]
    messages: tuple[ScenarioMessage, ...]
    events: tuple[ScenarioEvent, ...]
    activities: list[dict[str, Any]] = field(default_factory=list)
    tasks: list[dict[str, Any]] = field(default_factory=list)
    title: str = ""
    description: str = ""
    source: str = "<scenario>"

    def timeline(self) -> list[ScenarioItem]:
        """Return messages and events in delivery order.

        Items are ordered by ``at``. At equal times events come before messages, so a member
        who joins at 3.0 can speak at 3.0, and each kind keeps its order in the file.
        """
        items: list[ScenarioItem] = [*self.events, *self.messages]
        return sorted(items, key=_timeline_key)

    def contact_name(self, contact_id: str) -> str:
        """Return the nickname of the bot or a contact, or the id when it is unknown."""
        if contact_id == self.bot.id:
            return self.bot.name
        for contact in self.contacts:
            if contact.id == contact_id:
                return contact.name
        return contact_id

    def room_topic(self, room_id: str) -> str:
        """Return the initial topic of a room, or the id when it is unknown."""
        for room in self.rooms:
            if room.id == room_id:
                return room.topic
        return room_id


@dataclass(frozen=True)
class Delivery:
    """A scenario item that :func:`play` delivered; ``message_id`` is set for messages only."""

    item: ScenarioItem
    message_id: str | None = None


def _timeline_key(item: ScenarioItem) -> tuple[float, int, int]:
    return (item.at, 0 if isinstance(item, ScenarioEvent) else 1, item.index)


# ---------------------------------------------------------------------------- loading


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file, raising :class:`ScenarioError` on the first mistake."""
    file_path = Path(path)
    try:
        text = file_path.read_text(encoding="utf-8")
    except OSError as error:
        raise ScenarioError(f"{file_path}: cannot read scenario file: {error.strerror or error}") from error
    except UnicodeDecodeError as error:
        raise ScenarioError(f"{file_path}: scenario file is not valid UTF-8; save it as UTF-8") from error
    return parse_scenario(text, source=str(file_path))


def parse_scenario(text: str, source: str = "<scenario>") -> Scenario:
    """Parse and validate scenario TOML text. ``source`` names the text in error messages."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ScenarioError(f"{source}: invalid TOML: {error}") from error
    return _ScenarioParser(source).parse(data)


class _Table:
    """A TOML table being validated, with its location for error messages."""

    def __init__(self, parser: _ScenarioParser, location: str, data: Any) -> None:
        self.parser = parser
        self.location = location
        if not isinstance(data, dict):
            self.fail(f"must be a table, got {_describe(data)}")
        self.data: dict[str, Any] = data

    def fail(self, problem: str, key: str | None = None) -> NoReturn:
        where = f"{self.location}.{key}" if key else self.location
        raise ScenarioError(f"{self.parser.source}: {where}: {problem}")

    def check_keys(self, allowed: tuple[str, ...]) -> None:
        for key in self.data:
            if key not in allowed:
                self.fail(f"unknown key; allowed keys are {', '.join(allowed)}", key)

    def has(self, key: str) -> bool:
        return key in self.data

    def string(self, key: str, default: str | None = None, *, non_empty: bool = False) -> str:
        if key not in self.data:
            if default is None:
                self.fail(f'is missing; add it, e.g. {key} = "..."', key)
            return default
        value = self.data[key]
        if not isinstance(value, str):
            self.fail(f"must be a string in quotes, got {_describe(value)}", key)
        if non_empty and not value.strip():
            self.fail("must not be empty", key)
        return value

    def optional_string(self, key: str) -> str | None:
        if key not in self.data:
            return None
        return self.string(key, non_empty=True)

    def boolean(self, key: str, default: bool) -> bool:
        value = self.data.get(key, default)
        if not isinstance(value, bool):
            self.fail(f"must be true or false, got {_describe(value)}", key)
        return value

    def seconds(self, key: str) -> float:
        if key not in self.data:
            self.fail("is missing; add the time in seconds after login, e.g. at = 1.5", key)
        value = self.data[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.fail(f"must be a number of seconds, got {_describe(value)}", key)
        if not math.isfinite(value) or value < 0:
            self.fail(f"must be 0 or more seconds, got {value}", key)
        return float(value)

    def string_list(self, key: str, *, required: bool = False) -> list[str] | None:
        if key not in self.data:
            if required:
                self.fail(f'is missing; add a list of contact ids, e.g. {key} = ["wxid_zhang"]', key)
            return None
        value = self.data[key]
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            self.fail(f'must be a list of strings, e.g. ["wxid_zhang"], got {_describe(value)}', key)
        if len(set(value)) != len(value):
            self.fail("lists an id twice; remove the repeat", key)
        return list(value)


class _ScenarioParser:
    def __init__(self, source: str) -> None:
        self.source = source
        self.bot: BotSpec | None = None
        self.contacts: dict[str, ContactSpec] = {}
        self.rooms: dict[str, RoomSpec] = {}
        # Indexes of room messages without a mentions key, whose mentions come from @names.
        self.derived_mention_indexes: set[int] = set()

    def parse(self, data: dict[str, Any]) -> Scenario:
        root = _Table(self, "top level", data)
        root.check_keys(_TOP_LEVEL_KEYS)
        if "bot" not in data:
            root.fail('has no [bot] table; add [bot] with id = "wxid_..." and name = "..."')
        self.bot = self._parse_bot(_Table(self, "bot", data["bot"]))
        for index, entry in enumerate(self._array(data, "contacts")):
            self._parse_contact(_Table(self, f"contacts[{index}]", entry))
        for index, entry in enumerate(self._array(data, "rooms")):
            self._parse_room(_Table(self, f"rooms[{index}]", entry))
        messages = [
            self._parse_message(index, _Table(self, f"messages[{index}]", entry))
            for index, entry in enumerate(self._array(data, "messages"))
        ]
        events = [
            self._parse_event(index, _Table(self, f"events[{index}]", entry))
            for index, entry in enumerate(self._array(data, "events"))
        ]
        activities = [
            _Table(self, f"activities[{index}]", entry).data
            for index, entry in enumerate(self._array(data, "activities"))
        ]
        tasks = [
            _Table(self, f"tasks[{index}]", entry).data
            for index, entry in enumerate(self._array(data, "tasks"))
        ]

        scenario = Scenario(
            bot=self.bot,
            contacts=tuple(self.contacts.values()),
            rooms=tuple(self.rooms.values()),
            messages=tuple(messages),
            events=tuple(events),
            activities=activities,
            tasks=tasks,
            title=root.string("title", ""),
            description=root.string("description", ""),
            source=self.source,
        )
        return _TimelineChecker(self, scenario).check()

    def _array(self, data: dict[str, Any], key: str) -> list[Any]:
        value = data.get(key, [])
        if not isinstance(value, list):
            raise ScenarioError(
                f"{self.source}: {key}: must be an array of tables; write each entry as [[{key}]]"
            )
        return value

    def fail(self, location: str, problem: str) -> NoReturn:
        raise ScenarioError(f"{self.source}: {location}: {problem}")

    def _parse_bot(self, table: _Table) -> BotSpec:
        table.check_keys(("id", "name", "admins"))
        bot_id = table.string("id", non_empty=True)
        if "@" in bot_id:
            table.fail("contains '@', which marks room ids; use the bot's wxid, e.g. \"wxid_repe_bot\"", "id")
        admins = tuple(table.string_list("admins") or ())
        return BotSpec(id=bot_id, name=table.string("name", non_empty=True), admins=admins)

    def _parse_contact(self, table: _Table) -> None:
        table.check_keys(("id", "name", "alias", "friend"))
        contact_id = table.string("id", non_empty=True)
        self._check_new_contact_id(table, contact_id, "id")
        self.contacts[contact_id] = ContactSpec(
            id=contact_id,
            name=table.string("name"),
            alias=table.string("alias", ""),
            friend=table.boolean("friend", True),
        )

    def _check_new_contact_id(self, table: _Table, contact_id: str, key: str) -> None:
        assert self.bot is not None
        if "@" in contact_id:
            table.fail(
                f"{contact_id!r} contains '@', which marks room ids; contact ids look like \"wxid_zhang\"",
                key,
            )
        if contact_id == self.bot.id:
            table.fail(f"{contact_id!r} is the bot's id; the bot is described in [bot] only", key)
        if contact_id in self.contacts:
            table.fail(
                f"{contact_id!r} is already used by another contact; give each contact its own id", key
            )

    def _parse_room(self, table: _Table) -> None:
        assert self.bot is not None
        table.check_keys(
            ("id", "topic", "members", "owner", "display_names", "bot_is_member", "generate_members")
        )
        room_id = table.string("id", non_empty=True)
        if "@" not in room_id:
            table.fail(f"{room_id!r} must contain '@', like \"demo@chatroom\"", "id")
        if room_id in self.rooms:
            table.fail(f"{room_id!r} is already used by another room; give each room its own id", "id")

        members = table.string_list("members") or []
        for member_id in members:
            self._require_contact(table, "members", member_id, allow_bot=True)
        if table.boolean("bot_is_member", True) and self.bot.id not in members:
            members.insert(0, self.bot.id)
        if table.has("generate_members"):
            members.extend(self._generate_members(table, room_id))

        owner_id = table.optional_string("owner")
        if owner_id is not None and owner_id not in members:
            table.fail(f"{owner_id!r} is not a member of this room; add it to members", "owner")

        display_names: dict[str, str] = {}
        if table.has("display_names"):
            names_table = _Table(self, f"{table.location}.display_names", table.data["display_names"])
            for member_id in names_table.data:
                if member_id not in members:
                    names_table.fail(f"{member_id!r} is not a member of this room; add it to members")
                display_names[member_id] = names_table.string(member_id)

        self.rooms[room_id] = RoomSpec(
            id=room_id,
            topic=table.string("topic"),
            member_ids=tuple(members),
            owner_id=owner_id,
            display_names=display_names,
        )

    def _generate_members(self, room_table: _Table, room_id: str) -> list[str]:
        table = _Table(self, f"{room_table.location}.generate_members", room_table.data["generate_members"])
        table.check_keys(("count", "prefix", "name"))
        count = table.data.get("count")
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_GENERATED_MEMBERS:
            table.fail(
                f"must be a whole number from 1 to {MAX_GENERATED_MEMBERS}, got {_describe(count)}", "count"
            )
        prefix = table.string("prefix", non_empty=True)
        if "@" in prefix:
            table.fail("contains '@', which marks room ids; use a prefix like \"wxid_m\"", "prefix")
        name_template = table.string("name", "成员{n}", non_empty=True)
        assert self.bot is not None
        bot_id = self.bot.id

        width = max(4, len(str(count)))
        member_ids = []
        for number in range(1, count + 1):
            contact_id = f"{prefix}_{number:0{width}d}"
            if contact_id in self.contacts or contact_id == bot_id:
                table.fail(f"generated id {contact_id!r} is already a contact; use another prefix", "prefix")
            self.contacts[contact_id] = ContactSpec(
                id=contact_id, name=name_template.replace("{n}", str(number)), friend=False
            )
            member_ids.append(contact_id)
        return member_ids

    def _require_contact(self, table: _Table, key: str, contact_id: str, *, allow_bot: bool) -> None:
        assert self.bot is not None
        if contact_id == self.bot.id:
            if not allow_bot:
                table.fail(f"{contact_id!r} is the bot itself, which is not allowed here", key)
            return
        if contact_id not in self.contacts:
            table.fail(
                f"{contact_id!r} is not a known contact; add it as a [[contacts]] entry "
                "(before this table) or fix the id",
                key,
            )

    def _require_room(self, table: _Table, key: str) -> str:
        room_id = table.string(key, non_empty=True)
        if room_id not in self.rooms:
            table.fail(f"{room_id!r} is not a known room; add it as a [[rooms]] entry or fix the id", key)
        return room_id

    def _parse_message(self, index: int, table: _Table) -> ScenarioMessage:
        assert self.bot is not None
        table.check_keys(("at", "from", "room", "to", "text", "mentions", "id", "type"))
        at = table.seconds("at")
        talker_id = table.string("from", non_empty=True)
        self._require_contact(table, "from", talker_id, allow_bot=True)
        room_id = self._require_room(table, "room") if table.has("room") else None

        to_id = table.optional_string("to")
        if to_id is not None:
            if room_id is not None or talker_id != self.bot.id:
                table.fail(
                    "is only for a private message from the bot account; "
                    "a contact's private message always goes to the bot, so remove it",
                    "to",
                )
            self._require_contact(table, "to", to_id, allow_bot=False)
        elif room_id is None and talker_id == self.bot.id:
            table.fail(
                'a private message from the bot needs to = "<contact id>", or add room = "..."', "from"
            )

        type_name = table.string("type", "text")
        if type_name not in MESSAGE_TYPES:
            table.fail(f"unknown message type {type_name!r}; use one of {', '.join(MESSAGE_TYPES)}", "type")
        text = table.string("text", "" if type_name not in ("text", "xml") else None)
        if type_name == "xml" and not text.lstrip().startswith("<"):
            table.fail(
                'type "xml" needs an XML body starting with "<", e.g. "<msg><appmsg>...</appmsg></msg>"',
                "text",
            )

        mentions = table.string_list("mentions")
        if mentions is not None and room_id is None:
            table.fail('works only in a room; add room = "..." or remove mentions', "mentions")
        for mention_id in mentions or []:
            self._require_contact(table, "mentions", mention_id, allow_bot=True)

        if mentions is None and room_id is not None:
            self.derived_mention_indexes.add(index)
        return ScenarioMessage(
            index=index,
            at=at,
            talker_id=talker_id,
            text=text,
            room_id=room_id,
            to_id=to_id,
            mention_ids=tuple(mentions or ()),
            message_id=table.optional_string("id"),
            type_name=type_name,
        )

    def _parse_event(self, index: int, table: _Table) -> ScenarioEvent:
        kind = table.string("kind", non_empty=True)
        if kind not in EVENT_KINDS:
            table.fail(f"unknown event kind {kind!r}; use one of {', '.join(EVENT_KINDS)}", "kind")
        at = table.seconds("at")
        if kind == "room-join":
            table.check_keys(("at", "kind", "room", "contacts", "inviter"))
            return ScenarioEvent(
                index=index,
                at=at,
                kind=kind,
                room_id=self._require_room(table, "room"),
                contact_ids=self._event_contacts(table),
                actor_id=self._event_actor(table, "inviter"),
            )
        if kind == "room-leave":
            table.check_keys(("at", "kind", "room", "contacts", "remover", "silent"))
            contact_ids = self._event_contacts(table)
            if table.has("remover"):
                remover_id = self._event_actor(table, "remover")
            elif len(contact_ids) == 1:
                remover_id = contact_ids[0]
            else:
                table.fail('several members leave, so say who removed them with remover = "..."', "contacts")
            return ScenarioEvent(
                index=index,
                at=at,
                kind=kind,
                room_id=self._require_room(table, "room"),
                contact_ids=contact_ids,
                actor_id=remover_id,
                silent=table.boolean("silent", False),
            )
        if kind == "room-topic":
            table.check_keys(("at", "kind", "room", "topic", "changer"))
            return ScenarioEvent(
                index=index,
                at=at,
                kind=kind,
                room_id=self._require_room(table, "room"),
                actor_id=self._event_actor(table, "changer"),
                topic=table.string("topic"),
            )
        if kind == "friendship":
            table.check_keys(("at", "kind", "contact", "hello"))
            contact_id = table.string("contact", non_empty=True)
            self._require_contact(table, "contact", contact_id, allow_bot=False)
            return ScenarioEvent(
                index=index, at=at, kind=kind, actor_id=contact_id, hello=table.string("hello", "")
            )
        table.check_keys(("at", "kind", "room", "inviter"))
        return ScenarioEvent(
            index=index,
            at=at,
            kind=kind,
            room_id=self._require_room(table, "room"),
            actor_id=self._event_actor(table, "inviter"),
        )

    def _event_contacts(self, table: _Table) -> tuple[str, ...]:
        contact_ids = table.string_list("contacts", required=True) or []
        if not contact_ids:
            table.fail("is empty; list at least one contact id", "contacts")
        for contact_id in contact_ids:
            self._require_contact(table, "contacts", contact_id, allow_bot=True)
        return tuple(contact_ids)

    def _event_actor(self, table: _Table, key: str) -> str:
        actor_id = table.string(key, non_empty=True)
        self._require_contact(table, key, actor_id, allow_bot=True)
        return actor_id


class _TimelineChecker:
    """Checker that walks the timeline with the room memberships it implies.

    It rejects a message or event that no real account could see, such as a message from
    someone who already left the room, and fills in mentions derived from ``@name`` text.
    """

    def __init__(self, parser: _ScenarioParser, scenario: Scenario) -> None:
        self.parser = parser
        self.scenario = scenario
        self.members = {room.id: list(room.member_ids) for room in scenario.rooms}
        self.names = {contact.id: contact.name for contact in scenario.contacts}
        self.names[scenario.bot.id] = scenario.bot.name
        self.display_names = {room.id: dict(room.display_names) for room in scenario.rooms}
        # Rooms that invited the bot. The bot may accept at run time, so later messages there are allowed.
        self.invited_rooms: set[str] = set()

    def check(self) -> Scenario:
        resolved: dict[int, ScenarioMessage] = {}
        for item in self.scenario.timeline():
            if isinstance(item, ScenarioEvent):
                self._apply_event(item)
            else:
                resolved[item.index] = self._check_message(item)
        messages = tuple(resolved[message.index] for message in self.scenario.messages)
        return replace(self.scenario, messages=messages)

    def _fail(self, location: str, problem: str) -> NoReturn:
        self.parser.fail(location, problem)

    def _require_member(self, location: str, room_id: str, contact_id: str, role: str) -> None:
        if contact_id not in self.members[room_id]:
            self._fail(
                location,
                f"{role} {contact_id!r} is not a member of room {room_id!r} at this time; "
                "add them to the room's members or to an earlier room-join event",
            )

    def _apply_event(self, event: ScenarioEvent) -> None:
        location = f"events[{event.index}]"
        bot_id = self.scenario.bot.id
        if event.kind == "friendship":
            return
        assert event.room_id is not None
        members = self.members[event.room_id]
        if event.kind == "room-join":
            self._require_member(f"{location}.inviter", event.room_id, event.actor_id, "inviter")
            for contact_id in event.contact_ids:
                if contact_id in members:
                    self._fail(
                        f"{location}.contacts", f"{contact_id!r} is already a member of {event.room_id!r}"
                    )
            members.extend(event.contact_ids)
        elif event.kind == "room-leave":
            for contact_id in event.contact_ids:
                self._require_member(f"{location}.contacts", event.room_id, contact_id, "leaver")
            self._require_member(f"{location}.remover", event.room_id, event.actor_id, "remover")
            for contact_id in event.contact_ids:
                members.remove(contact_id)
                self.display_names[event.room_id].pop(contact_id, None)
        elif event.kind == "room-topic":
            self._require_member(f"{location}.changer", event.room_id, event.actor_id, "changer")
        else:  # room-invite
            if bot_id in members:
                self._fail(
                    f"{location}.room", f"the bot is already a member of {event.room_id!r} at this time"
                )
            self._require_member(f"{location}.inviter", event.room_id, event.actor_id, "inviter")
            self.invited_rooms.add(event.room_id)

    def _check_message(self, message: ScenarioMessage) -> ScenarioMessage:
        location = f"messages[{message.index}]"
        if message.room_id is None:
            return message
        self._require_member(f"{location}.from", message.room_id, message.talker_id, "talker")
        bot_id = self.scenario.bot.id
        if bot_id not in self.members[message.room_id] and message.room_id not in self.invited_rooms:
            self._fail(
                f"{location}.room",
                f"the bot is not a member of room {message.room_id!r} at this time, so it would not "
                "see this message; add the bot to the room or an earlier room-join or room-invite event",
            )
        if message.index in self.parser.derived_mention_indexes:
            return replace(message, mention_ids=self._derive_mentions(location, message))
        for mention_id in message.mention_ids:
            self._require_member(f"{location}.mentions", message.room_id, mention_id, "mentioned contact")
        return message

    def _derive_mentions(self, location: str, message: ScenarioMessage) -> tuple[str, ...]:
        assert message.room_id is not None
        members = self.members[message.room_id]
        ids_by_name: dict[str, set[str]] = {}
        for member_id in members:
            for name in (self.display_names[message.room_id].get(member_id), self.names.get(member_id)):
                if name:
                    ids_by_name.setdefault(name, set()).add(member_id)

        # Longest match first, so "@张三丰" mentions 张三丰 even when 张三 is also a member.
        names = sorted(ids_by_name, key=len, reverse=True)
        mentioned: list[str] = []
        text = message.text
        position = text.find("@")
        while position != -1:
            name = next((name for name in names if text.startswith(name, position + 1)), None)
            if name is not None:
                ids = ids_by_name[name]
                if len(ids) > 1:
                    self._fail(
                        f"{location}.text",
                        f"@{name} matches several members ({', '.join(sorted(ids))}); "
                        "list the intended ids in mentions = [...]",
                    )
                (member_id,) = ids
                if member_id not in mentioned:
                    mentioned.append(member_id)
            position = text.find("@", position + 1)
        return tuple(mentioned)


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, str):
        return f"string {value!r}"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    if value is None:
        return "nothing"
    return f"{type(value).__name__} {value!r}"


# ---------------------------------------------------------------------------- building and playing


def build_puppet(
    scenario: Scenario,
    echo_own_messages: bool = True,
    *,
    clock: Clock | None = None,
    monotonic: Callable[[], float] | None = None,
) -> SimulatorPuppet:
    """Create a logged-out simulator holding the scenario's bot, contacts and rooms."""
    puppet = SimulatorPuppet(
        scenario.bot.id,
        scenario.bot.name,
        echo_own_messages=echo_own_messages,
        clock=clock,
        monotonic=monotonic,
    )
    for contact in scenario.contacts:
        puppet.add_contact(contact.id, contact.name, alias=contact.alias, friend=contact.friend)
    for room in scenario.rooms:
        puppet.add_room(
            room.id,
            room.topic,
            room.member_ids,
            owner_id=room.owner_id,
            display_names=dict(room.display_names),
        )
    return puppet


EventCallback = Callable[[Delivery], None | Awaitable[None]]


async def play(
    puppet: SimulatorPuppet,
    scenario: Scenario,
    *,
    speed: float = 1.0,
    on_event: EventCallback | None = None,
    drain_each: bool = False,
    drain_at_end: bool = True,
) -> list[Delivery]:
    """Deliver the scenario's messages and events to a started puppet at their times.

    ``at`` counts from this call and is divided by ``speed``; ``speed=0`` delivers everything
    in timeline order without waiting. ``on_event`` (a function or coroutine function) gets
    each :class:`Delivery` right after it is emitted. ``drain_each`` waits for the bot to
    handle each item before the next, which makes handling order deterministic.
    ``drain_at_end`` waits for all handling before returning (see
    :meth:`SimulatorPuppet.drain`). Returns the deliveries in order.
    """
    if not math.isfinite(speed) or speed < 0:
        raise ValueError(f"speed must be 0 or a positive number, got {speed}")
    loop = asyncio.get_running_loop()
    start = loop.time()
    deliveries = []
    for item in scenario.timeline():
        if speed > 0:
            delay = start + item.at / speed - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
        delivery = await _deliver(puppet, item)
        deliveries.append(delivery)
        if on_event is not None:
            result = on_event(delivery)
            if inspect.isawaitable(result):
                await result
        if drain_each:
            await puppet.drain()
    if drain_at_end:
        await puppet.drain()
    return deliveries


async def _deliver(puppet: SimulatorPuppet, item: ScenarioItem) -> Delivery:
    if isinstance(item, ScenarioMessage):
        message_id = await puppet.say(
            item.talker_id,
            item.text,
            room_id=item.room_id,
            mention_ids=item.mention_ids,
            message_id=item.message_id,
            message_type=item.message_type,
            to_id=item.to_id,
        )
        return Delivery(item, message_id)
    if item.kind == "room-join":
        assert item.room_id is not None
        await puppet.room_join(item.room_id, item.contact_ids, item.actor_id)
    elif item.kind == "room-leave":
        assert item.room_id is not None
        await puppet.room_leave(item.room_id, item.contact_ids, item.actor_id, emit_event=not item.silent)
    elif item.kind == "room-topic":
        assert item.room_id is not None
        await puppet.room_topic_change(item.room_id, item.topic, item.actor_id)
    elif item.kind == "friendship":
        await puppet.friend_request(item.actor_id, item.hello)
    else:
        assert item.room_id is not None
        await puppet.room_invite(item.room_id, item.actor_id)
    return Delivery(item)


def describe_delivery(delivery: Delivery, scenario: Scenario) -> str:
    """Format a delivery as one console line in Chinese, e.g. ``[1.5s] 周末读书会 | 张三: 报名``."""
    item = delivery.item
    name = scenario.contact_name
    prefix = f"[{item.at:g}s]"
    if isinstance(item, ScenarioMessage):
        place = scenario.room_topic(item.room_id) if item.room_id else "私聊"
        body = item.text if item.type_name in ("text", "xml") else f"[{item.type_name}] {item.text}".rstrip()
        return f"{prefix} {place} | {name(item.talker_id)}: {body}"
    others = "、".join(name(contact_id) for contact_id in item.contact_ids)
    topic = scenario.room_topic(item.room_id) if item.room_id else ""
    if item.kind == "room-join":
        return f"{prefix} {topic} | {name(item.actor_id)} 邀请 {others} 加入了群聊"
    if item.kind == "room-leave":
        if item.contact_ids == (item.actor_id,):
            action = f"{others} 退出了群聊"
        else:
            action = f"{name(item.actor_id)} 将 {others} 移出了群聊"
        return f"{prefix} {topic} | {action}" + ("（无通知）" if item.silent else "")
    if item.kind == "room-topic":
        return f"{prefix} {topic} | {name(item.actor_id)} 修改群名为「{item.topic}」"
    if item.kind == "friendship":
        return f"{prefix} 好友申请 | {name(item.actor_id)}: {item.hello}"
    return f"{prefix} {topic} | {name(item.actor_id)} 邀请机器人加入群聊"


__all__ = [
    "EVENT_KINDS",
    "MESSAGE_TYPES",
    "BotSpec",
    "ContactSpec",
    "Delivery",
    "RoomSpec",
    "Scenario",
    "ScenarioError",
    "ScenarioEvent",
    "ScenarioItem",
    "ScenarioMessage",
    "build_puppet",
    "describe_delivery",
    "load_scenario",
    "parse_scenario",
    "play",
]
