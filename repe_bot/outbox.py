"""Persistent outbox: every outgoing message is a row written in the transaction that caused it.

The sender claims due rows, merges the pending rows that share a coalesce key into one message,
and marks them sent or schedules a retry. A row left in ``sending`` by a crash is put back to
``pending`` at start-up, so delivery is at least once. A message is given up only after
``max_attempts`` failed sends, and then it stays in the table as ``failed``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Select, func, select, update
from sqlmodel import Session, col

from repe_bot.db import plain_sql
from repe_bot.db.models import OutboxMessage

log = logging.getLogger(__name__)

PENDING = "pending"
SENDING = "sending"
SENT = "sent"
MERGED = "merged"
FAILED = "failed"
CANCELLED = "cancelled"


def enqueue(
    session: Session,
    *,
    conversation_wxid: str,
    is_room: bool,
    text: str,
    now: datetime,
    mention_ids: Sequence[str] = (),
    kind: str = "reply",
    coalesce_key: str | None = None,
    coalesce_line: str = "",
    coalesce_header: str = "",
    dedupe_key: str | None = None,
    delay_seconds: float = 0.0,
) -> int | None:
    """Add one outgoing message; with a ``dedupe_key`` seen before, add nothing and return None."""
    rows = plain_sql.fetch(
        session,
        _INSERT_MESSAGE,
        {
            "conversation_wxid": conversation_wxid,
            "is_room": is_room,
            "text": text,
            "mention_ids": json.dumps(list(mention_ids)),
            "kind": kind,
            "coalesce_key": coalesce_key,
            "coalesce_line": coalesce_line,
            "coalesce_header": coalesce_header,
            "dedupe_key": dedupe_key,
            "status": PENDING,
            "not_before": now + timedelta(seconds=delay_seconds),
            "created_at": now,
        },
    )
    return int(rows[0][0]) if rows else None


# A NULL dedupe key never conflicts, so only rows with a key can be skipped.
_INSERT_MESSAGE = (
    "INSERT INTO outbox (conversation_wxid, is_room, text, mention_ids, kind, coalesce_key, coalesce_line,"
    " coalesce_header, dedupe_key, status, attempts, not_before, created_at, error)"
    " VALUES (:conversation_wxid, :is_room, :text, :mention_ids, :kind, :coalesce_key, :coalesce_line,"
    " :coalesce_header, :dedupe_key, :status, 0, :not_before, :created_at, '')"
    " ON CONFLICT (dedupe_key) DO NOTHING RETURNING id"
)


@dataclass
class Batch:
    """One message to send, built from one or more outbox rows of the same conversation."""

    row_ids: list[int]
    conversation_wxid: str
    is_room: bool
    text: str
    mention_ids: list[str] = field(default_factory=list)
    attempts: int = 0


def cancel_pending(session: Session, dedupe_key: str) -> bool:
    """Mark the pending row with ``dedupe_key`` as ``cancelled`` so it is never sent; return True if one was."""
    result = session.exec(
        update(OutboxMessage)
        .where(col(OutboxMessage.dedupe_key) == dedupe_key, col(OutboxMessage.status) == PENDING)
        .values(status=CANCELLED)
    )
    return bool(result.rowcount)


def requeue_failed(session: Session, now: datetime, row_ids: Sequence[int] | None = None) -> int:
    """Put ``failed`` rows (all of them, or those in ``row_ids``) back to ``pending`` with fresh attempts."""
    statement = update(OutboxMessage).where(col(OutboxMessage.status) == FAILED)
    if row_ids is not None:
        statement = statement.where(col(OutboxMessage.id).in_(list(row_ids)))
    result = session.exec(statement.values(status=PENDING, attempts=0, not_before=now, error=""))
    return int(result.rowcount or 0)


def recover_interrupted(session: Session) -> int:
    """Put rows left in ``sending`` by a crash back to ``pending``; return how many."""
    result = session.exec(
        update(OutboxMessage).where(col(OutboxMessage.status) == SENDING).values(status=PENDING)
    )
    count = result.rowcount or 0
    if count:
        log.warning("outbox: %d message(s) were being sent when the bot stopped; they will be sent again", count)
    return count


def next_due_at(session: Session) -> datetime | None:
    value = session.execute(
        select(func.min(OutboxMessage.not_before)).where(col(OutboxMessage.status) == PENDING)
    ).scalar()
    return value


def _merge_rows(rows: list[OutboxMessage], max_mentions: int) -> Batch:
    first = rows[0]
    mentions: list[str] = []
    for row in rows:
        for wxid in json.loads(row.mention_ids):
            if wxid not in mentions and len(mentions) < max_mentions:
                mentions.append(wxid)

    if len(rows) == 1:
        text = first.text
    elif all(row.text == first.text for row in rows):
        text = first.text
    elif first.coalesce_header and all(row.coalesce_line for row in rows):
        lines = "\n".join(row.coalesce_line for row in rows)
        text = first.coalesce_header.format(count=len(rows), lines=lines)
    else:
        text = "\n".join(row.text for row in rows)

    return Batch(
        row_ids=[int(row.id) for row in rows if row.id is not None],
        conversation_wxid=first.conversation_wxid,
        is_room=first.is_room,
        text=text,
        mention_ids=mentions,
        attempts=max(row.attempts for row in rows),
    )


def _due_query(now: datetime, exclude_conversations: AbstractSet[str]) -> Select[OutboxMessage]:
    query = select(OutboxMessage).where(
        col(OutboxMessage.status) == PENDING, col(OutboxMessage.not_before) <= now
    )
    if exclude_conversations:
        query = query.where(col(OutboxMessage.conversation_wxid).not_in(exclude_conversations))
    return query


def has_due(session: Session, now: datetime, exclude_conversations: AbstractSet[str]) -> bool:
    return session.execute(_due_query(now, exclude_conversations).limit(1)).first() is not None


def claim_next(
    session: Session,
    now: datetime,
    *,
    exclude_conversations: AbstractSet[str] = frozenset(),
    max_mentions: int = 20,
) -> Batch | None:
    """Claim the oldest due row and every pending row merged with it, and mark them ``sending``.

    Rows merge when they share a coalesce key, including rows whose coalescing delay has not run
    out yet. The merged row count is capped by ``max_mentions``, so a long burst becomes several
    messages rather than one with hundreds of mentions.
    """
    query = _due_query(now, exclude_conversations)
    head = session.execute(
        query.order_by(col(OutboxMessage.not_before), col(OutboxMessage.id)).limit(1)
    ).scalars().first()
    if head is None:
        return None

    rows = [head]
    if head.coalesce_key:
        rows = list(
            session.execute(
                select(OutboxMessage)
                .where(
                    col(OutboxMessage.status) == PENDING,
                    col(OutboxMessage.coalesce_key) == head.coalesce_key,
                    col(OutboxMessage.conversation_wxid) == head.conversation_wxid,
                )
                .order_by(col(OutboxMessage.id))
                .limit(max_mentions)
            ).scalars()
        )

    batch = _merge_rows(rows, max_mentions)
    session.execute(
        update(OutboxMessage).where(col(OutboxMessage.id).in_(batch.row_ids)).values(status=SENDING)
    )
    return batch


def mark_sent(session: Session, batch: Batch, now: datetime) -> None:
    first, *rest = batch.row_ids
    session.execute(
        update(OutboxMessage).where(col(OutboxMessage.id) == first).values(status=SENT, sent_at=now)
    )
    if rest:
        session.execute(
            update(OutboxMessage)
            .where(col(OutboxMessage.id).in_(rest))
            .values(status=MERGED, sent_at=now, merged_into=first)
        )


def mark_failed(
    session: Session, batch: Batch, now: datetime, error: str, *, retry_after: float, max_attempts: int
) -> bool:
    """Record a failed send; return True when the rows will be retried, False when they gave up."""
    attempts = batch.attempts + 1
    give_up = attempts >= max_attempts
    session.execute(
        update(OutboxMessage)
        .where(col(OutboxMessage.id).in_(batch.row_ids))
        .values(
            status=FAILED if give_up else PENDING,
            attempts=attempts,
            error=error[:500],
            not_before=now + timedelta(seconds=retry_after),
        )
    )
    return not give_up


def last_sent_per_conversation(session: Session) -> dict[str, datetime]:
    rows = session.execute(
        select(col(OutboxMessage.conversation_wxid), func.max(OutboxMessage.sent_at))
        .where(col(OutboxMessage.status) == SENT)
        .group_by(col(OutboxMessage.conversation_wxid))
    ).all()
    return {wxid: sent_at for wxid, sent_at in rows if sent_at is not None}


def counts_by_status(session: Session) -> dict[str, int]:
    rows = session.execute(
        select(col(OutboxMessage.status), func.count()).group_by(col(OutboxMessage.status))
    ).all()
    return {status: int(count) for status, count in rows}
