"""Full sync of contacts, rooms and room members from the puppet into the database.

Payloads are fetched with bounded concurrency and written in batches, one short transaction each,
so the event loop keeps handling messages while a large account syncs.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from rich.progress import Progress
from sqlalchemy import Engine

from repe_bot import directory
from repe_bot.clock import Clock
from repe_bot.db.database import session_scope

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class SyncReport:
    contacts: int
    rooms: int
    members: int
    seconds: float


async def _fetch_all(items: Sequence[T], fetch: Callable[[T], Awaitable[R]], limit: int) -> list[R | None]:
    """Return ``fetch(item)`` for every item, in order, with at most ``limit`` fetches in flight.

    ``limit`` worker tasks share one iterator over the items, so a room of 500 members costs
    ``limit`` tasks instead of 500. A failed fetch is logged and gives None in its place.
    """
    results: list[R | None] = [None] * len(items)
    pending = iter(range(len(items)))

    async def worker() -> None:
        for index in pending:
            try:
                results[index] = await fetch(items[index])
            except Exception as error:  # noqa: BLE001 - one bad payload must not stop the sync
                log.warning("sync: payload of %s failed: %r", items[index], error)

    await asyncio.gather(*(worker() for _ in range(min(limit, len(items)))))
    return results


def _chunks(items: Sequence[T], size: int) -> list[Sequence[T]]:
    return [items[start : start + size] for start in range(0, len(items), size)]


class DirectorySync:
    """Copies the puppet's contacts, rooms and members into the directory tables."""

    def __init__(
        self,
        puppet: Any,
        engine: Engine,
        clock: Clock,
        *,
        concurrency: int,
        batch_size: int,
        show_progress: bool = True,
    ) -> None:
        self.puppet = puppet
        self.engine = engine
        self.clock = clock
        self.concurrency = concurrency
        self.batch_size = batch_size
        self.show_progress = show_progress

    async def run(self) -> SyncReport:
        started = time.monotonic()
        log.info("sync started")
        # Contacts written by this run. Contact rows are never deleted, so a member found here
        # needs no insert-if-missing, which for a large account is most members of most rooms.
        written: set[str] = set()
        with Progress(transient=True, disable=not self.show_progress) as progress:
            contacts = await self._sync_contacts(progress, written)
            rooms, members = await self._sync_rooms(progress, written)
        report = SyncReport(contacts, rooms, members, time.monotonic() - started)
        log.info(
            "sync finished: %d contacts, %d rooms, %d room members in %.2f s",
            report.contacts,
            report.rooms,
            report.members,
            report.seconds,
        )
        return report

    async def _sync_contacts(self, progress: Progress, written: set[str]) -> int:
        contact_ids = [cid for cid in await self.puppet.contact_list() if "@" not in cid]
        task = progress.add_task("contacts", total=len(contact_ids))
        count = 0
        for chunk in _chunks(contact_ids, self.batch_size):
            payloads = await _fetch_all(chunk, self.puppet.contact_payload, self.concurrency)
            infos = [
                directory.ContactInfo(p.id, p.name or "", p.alias or "", bool(p.friend))
                for p in payloads
                if p is not None
            ]
            with session_scope(self.engine) as session:
                count += directory.upsert_contacts(session, infos, self.clock())
            written.update(info.wxid for info in infos)
            progress.advance(task, len(chunk))
            await asyncio.sleep(0)
        return count

    async def _sync_rooms(self, progress: Progress, written: set[str]) -> tuple[int, int]:
        room_ids = list(await self.puppet.room_list())
        task = progress.add_task("rooms", total=len(room_ids))
        rooms = members = 0
        for room_id in room_ids:
            try:
                payload = await self.puppet.room_payload(room_id)
                member_ids = list(payload.member_ids or await self.puppet.room_members(room_id))
            except Exception as error:  # noqa: BLE001 - skip one broken room, keep the rest
                log.warning("sync: room %s failed: %r", room_id, error)
                progress.advance(task)
                continue

            member_payloads = await _fetch_all(
                member_ids,
                functools.partial(self.puppet.room_member_payload, room_id),
                self.concurrency,
            )
            infos = [
                directory.MemberInfo(member_id, (p.room_alias or "") if p is not None else "")
                for member_id, p in zip(member_ids, member_payloads, strict=True)
            ]
            strangers = [
                directory.ContactInfo(member_id, p.name or "")
                for member_id, p in zip(member_ids, member_payloads, strict=True)
                if p is not None and member_id not in written
            ]
            with session_scope(self.engine) as session:
                now = self.clock()
                directory.insert_missing_contacts(session, strangers, now)
                directory.upsert_rooms(
                    session, [directory.RoomInfo(room_id, payload.topic or "", len(infos))], now
                )
                directory.replace_room_members(session, room_id, infos, now)
            written.update(stranger.wxid for stranger in strangers)
            rooms += 1
            members += len(infos)
            progress.advance(task)
            await asyncio.sleep(0)
        return rooms, members
