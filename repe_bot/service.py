"""Command service: turns one incoming message into at most one committed transaction.

The adapter converts each wechaty message into an IncomingMessage and calls ``handle``. The
service drops echoes of the bot's own sends, non-text and XML bodies and stale replays, then
calls each handler's ``match`` in turn to find its command or passphrase. The processed-message
mark and the handler's work share one transaction: a message id that was acted on before (for
example a duplicate delivery or a replay after a restart) hits the primary key and is dropped, and
a crash cannot leave a mark without its work or work without its mark. Messages that match nothing
change nothing and leave no mark.
"""

from __future__ import annotations

import logging
import random
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any, Protocol

from sqlalchemy import Engine, delete
from sqlmodel import Session, col

from repe_bot import outbox
from repe_bot.activities import ActivityEngine, OpenActivity
from repe_bot.clock import Clock, as_utc, utc_now
from repe_bot.config import Settings
from repe_bot.db import plain_sql
from repe_bot.db.database import session_scope
from repe_bot.db.models import ProcessedMessage
from repe_bot.tasks import TaskScheduler
from repe_bot.text import is_xml, normalize, tokens

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IncomingMessage:
    """A member's message in domain terms, built by the adapter from a wechaty Message."""

    id: str
    talker_id: str
    text: str
    room_id: str | None = None
    talker_name: str = ""
    mention_ids: tuple[str, ...] = ()
    mention_names: tuple[str, ...] = ()
    timestamp: datetime | None = None
    is_text: bool = True


@dataclass(frozen=True)
class ParsedText:
    """A message's normalised text, and its command words, which are split only on first use."""

    normalized: str
    text: str = ""
    mention_names: tuple[str, ...] = ()

    @cached_property
    def words(self) -> list[str]:
        """The words of the text after mention stripping, as ``text.tokens`` splits them."""
        return tokens(self.text, self.mention_names)

    @cached_property
    def command_word(self) -> str:
        """The first word normalised as command words are, or "" without words.

        It is never longer than ``normalized`` and is a prefix of it, so a handler can rule a
        message out with ``normalized.startswith`` before the words are split.
        """
        return normalize(self.words[0]) if self.words else ""


class Handler(Protocol):
    """A command or passphrase handler; ``match`` must not write, ``run`` writes in the given session."""

    name: str

    def match(self, session: Session, message: IncomingMessage, parsed: ParsedText) -> Any | None: ...

    def run(self, session: Session, message: IncomingMessage, matched: Any, now: datetime) -> str: ...


class Prefiltered(Protocol):
    """A handler that can rule a message out before any session or query exists.

    ``may_match`` returns False only when ``match`` would return None. MessageService calls it
    first, so ordinary chat that no handler can match costs no Session at all.
    """

    def may_match(self, message: IncomingMessage, parsed: ParsedText) -> bool: ...


def _always(message: IncomingMessage, parsed: ParsedText) -> bool:
    return True


def prefilter_of(handler: Handler) -> Callable[[IncomingMessage, ParsedText], bool]:
    """Return the handler's ``may_match``, or a check that always passes for handlers without one."""
    check: Callable[[IncomingMessage, ParsedText], bool] = getattr(handler, "may_match", _always)
    return check


class PassphraseHandler:
    """Joins the open activity whose passphrase equals the whole normalised message."""

    name = "passphrase"

    def __init__(self, activities: ActivityEngine, index: OpenPassphraseIndex | None = None) -> None:
        self.activities = activities
        self.index = index

    def may_match(self, message: IncomingMessage, parsed: ParsedText) -> bool:
        return self.index is None or self.index.may_match(message.room_id, parsed.normalized)

    def match(self, session: Session, message: IncomingMessage, parsed: ParsedText) -> OpenActivity | None:
        # MessageService.handle has already asked may_match, so the index is not read twice.
        return self.activities.find_open_row(session, message.room_id, parsed.normalized)

    def run(self, session: Session, message: IncomingMessage, matched: OpenActivity, now: datetime) -> str:
        result = self.activities.join(
            session, matched, message.talker_id, now, contact_name=message.talker_name, message_id=message.id
        )
        return result.status


class OpenPassphraseIndex:
    """The (room, passphrase) pairs of open activities, so that ordinary chat runs no query.

    On a SQLite file, ``PRAGMA data_version`` read on a private connection changes whenever any
    other connection commits a change, from this process or another one such as the CLI, so the
    set is reloaded after each commit and never lags the database. Other databases and in-memory
    SQLite have no such signal, and there ``may_match`` always returns True.
    """

    def __init__(self, engine: Engine) -> None:
        url = engine.url
        database = url.database or ""
        file_backed = url.get_backend_name() == "sqlite" and database not in ("", ":memory:")
        self._path = database if file_backed and not database.startswith("file:") else None
        self._connection: sqlite3.Connection | None = None
        self._version: int | None = None
        self._keys: frozenset[tuple[str, str]] = frozenset()
        self._lock = threading.Lock()
        self._warned = False

    def may_match(self, room_wxid: str | None, passphrase: str) -> bool:
        """Return False only when no open activity of ``room_wxid`` has ``passphrase``."""
        if self._path is None:
            return True
        with self._lock:
            try:
                self._reload_if_changed()
            except sqlite3.Error as error:
                if not self._warned:
                    log.warning("open-passphrase index unavailable, querying per message: %r", error)
                    self._warned = True
                self._version = None
                return True
            # A private activity has no room; '' stands for it, so the check errs towards a query.
            return (room_wxid or "", passphrase) in self._keys

    def _reload_if_changed(self) -> None:
        if self._connection is None:
            assert self._path is not None
            self._connection = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        version = self._connection.execute("PRAGMA data_version").fetchone()[0]
        if version == self._version:
            return
        # Read the version first: a commit landing between the two statements changes it again,
        # so the next call reloads rather than keeping a set older than the database.
        rows = self._connection.execute(
            "SELECT coalesce(room_wxid, ''), passphrase FROM activity WHERE status = 'open'"
        ).fetchall()
        self._keys = frozenset((room, passphrase) for room, passphrase in rows)
        self._version = version


