"""Shared machinery of the chat commands: matching, cooldowns, admin checks, argument parsing, replies.

A command matches only when its configured word is the first word of the message. Commands without
arguments (余额, 帮助, 签到, 排行榜) match only when the word is the whole message, so ordinary chat
that happens to start with such a word is left alone.

``CommandHandler.run`` does the command's writes inside a SAVEPOINT. A command that rejects its
input raises ``Rejected``, which rolls back every write of the command (for example the first of
two tips) and then queues the rejection text. The cooldown mark and the processed-message mark stay,
because they are written outside the SAVEPOINT.
"""

from __future__ import annotations

import logging
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, ClassVar

from sqlalchemy import func, select
from sqlmodel import Session, col

from repe_bot import directory, ledger, outbox
from repe_bot.clock import as_utc
from repe_bot.command_config import CommandSettings, CommandSpec, CommandTemplates
from repe_bot.db.member_models import CommandUse
from repe_bot.db.models import OutboxMessage
from repe_bot.text import normalize

if TYPE_CHECKING:
    from repe_bot.service import IncomingMessage, MessageService, ParsedText

log = logging.getLogger(__name__)

REPLY_KIND = "reply"
RATE_WINDOW = timedelta(seconds=60)


class Rejected(Exception):
    """Rejection of a command's input, carrying the reply ``text`` and the outcome label ``status``."""

    def __init__(self, status: str, text: str) -> None:
        super().__init__(f"{status}: {text}")
        self.status = status
        self.text = text


@dataclass(frozen=True)
class CommandMatch:
    word: str
    args: list[str]


@dataclass
class Invocation:
    """One run of a command: the message, its arguments and the transaction it writes in."""

    session: Session
    message: IncomingMessage
    word: str
    args: list[str]
    now: datetime
    name: str
    is_admin: bool

    @property
    def talker(self) -> str:
        return self.message.talker_id

    @property
    def room(self) -> str | None:
        return self.message.room_id


