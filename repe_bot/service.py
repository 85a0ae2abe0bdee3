"""Command service: turns one incoming message into at most one committed transaction.

The adapter converts each wechaty message into an IncomingMessage and calls ``handle``. The
service drops echoes of the bot's own sends, non-text and XML bodies and stale replays, then
asks each handler in turn whether the message is its command or passphrase. The processed-message
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
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import Engine, delete, select
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col

from repe_bot import outbox
from repe_bot.activities import ActivityEngine
from repe_bot.clock import Clock, as_utc, utc_now
from repe_bot.config import Settings
from repe_bot.db.database import session_scope
from repe_bot.db.models import Activity, ProcessedMessage
from repe_bot.tasks import TaskScheduler
from repe_bot.text import is_xml, normalize, tokens

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IncomingMessage:
    """A member's message as the domain sees it; built by the adapter from a wechaty Message."""

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
    normalized: str
    words: list[str] = field(default_factory=list)


class Handler(Protocol):
    """A command or passphrase handler; ``match`` must not write, ``run`` writes in the given session."""

    name: str

    def match(self, session: Session, message: IncomingMessage, parsed: ParsedText) -> Any | None: ...

    def run(self, session: Session, message: IncomingMessage, matched: Any, now: datetime) -> str: ...


class PassphraseHandler:
    """Joins the open activity whose passphrase equals the whole normalised message."""

    name = "passphrase"

    def __init__(self, activities: ActivityEngine, index: OpenPassphraseIndex | None = None) -> None:
        self.activities = activities
        self.index = index

    def match(self, session: Session, message: IncomingMessage, parsed: ParsedText) -> Activity | None:
        if self.index is not None and not self.index.may_match(message.room_id, parsed.normalized):
            return None
        return self.activities.find_open(session, message.room_id, parsed.normalized)

    def run(self, session: Session, message: IncomingMessage, matched: Activity, now: datetime) -> str:
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
        self.max_age = timedelta(seconds=settings.bot.max_message_age_seconds)

    def add_handler(self, handler: Handler) -> None:
        """Register a command handler; handlers are tried in order, before passphrases."""
        self.handlers.append(handler)

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
        parsed = ParsedText(normalize(message.text, names), tokens(message.text, names))
        if not parsed.normalized:
            return "ignored"

        # The session begins its transaction (BEGIN IMMEDIATE) at its first query, so a message that
        # no handler matches without querying costs no database round trip. Leaving the block
        # without commit() rolls back, which for the read-only "duplicate" and "ignored" paths
        # changes nothing.
        with Session(self.engine, expire_on_commit=False) as session:
            for handler in (*self.handlers, self.passphrases):
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

    def transaction(self) -> Any:
        return session_scope(self.engine)

    def run_in_transaction(self, work: Callable[[Session, datetime], Any]) -> Any:
        with session_scope(self.engine) as session:
            return work(session, self.clock())


def mark_processed(session: Session, message_id: str, now: datetime) -> bool:
    """Record ``message_id`` as processed; return False when it already was."""
    if session.get_bind().dialect.name == "sqlite":
        result = session.exec(
            sqlite_insert(ProcessedMessage)
            .values(message_id=message_id, seen_at=now)
            .on_conflict_do_nothing(index_elements=["message_id"])
        )
        return bool(result.rowcount)
    exists = session.execute(
        select(col(ProcessedMessage.message_id)).where(col(ProcessedMessage.message_id) == message_id)
    ).first()
    if exists:
        return False
    session.add(ProcessedMessage(message_id=message_id, seen_at=now))
    return True