class MessageService:
    """Entry point of the domain for incoming messages and for the periodic housekeeping."""

    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        *,
        clock: Clock = utc_now,
        rng: random.Random | None = None,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.clock = clock
        self.activities = ActivityEngine(settings, rng)
        self.tasks = TaskScheduler(self.activities.day, timedelta(minutes=settings.tasks.grace_minutes))
        self.bot_id: str | None = None
        self.bot_name: str = ""
        self.handlers: list[Handler] = []
        self.passphrases = PassphraseHandler(self.activities, OpenPassphraseIndex(engine))
        # (handler, its prefilter) in the order handle tries them: commands, then passphrases.
        self._prefiltered: list[tuple[Handler, Callable[[IncomingMessage, ParsedText], bool]]] = [
            (self.passphrases, self.passphrases.may_match)
        ]
        self.max_age = timedelta(seconds=settings.bot.max_message_age_seconds)

    def add_handler(self, handler: Handler) -> None:
        """Register a command handler; handlers are tried in order, before passphrases."""
        self.handlers.append(handler)
        self._prefiltered.insert(len(self.handlers) - 1, (handler, prefilter_of(handler)))

    def set_self(self, wxid: str, name: str) -> None:
        self.bot_id = wxid
        self.bot_name = name

    def _drop_reason(self, message: IncomingMessage, now: datetime) -> str | None:
        if self.bot_id is not None and message.talker_id == self.bot_id:
            return "self"
        if not message.is_text:
            return "not_text"
        if is_xml(message.text):
            return "xml"
        if message.timestamp is not None and now - as_utc(message.timestamp) > self.max_age:
            return "stale"
        return None

    def handle(self, message: IncomingMessage) -> str:
        """Handle one message and return what happened (a short label, logged by the caller)."""
        now = self.clock()
        reason = self._drop_reason(message, now)
        if reason is not None:
            return reason

        names = (*message.mention_names, self.bot_name)
        parsed = ParsedText(normalize(message.text, names), message.text, names)
        if not parsed.normalized:
            return "ignored"

        candidates = [handler for handler, may_match in self._prefiltered if may_match(message, parsed)]
        if not candidates:
            return "ignored"

        # The session begins its transaction (BEGIN IMMEDIATE) at its first query, so a message that
        # no handler matches without querying costs no database round trip. Leaving the block
        # without commit() rolls back, which for the read-only "duplicate" and "ignored" paths
        # changes nothing.
        with Session(self.engine, expire_on_commit=False) as session:
            for handler in candidates:
                matched = handler.match(session, message, parsed)
                if matched is None:
                    continue
                if not mark_processed(session, message.id, now):
                    return "duplicate"
                outcome = handler.run(session, message, matched, now)
                session.commit()
                log.info("message %s from %s in %s: %s -> %s",
                         message.id, message.talker_id, message.room_id or "private", handler.name, outcome)
                return outcome
        return "ignored"

    def housekeeping(self) -> datetime | None:
        """Expire activities, settle finished days, queue due task slots and prune old marks.

        Returns the earliest time at which something is due next, for the caller's sleep.
        """
        now = self.clock()
        with session_scope(self.engine) as session:
            self.activities.expire_due(session, now)
            self.activities.settle_past_days(session, now)
            self.tasks.run_due(session, now)
            cutoff = now - timedelta(days=self.settings.database.processed_retention_days)
            session.execute(delete(ProcessedMessage).where(col(ProcessedMessage.seen_at) < cutoff))

            candidates = [
                self.activities.next_deadline(session),
                self.tasks.next_due(session),
                self.activities.day.next_reset_after(now),
            ]
        due = [as_utc(value) for value in candidates if value is not None]
        return min(due) if due else None

    def recover(self) -> None:
        """Start-up recovery: requeue interrupted sends, then apply deadlines and slots missed while down."""
        with session_scope(self.engine) as session:
            outbox.recover_interrupted(session)
        self.housekeeping()


_MARK_PROCESSED = (
    "INSERT INTO processed_message (message_id, seen_at) VALUES (:message_id, :now)"
    " ON CONFLICT (message_id) DO NOTHING RETURNING message_id"
)


def mark_processed(session: Session, message_id: str, now: datetime) -> bool:
    """Record ``message_id`` as processed; return False when it already was."""
    return bool(plain_sql.fetch(session, _MARK_PROCESSED, {"message_id": message_id, "now": now}))
