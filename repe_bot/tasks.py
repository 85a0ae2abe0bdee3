"""Scheduled bot tasks: immediate, once, daily at HH:MM, or cron, each sent once per slot.

A slot is the scheduled UTC instant of one run. Running a slot writes its outbox rows and stores it
as ``last_slot`` in one transaction, and each outbox row has a dedupe key of task, slot and
target, so a slot is never sent twice, across restarts too. A slot that was missed while the bot
was down is still sent within the grace period and skipped (with a log line) after it.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo

from croniter import CroniterBadDateError, croniter
from sqlalchemy import func, select
from sqlmodel import Session, col

from repe_bot import outbox
from repe_bot.activities import UsageError
from repe_bot.clock import ActivityDay, as_utc
from repe_bot.config import parse_hhmm
from repe_bot.db.models import BotTask
from repe_bot.i18n import _

log = logging.getLogger(__name__)

TASK_KINDS = ("now", "once", "daily", "cron")


@dataclass(frozen=True)
class Target:
    kind: str  # room | contact
    wxid: str

    def to_json(self) -> dict[str, str]:
        return {"kind": self.kind, "wxid": self.wxid}


@dataclass
class TaskSpec:
    kind: str
    text: str
    targets: list[Target]
    name: str = ""
    run_at: datetime | None = None
    time_of_day: str = ""
    cron: str = ""
    created_by: str = ""


def parse_targets(raw: str) -> list[Target]:
    return [Target(item["kind"], item["wxid"]) for item in json.loads(raw)]


def validate_task(spec: TaskSpec, now: datetime, zone: tzinfo = timezone.utc) -> None:
    """Raise UsageError naming the first invalid field of ``spec``."""
    if spec.kind not in TASK_KINDS:
        raise UsageError(
            _("invalid task kind {value!r}: use one of {choices}").format(
                value=spec.kind, choices=", ".join(TASK_KINDS)
            )
        )
    if not spec.text.strip():
        raise UsageError(_("task text is empty; give the message to send"))
    if not spec.targets:
        raise UsageError(_("task has no target; give at least one room or a contact"))
    if spec.kind == "once":
        if spec.run_at is None:
            raise UsageError(_("a once task needs --at, for example --at '2026-12-24 20:00'"))
        if as_utc(spec.run_at) <= now:
            raise UsageError(_("time {value} is in the past; give a later time").format(
                value=as_utc(spec.run_at).astimezone(zone).strftime("%Y-%m-%d %H:%M")))
    if spec.kind == "daily":
        try:
            parse_hhmm(spec.time_of_day)
        except ValueError as error:
            raise UsageError(str(error)) from None
    if spec.kind == "cron" and not croniter.is_valid(spec.cron):
        raise UsageError(
            _("invalid cron expression {value!r}: use five fields, "
              "for example '0 9 * * 1' for 09:00 on Mondays").format(value=spec.cron)
        )
    if spec.kind == "cron":
        try:
            croniter(spec.cron, now).get_next(datetime)
        except CroniterBadDateError:
            raise UsageError(
                _("cron expression {value!r} never matches a date, for example 31 February; "
                  "check the day and month").format(value=spec.cron)
            ) from None


class TaskScheduler:
    """Computes slots in the configured zone and runs the due ones."""

    def __init__(self, day: ActivityDay, grace: timedelta) -> None:
        self.day = day
        self.grace = grace

    def first_slot_after(self, task: BotTask, after: datetime) -> datetime | None:
        """Return the first slot strictly after ``after``, or None when the task has no more slots."""
        after = as_utc(after)
        if task.kind in ("now", "once"):
            run_at = as_utc(task.run_at) if task.run_at else None
            return run_at if run_at and run_at > after else None

        zone = self.day.zone
        if task.kind == "daily":
            at = parse_hhmm(task.time_of_day)
            local = after.astimezone(zone)
            candidate = datetime.combine(local.date(), at, tzinfo=zone)
            while candidate.astimezone(timezone.utc) <= after:
                candidate = datetime.combine(candidate.date() + timedelta(days=1), at, tzinfo=zone)
            return candidate.astimezone(timezone.utc)

        iterator = croniter(task.cron, after.astimezone(zone))
        return as_utc(iterator.get_next(datetime))

    def create(self, session: Session, spec: TaskSpec, now: datetime) -> BotTask:
        validate_task(spec, now, self.day.zone)
        run_at = as_utc(spec.run_at) if spec.run_at else None
        if spec.kind == "now":
            run_at = now
        task = BotTask(
            name=spec.name,
            kind=spec.kind,
            run_at=run_at,
            time_of_day=spec.time_of_day,
            cron=spec.cron,
            targets=json.dumps([t.to_json() for t in spec.targets], ensure_ascii=False),
            text=spec.text,
            created_by=spec.created_by,
            created_at=now,
            updated_at=now,
        )
        task.next_run_at = now if spec.kind == "now" else self.first_slot_after(task, now)
        session.add(task)
        session.flush()
        log.info("task #%s created: kind=%s next=%s", task.id, task.kind, task.next_run_at)
        return task

    def reschedule(self, task: BotTask, now: datetime) -> None:
        """Recompute ``next_run_at`` after an edit; slots up to now are treated as already handled."""
        after = max(as_utc(task.last_slot), now) if task.last_slot else now
        if task.kind in ("now", "once"):
            task.next_run_at = as_utc(task.run_at) if task.run_at and task.last_slot is None else None
        else:
            task.next_run_at = self.first_slot_after(task, after - timedelta(microseconds=1))
        task.updated_at = now

    def run_due(self, session: Session, now: datetime) -> list[tuple[int, datetime, bool]]:
        """Send or skip every due slot; return (task id, slot, sent) for each slot handled."""
        handled: list[tuple[int, datetime, bool]] = []
        due = session.execute(
            select(BotTask).where(
                col(BotTask.status) == "active",
                col(BotTask.next_run_at).is_not(None),
                col(BotTask.next_run_at) <= now,
            )
        ).scalars().all()
        for task in due:
            handled.extend(self._run_task(session, task, now))
        return handled

    def _run_task(self, session: Session, task: BotTask, now: datetime) -> list[tuple[int, datetime, bool]]:
        assert task.id is not None and task.next_run_at is not None
        handled = []
        slot: datetime | None = as_utc(task.next_run_at)
        latest_sendable: datetime | None = None
        skipped = 0

        # Walk every slot up to now: only the newest one within the grace period is sent, because
        # repeating the same scheduled text several times after an outage would spam the room.
        while slot is not None and slot <= now:
            if now - slot <= self.grace:
                if latest_sendable is not None:
                    skipped += 1
                latest_sendable = slot
            else:
                skipped += 1
                log.warning("task #%s slot %s skipped: missed by %s, grace is %s",
                            task.id, slot.isoformat(), now - slot, self.grace)
            task.last_slot = slot
            slot = self.first_slot_after(task, slot)

        if latest_sendable is not None:
            for target in parse_targets(task.targets):
                outbox.enqueue(
                    session,
                    conversation_wxid=target.wxid,
                    is_room=target.kind == "room",
                    text=task.text,
                    now=now,
                    kind="task",
                    dedupe_key=f"task:{task.id}:{latest_sendable.isoformat()}:{target.wxid}",
                )
            handled.append((task.id, latest_sendable, True))
            log.info("task #%s slot %s queued for %d target(s)", task.id, latest_sendable.isoformat(),
                     len(parse_targets(task.targets)))
        if skipped:
            handled.append((task.id, task.last_slot or now, False))

        task.next_run_at = slot
        if slot is None:
            task.status = "done"
        task.updated_at = now
        session.add(task)
        return handled

    def next_due(self, session: Session) -> datetime | None:
        return session.execute(
            select(func.min(BotTask.next_run_at)).where(col(BotTask.status) == "active")
        ).scalar()
