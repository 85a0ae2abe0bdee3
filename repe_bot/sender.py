"""Sender loop: drains the outbox at a rate that is safe for a WeChat account.

Pacing has two layers. A global aiolimiter ``AsyncLimiter(1, 60 / per_minute)`` spaces sends
evenly, so no 60-second window contains more than ``per_minute`` of them; a bucket of size
``per_minute`` would instead allow a burst of that size on top of the steady rate. Each
conversation also waits ``conversation_spacing_seconds`` plus a random jitter between two sends.
A failed send is retried with exponential back-off, and the whole queue pauses for that back-off,
because a send error is often the platform throttling the account.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from aiolimiter import AsyncLimiter
from sqlalchemy import Engine

from repe_bot import outbox
from repe_bot.clock import Clock, as_utc, utc_now
from repe_bot.config import SendingSettings
from repe_bot.db.database import session_scope

log = logging.getLogger(__name__)

SendFunction = Callable[[outbox.Batch], Awaitable[None]]


class PermanentSendError(Exception):
    """A send that cannot succeed on retry, such as a private message to someone who is not a friend."""

SEND_TIMEOUT_SECONDS = 30.0


class Sender:
    """Claims due outbox rows, merges them, paces them and hands them to ``send``."""

    def __init__(
        self,
        engine: Engine,
        settings: SendingSettings,
        send: SendFunction,
        *,
        clock: Clock = utc_now,
        rng: random.Random | None = None,
        poll_seconds: float = 1.0,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.send = send
        self.clock = clock
        self.rng = rng or random.Random()
        self.poll_seconds = poll_seconds
        self.limiter = AsyncLimiter(1, 60.0 / settings.per_minute)
        self.next_allowed: dict[str, datetime] = {}
        self.paused_until: datetime | None = None
        self._wake = asyncio.Event()
        self.sent_count = 0
        self.failed_count = 0
        # False while the runtime reconnects to the gateway, so queued rows wait instead of using up
        # their send attempts against a closed connection.
        self.online = True

    def wake(self) -> None:
        """Ask the loop to look at the outbox now instead of at its next poll."""
        self._wake.set()

    def load_spacing(self) -> None:
        """Seed per-conversation spacing from the last sends recorded before a restart."""
        spacing = timedelta(seconds=self.settings.conversation_spacing_seconds)
        with session_scope(self.engine) as session:
            for wxid, sent_at in outbox.last_sent_per_conversation(session).items():
                self.next_allowed[wxid] = as_utc(sent_at) + spacing

    def _blocked_conversations(self, now: datetime) -> set[str]:
        return {wxid for wxid, allowed in self.next_allowed.items() if allowed > now}

    async def send_one(self) -> bool:
        """Send the next due batch if there is one; return True when a batch was attempted."""
        now = self.clock()
        if not self.online:
            return False
        if self.paused_until is not None and now < self.paused_until:
            return False

        with session_scope(self.engine) as session:
            if not outbox.has_due(session, now, self._blocked_conversations(now)):
                return False

        # Wait for the rate limiter before claiming, so that rows queued during the wait still
        # merge into this message.
        await self.limiter.acquire()
        now = self.clock()
        with session_scope(self.engine) as session:
            batch = outbox.claim_next(
                session, now, exclude_conversations=self._blocked_conversations(now),
                max_mentions=self.settings.max_mentions,
            )
        if batch is None:
            return False

        try:
            await asyncio.wait_for(self.send(batch), timeout=SEND_TIMEOUT_SECONDS)
        except PermanentSendError as error:
            self._record_failure(batch, error, permanent=True)
            return True
        except Exception as error:  # noqa: BLE001 - any other send failure is retried, never lost
            self._record_failure(batch, error)
            return True

        sent_at = self.clock()
        with session_scope(self.engine) as session:
            outbox.mark_sent(session, batch, sent_at)
        jitter = self.rng.uniform(0, self.settings.jitter_seconds)
        self.next_allowed[batch.conversation_wxid] = sent_at + timedelta(
            seconds=self.settings.conversation_spacing_seconds + jitter
        )
        self.sent_count += 1
        log.debug("outbox rows %s sent to %s", batch.row_ids, batch.conversation_wxid)
        return True

    def _record_failure(self, batch: outbox.Batch, error: BaseException, *, permanent: bool = False) -> None:
        now = self.clock()
        delay = min(self.settings.retry_base_seconds * 2**batch.attempts, self.settings.retry_max_seconds)
        delay *= self.rng.uniform(1.0, 1.2)
        with session_scope(self.engine) as session:
            retry = outbox.mark_failed(
                session, batch, now, f"{type(error).__name__}: {error}",
                retry_after=delay, max_attempts=batch.attempts + 1 if permanent else self.settings.max_attempts,
            )
        self.failed_count += 1
        if not permanent:
            # Only a failure that may be the platform throttling the account pauses the queue.
            self.paused_until = now + timedelta(seconds=delay)
        if retry:
            log.warning("send to %s failed (rows %s, attempt %d): %r; retrying in %.1f s",
                        batch.conversation_wxid, batch.row_ids, batch.attempts + 1, error, delay)
        else:
            log.error("send to %s failed (rows %s) %d times: %r; giving up, rows marked failed",
                      batch.conversation_wxid, batch.row_ids, batch.attempts + 1, error)

    def _seconds_until_next(self) -> float:
        now = self.clock()
        with session_scope(self.engine) as session:
            due = outbox.next_due_at(session)
        waits = [self.poll_seconds]
        if due is not None:
            waits.append((as_utc(due) - now).total_seconds())
        if self.paused_until is not None:
            waits.append((self.paused_until - now).total_seconds())
        blocked = [allowed for allowed in self.next_allowed.values() if allowed > now]
        if blocked and due is not None and as_utc(due) <= now:
            waits.append((min(blocked) - now).total_seconds())
        return max(0.01, min(waits))

    async def run(self, stop: asyncio.Event) -> None:
        """Send until ``stop`` is set; errors in one round are logged and the loop goes on."""
        log.info("sender started: %d per minute, %.1f s spacing per conversation",
                 self.settings.per_minute, self.settings.conversation_spacing_seconds)
        self.load_spacing()
        while not stop.is_set():
            try:
                if await self.send_one():
                    continue
                timeout = self._seconds_until_next()
            except Exception:  # noqa: BLE001 - the loop must outlive a database hiccup
                log.exception("sender round failed; retrying in %.1f s", self.poll_seconds)
                timeout = self.poll_seconds
            self._wake.clear()
            waiters = [asyncio.create_task(self._wake.wait()), asyncio.create_task(stop.wait())]
            await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            for waiter in waiters:
                waiter.cancel()
        log.info("sender stopped: %d sent, %d failed attempts", self.sent_count, self.failed_count)