class CommandHandler:
    """Base of all chat commands. A subclass sets ``key`` and implements ``execute``."""

    key: ClassVar[str]
    takes_arguments: ClassVar[bool] = False
    room_only: ClassVar[bool] = False
    admin_only: ClassVar[bool] = False

    def __init__(self, service: MessageService, config: CommandSettings) -> None:
        self.service = service
        self.config = config
        self.templates: CommandTemplates = config.templates
        self.spec: CommandSpec = getattr(config, self.key)
        self.name = f"command:{self.key}"
        self.words = {normalize(word): word for word in self.spec.words}
        self.word_prefixes = tuple(self.words)

    # -- Handler protocol -------------------------------------------------------------------------

    def may_match(self, message: IncomingMessage, parsed: ParsedText) -> bool:
        """Return True when the message is this command; reads only ``parsed``, no database."""
        # The command word is a prefix of the normalised text, so this one C call rules out
        # ordinary chat before its words are split and normalised.
        if not parsed.normalized.startswith(self.word_prefixes):
            return False
        if not parsed.words or parsed.command_word not in self.words:
            return False
        # A command without arguments must be the whole message.
        return self.takes_arguments or parsed.normalized == parsed.command_word

    def match(self, session: Session, message: IncomingMessage, parsed: ParsedText) -> CommandMatch | None:
        if not self.may_match(message, parsed):
            return None
        return CommandMatch(self.words[parsed.command_word], parsed.words[1:])

    def run(self, session: Session, message: IncomingMessage, matched: CommandMatch, now: datetime) -> str:
        directory.ensure_contact(session, message.talker_id, message.talker_name, now)
        is_admin = message.talker_id in self.service.settings.bot.admins
        invocation = Invocation(
            session=session,
            message=message,
            word=matched.word,
            args=matched.args,
            now=now,
            name=self.member_name(session, message.talker_id, message.room_id),
            is_admin=is_admin,
        )
        t = self.templates

        if not (is_admin and self.config.admins_skip_cooldown):
            wait = record_use(session, message.talker_id, self.key, self.spec.cooldown_seconds, now)
            if wait is not None:
                seconds, notify = wait
                if notify and t.cooldown:
                    self.reply(
                        invocation,
                        t.cooldown.format(name=invocation.name, word=matched.word, seconds=seconds),
                    )
                return "cooldown"

        if self.room_only and message.room_id is None:
            self.reply(invocation, t.not_in_room.format(name=invocation.name, word=matched.word))
            return "not_in_room"
        if self.admin_only and not is_admin:
            self.reply(invocation, t.admin_only.format(name=invocation.name, word=matched.word))
            log.info("non-admin %s tried %s", message.talker_id, self.key)
            return "not_admin"

        try:
            with session.begin_nested():
                return self.execute(invocation)
        except Rejected as rejection:
            self.reply(invocation, rejection.text)
            return rejection.status

    def execute(self, invocation: Invocation) -> str:
        raise NotImplementedError

    # -- helpers for subclasses -------------------------------------------------------------------

    def member_name(self, session: Session, wxid: str, room: str | None) -> str:
        return self.member_names(session, [wxid], room)[wxid]

    def member_names(self, session: Session, wxids: Sequence[str], room: str | None) -> dict[str, str]:
        return directory.display_names(session, wxids, room, self.service.settings.templates.unnamed)

    def joined_names(self, session: Session, wxids: Sequence[str], room: str | None) -> str:
        names = self.member_names(session, wxids, room)
        return "、".join(names[wxid] for wxid in wxids)

    def usage_rejection(self, invocation: Invocation) -> Rejected:
        usage = self.spec.usage_text(self.config.packet_passphrase, invocation.word)
        text = self.templates.usage.format(name=invocation.name, usage=usage, word=invocation.word)
        return Rejected("usage", text)

    def parse_points(self, invocation: Invocation, token: str, *, allow_zero: bool = False) -> int:
        """Parse a point amount made of ASCII digits, raising Rejected with the usage or the maximum."""
        value = parse_number(token, self.config.max_points)
        if value is None or (value == 0 and not allow_zero):
            raise self.usage_rejection(invocation)
        if value > self.config.max_points:
            raise Rejected(
                "too_large",
                self.templates.amount_too_large.format(
                    name=invocation.name, max_points=self.config.max_points
                ),
            )
        return value

    def require_balance(self, invocation: Invocation, required: int) -> int:
        balance = ledger.balance(invocation.session, ledger.member_key(invocation.talker))
        if balance < required:
            raise Rejected(
                "insufficient",
                self.templates.insufficient.format(name=invocation.name, required=required, balance=balance),
            )
        return balance

    def mentioned_targets(self, invocation: Invocation) -> list[str]:
        """Return the mentioned contacts in order without repeats, or raise Rejected when there are none.

        A leading mention of the bot addresses the command to it and is not a target. Text with an
        ``@`` after the command word but no mention ids means the puppet did not resolve the
        mention, which gets its own reply.
        """
        message = invocation.message
        bot_id = self.service.bot_id
        targets = list(dict.fromkeys(message.mention_ids))
        if bot_id is not None and bot_id in targets and addresses_bot(message.text, self.service.bot_name):
            targets.remove(bot_id)
        if targets:
            if bot_id is not None and bot_id in targets:
                raise Rejected(
                    "target_bot", self.templates.target_bot.format(name=invocation.name, word=invocation.word)
                )
            if len(targets) > self.config.max_targets:
                raise Rejected(
                    "too_many_targets",
                    self.templates.too_many_targets.format(
                        name=invocation.name, limit=self.config.max_targets
                    ),
                )
            return targets

        _, _, after_word = unicodedata.normalize("NFKC", message.text).partition(invocation.word)
        if "@" in after_word:
            raise Rejected(
                "mention_unresolved", self.templates.mention_unresolved.format(name=invocation.name)
            )
        raise self.usage_rejection(invocation)

    def reply(
        self,
        invocation: Invocation,
        text: str,
        *,
        mention_ids: Sequence[str] | None = None,
        private: bool = False,
    ) -> None:
        """Queue a reply: in the room with a mention (rate-limited per room), or privately to the sender."""
        room = invocation.room
        if room is None or private:
            outbox.enqueue(
                invocation.session,
                conversation_wxid=invocation.talker,
                is_room=False,
                text=text,
                now=invocation.now,
                kind=REPLY_KIND,
            )
            return
        enqueue_room_reply(
            invocation.session,
            room_wxid=room,
            text=text,
            mention_ids=[invocation.talker] if mention_ids is None else list(mention_ids),
            now=invocation.now,
            per_minute=self.config.room_replies_per_minute,
        )


def parse_number(token: str, maximum: int) -> int | None:
    """Return ``token`` as a whole number, ``maximum + 1`` for any larger one, or None for non-digits.

    Only ASCII digits count, because NFKC has already folded full-width digits. Signs, decimals and
    exponents are rejected. Long tokens are not converted, so no input can hit
    Python's limit on integer string length.
    """
    if not (token.isascii() and token.isdigit()):
        return None
    digits = token.lstrip("0") or "0"
    if len(digits) > len(str(maximum)):
        return maximum + 1
    return min(int(digits), maximum + 1)


def addresses_bot(text: str, bot_name: str) -> bool:
    """Return True when ``text`` starts with ``@bot_name``, the form that addresses a command to the bot."""
    if not bot_name:
        return False
    folded = " ".join(unicodedata.normalize("NFKC", text).split())
    return folded.startswith("@" + unicodedata.normalize("NFKC", bot_name))


def record_use(
    session: Session, contact_wxid: str, command: str, cooldown_seconds: float, now: datetime
) -> tuple[int, bool] | None:
    """Apply the per-member cooldown of ``command``.

    Returns None and records the use when the command may run. Inside the cooldown it returns
    (whole seconds left, whether to notify the member). Only the first attempt inside one cooldown
    is notified, so repeated attempts get no reply.
    """
    use = session.get(CommandUse, (contact_wxid, command))
    if use is not None and cooldown_seconds > 0:
        ready_at = as_utc(use.last_used_at) + timedelta(seconds=cooldown_seconds)
        if now < ready_at:
            notify = not use.cooldown_notified
            use.cooldown_notified = True
            session.add(use)
            seconds = max(1, int((ready_at - now).total_seconds() + 0.999))
            return seconds, notify
    if use is None:
        session.add(CommandUse(contact_wxid=contact_wxid, command=command, last_used_at=now))
    else:
        use.last_used_at = now
        use.cooldown_notified = False
        session.add(use)
    session.flush()
    return None


def enqueue_room_reply(
    session: Session,
    *,
    room_wxid: str,
    text: str,
    mention_ids: Sequence[str],
    now: datetime,
    per_minute: int,
) -> int | None:
    """Queue a reply in a room, delaying it when the room had ``per_minute`` replies in the last 60 seconds.

    A delayed reply is due when the oldest reply of the window is 60 seconds old. Delayed replies
    share a coalesce key, so the sender merges those pending at that time into one message.
    Replies are never dropped. The count covers outbox rows of kind "reply", which includes
    the activity engine's rejection replies, and it counts merged rows one by one.
    """
    window_start = now - RATE_WINDOW
    count, oldest = session.execute(
        select(func.count(), func.min(OutboxMessage.created_at)).where(
            col(OutboxMessage.conversation_wxid) == room_wxid,
            col(OutboxMessage.kind) == REPLY_KIND,
            col(OutboxMessage.created_at) > window_start,
        )
    ).one()
    delay = 0.0
    coalesce_key: str | None = None
    if count >= per_minute and oldest is not None:
        release = as_utc(oldest) + RATE_WINDOW
        delay = max((release - now).total_seconds(), 0.0)
        coalesce_key = f"command-overflow:{room_wxid}"
        log.info("room %s reached %d replies per minute; reply delayed %.0f s", room_wxid, per_minute, delay)
    return outbox.enqueue(
        session,
        conversation_wxid=room_wxid,
        is_room=True,
        text=text,
        now=now,
        mention_ids=mention_ids,
        kind=REPLY_KIND,
        coalesce_key=coalesce_key,
        delay_seconds=delay,
    )


def format_delta(delta: int) -> str:
    return f"{delta:+d}"
