"""Admin queries and actions behind the ``repe`` command line.

Every method opens its own short transaction, so the command line can run while the bot writes to
the same SQLite file. Input an admin can fix raises UsageError, whose message names the value and
the fix. The transaction is then rolled back, so a rejected command writes nothing. Times in the
returned views are in the configured zone.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, delete, func, or_, select
from sqlmodel import Session, col

from repe_bot import directory, ledger, outbox
from repe_bot.activities import ActivityEngine, ActivitySpec, UsageError
from repe_bot.clock import ActivityDay, Clock, as_utc, utc_now
from repe_bot.commands.account import (
    competition_ranks,
    member_balances,
    points_earned_since,
    room_member_ids,
)
from repe_bot.config import Settings
from repe_bot.db import models
from repe_bot.db.database import (
    DatabaseError,
    current_revision,
    head_revision,
    make_engine,
    session_scope,
    upgrade,
)
from repe_bot.db.member_models import CheckIn
from repe_bot.db.models import (
    ACCOUNT_MEMBER,
    Account,
    Activity,
    ActivityEntry,
    ActivityPeriod,
    BotTask,
    Contact,
    LedgerEntry,
    OutboxMessage,
    Room,
    RoomMember,
)
from repe_bot.i18n import _
from repe_bot.tasks import TASK_KINDS, Target, TaskScheduler, TaskSpec, parse_targets, validate_task
from repe_bot.timeparse import parse_deadline, parse_time_of_day

ACTIVITY_STATUSES = ("open", "closed", "all")
TASK_STATUSES = ("active", "done", "cancelled", "all")
ADMIN_KEY_PREFIX = "admin:"
GRANT_REASON = "admin_grant"
REVOKE_REASON = "admin_revoke"
LEADERBOARD_KINDS = ("balance", "week")
CHECKIN_HISTORY_DAYS = 7


# -- views ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PeriodView:
    period: str
    joined: int
    funded: int
    paid: int
    settled: bool


@dataclass(frozen=True)
class ActivityView:
    id: int
    name: str
    status: str
    kind: str
    room_wxid: str | None
    room_topic: str
    passphrase: str
    announcement: str
    capacity: int
    reward_mode: str
    reward_amount: int
    budget: int
    pool: int
    points_required: int
    points_cost: int
    funder_wxid: str | None
    deadline_at: datetime | None
    created_by: str
    created_at: datetime
    closed_at: datetime | None
    close_reason: str
    joined_total: int
    paid_total: int
    escrow_balance: int = 0
    periods: list[PeriodView] = field(default_factory=list)
    # Funder's name in the activity's room, else contact name, else the fallback; "" for the treasury.
    funder_name: str = ""


@dataclass(frozen=True)
class EntryView:
    seq: int
    period: str
    wxid: str
    name: str
    reward: int
    cost: int
    joined_at: datetime


@dataclass(frozen=True)
class TargetView:
    kind: str
    wxid: str
    name: str


@dataclass(frozen=True)
class TaskView:
    id: int
    name: str
    kind: str
    status: str
    text: str
    run_at: datetime | None
    time_of_day: str
    cron: str
    targets: list[TargetView]
    next_run_at: datetime | None
    last_slot: datetime | None
    created_by: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class ContactView:
    wxid: str
    name: str
    display_name: str
    alias: str
    is_friend: bool
    balance: int
    updated_at: datetime


@dataclass(frozen=True)
class MembershipView:
    room_wxid: str
    room_topic: str
    display_name: str


@dataclass(frozen=True)
class ContactDetail:
    contact: ContactView
    rooms: list[MembershipView]
    entries: int


@dataclass(frozen=True)
class RoomView:
    wxid: str
    topic: str
    remark: str
    active: bool
    member_count: int
    updated_at: datetime


@dataclass(frozen=True)
class MemberView:
    wxid: str
    display_name: str
    room_name: str
    contact_name: str


@dataclass(frozen=True)
class RoomDetail:
    room: RoomView
    members: list[MemberView]
    open_activities: int


@dataclass(frozen=True)
class BalanceView:
    wxid: str
    name: str
    balance: int


@dataclass(frozen=True)
class PointsChange:
    """The outcome of a grant or revoke; ``applied`` is False when the key had been used before."""

    applied: bool
    wxid: str
    amount: int
    balance: int
    key: str


@dataclass(frozen=True)
class HistoryRow:
    id: int
    created_at: datetime
    delta: int
    balance_after: int
    reason: str
    memo: str
    activity_id: int | None


@dataclass(frozen=True)
class RankView:
    rank: int
    wxid: str
    name: str
    points: int


@dataclass(frozen=True)
class LeaderboardView:
    """Members with a score above 0 in rank order.

    ``by`` is "balance" (current balance) or "week" (points received since ``since``).
    """

    by: str
    room_wxid: str | None
    room_topic: str
    since: datetime | None
    members: int  # members considered, including those left out for a score of 0
    rows: list[RankView]


@dataclass(frozen=True)
class CheckinDayView:
    day: str
    members: int
    points: int
    bonus: int


@dataclass(frozen=True)
class StreakView:
    rank: int
    wxid: str
    name: str
    streak: int
    last_day: str


@dataclass(frozen=True)
class CheckinStatsView:
    """Check-ins on activity day ``day``, current streaks and the days up to ``day``, newest first."""

    day: str
    room_wxid: str | None
    room_topic: str
    members: int
    points: int
    bonus: int
    streaks: list[StreakView]
    history: list[CheckinDayView]


@dataclass
class ActivityRequest:
    """Activity options as the admin typed them; ``room`` is a wxid or an exact topic, None for private."""

    name: str
    passphrase: str
    room: str | None = None
    kind: str = "once"
    capacity: int = 0
    reward_mode: str = "none"
    amount: int = 0
    budget: int = 0
    pool: int = 0
    required: int = 0
    cost: int = 0
    deadline: str | None = None
    announcement: str = ""
    funder: str | None = None
    created_by: str = "cli"


@dataclass
class TaskRequest:
    """Task options as the admin typed them; rooms are wxids or exact topics, contacts are wxids."""

    kind: str
    text: str
    rooms: list[str] = field(default_factory=list)
    contacts: list[str] = field(default_factory=list)
    at: str | None = None
    time: str | None = None
    cron: str | None = None
    name: str = ""
    created_by: str = "cli"


# -- database -------------------------------------------------------------------------------------


def open_engine(settings: Settings) -> Engine:
    """Create the engine; raise DatabaseError (run ``repe init``) when the schema is not current."""
    engine = make_engine(settings.database_url(), settings.database.busy_timeout_ms)
    current = current_revision(engine)
    head = head_revision(engine)
    if current != head:
        engine.dispose()
        raise DatabaseError(
            _(
                "database {url} is not initialised or has an old schema (revision {current}, "
                "this version needs {head}); run `repe init` to create or migrate it"
            ).format(url=settings.database_url(), current=current or "-", head=head)
        )
    return engine


def init_database(settings: Settings) -> tuple[str | None, str | None]:
    """Create or migrate the database; return the revision before and after."""
    engine = make_engine(settings.database_url(), settings.database.busy_timeout_ms)
    try:
        return upgrade(engine)
    finally:
        engine.dispose()


# -- the admin ------------------------------------------------------------------------------------


def _check_choice(value: str, choices: tuple[str, ...], option: str) -> None:
    if value not in choices:
        raise UsageError(
            _("invalid {option} {value!r}: use one of {choices}").format(
                option=option, value=value, choices=", ".join(choices)
            )
        )


OUTBOX_STATUSES = (outbox.PENDING, outbox.SENDING, outbox.SENT, outbox.MERGED, outbox.FAILED, outbox.CANCELLED)


@dataclass(frozen=True)
class OutboxView:
    id: int
    status: str
    kind: str
    conversation_wxid: str
    text: str
    attempts: int
    not_before: datetime
    sent_at: datetime | None
    error: str


class Admin:
    """Admin operations over one engine; each public method is one short transaction."""

    def __init__(self, engine: Engine, settings: Settings, clock: Clock = utc_now) -> None:
        self.engine = engine
        self.settings = settings
        self.clock = clock
        self.zone: ZoneInfo = settings.time.tzinfo
        self.activities = ActivityEngine(settings)
        self.scheduler = TaskScheduler(
            ActivityDay(self.zone, settings.time.reset_time), timedelta(minutes=settings.tasks.grace_minutes)
        )

    def _local_or_none(self, value: datetime | None) -> datetime | None:
        return self._local(value) if value is not None else None

    def _local(self, value: datetime) -> datetime:
        return as_utc(value).astimezone(self.zone)

    def _unnamed(self, wxid: str) -> str:
        return directory.fallback_name(wxid, self.settings.templates.unnamed)

    # -- lookups shared by several commands ---------------------------------------------------------

    def resolve_room(self, session: Session, value: str) -> Room:
        """Return the room whose wxid or exact topic is ``value``; raise UsageError unless one matches."""
        rooms = directory.find_room(session, value)
        if not rooms:
            raise UsageError(
                _(
                    "room {value!r} not found: give a room wxid or its exact topic; "
                    "list rooms with `repe room list` (rooms appear after `repe bot run` or "
                    "`repe simulate` has synced them)"
                ).format(value=value)
            )
        if len(rooms) > 1:
            raise UsageError(
                _(
                    "room topic {value!r} matches {count} rooms: {ids}; pass one of these wxids instead"
                ).format(value=value, count=len(rooms), ids=", ".join(room.wxid for room in rooms))
            )
        return rooms[0]

    def _active_room(self, session: Session, value: str) -> Room:
        room = self.resolve_room(session, value)
        if not room.active:
            raise UsageError(
                _(
                    "room {value!r} is inactive because the bot is no longer a member; choose another room"
                ).format(value=value)
            )
        return room

    def _require_known_member(self, session: Session, wxid: str) -> None:
        known = session.execute(select(col(Contact.id)).where(col(Contact.wxid) == wxid)).first()
        if known is None:
            known = session.execute(
                select(col(RoomMember.id)).where(col(RoomMember.contact_wxid) == wxid).limit(1)
            ).first()
        if known is None:
            raise UsageError(
                _(
                    "contact {value!r} not found: give a contact wxid; list contacts with `repe contact list`"
                ).format(value=wxid)
            )

    def _room_topics(self, session: Session, wxids: list[str]) -> dict[str, str]:
        if not wxids:
            return {}
        rows = session.execute(select(col(Room.wxid), col(Room.topic)).where(col(Room.wxid).in_(wxids))).all()
        return {wxid: topic for wxid, topic in rows}

    # -- activities ---------------------------------------------------------------------------------

    def _activity_view(
        self, session: Session, activity: Activity, *, topic: str | None = None, detail: bool = False
    ) -> ActivityView:
        assert activity.id is not None
        if topic is None:
            topic = (
                self._room_topics(session, [activity.room_wxid]).get(activity.room_wxid, "")
                if activity.room_wxid
                else ""
            )
        periods: list[PeriodView] = []
        escrow = ledger.balance(session, ledger.escrow_key(activity.id))
        if detail:
            rows = session.execute(
                select(ActivityPeriod)
                .where(col(ActivityPeriod.activity_id) == activity.id)
                .order_by(col(ActivityPeriod.period))
            ).scalars()
            periods = [PeriodView(p.period, p.joined_count, p.funded, p.paid, p.settled) for p in rows]
        funder_name = ""
        if activity.funder_wxid:
            funder_name = directory.display_names(
                session, [activity.funder_wxid], activity.room_wxid, self.settings.templates.unnamed
            )[activity.funder_wxid]
        return ActivityView(
            id=activity.id,
            name=activity.name,
            status=activity.status,
            kind=activity.kind,
            room_wxid=activity.room_wxid,
            room_topic=topic,
            passphrase=activity.passphrase_display,
            announcement=activity.announcement,
            capacity=activity.capacity,
            reward_mode=activity.reward_mode,
            reward_amount=activity.reward_amount,
            budget=activity.budget,
            pool=activity.pool,
            points_required=activity.points_required,
            points_cost=activity.points_cost,
            funder_wxid=activity.funder_wxid,
            deadline_at=self._local_or_none(activity.deadline_at),
            created_by=activity.created_by,
            created_at=self._local(activity.created_at),
            closed_at=self._local_or_none(activity.closed_at),
            close_reason=activity.close_reason,
            joined_total=activity.joined_total,
            paid_total=activity.paid_total,
            escrow_balance=escrow,
            periods=periods,
            funder_name=funder_name,
        )

    def _get_activity(self, session: Session, activity_id: int) -> Activity:
        activity = session.get(Activity, activity_id)
        if activity is None:
            raise UsageError(
                _("activity #{id} not found; list activities with `repe activity list`").format(
                    id=activity_id
                )
            )
        return activity

    def create_activity(self, request: ActivityRequest) -> ActivityView:
        """Create an activity; for a room activity its announcement is queued in the same transaction."""
        now = self.clock()
        deadline = parse_deadline(request.deadline, now, self.zone) if request.deadline else None
        with session_scope(self.engine) as session:
            room_wxid = self._active_room(session, request.room).wxid if request.room else None
            if request.funder:
                self._require_known_member(session, request.funder)
            spec = ActivitySpec(
                name=request.name,
                passphrase=request.passphrase,
                kind=request.kind,
                room_wxid=room_wxid,
                announcement=request.announcement,
                capacity=request.capacity,
                reward_mode=request.reward_mode,
                reward_amount=request.amount,
                budget=request.budget,
                pool=request.pool,
                points_required=request.required,
                points_cost=request.cost,
                deadline_at=deadline,
                funder_wxid=request.funder or None,
                created_by=request.created_by,
            )
            try:
                activity = self.activities.create(session, spec, now)
            except ledger.InsufficientBalance as error:
                raise UsageError(
                    _(
                        "funder {wxid} holds {balance} points but the activity needs {amount} up front; "
                        "grant points first or lower the pool or budget"
                    ).format(wxid=request.funder, balance=error.balance, amount=error.amount)
                ) from None
            return self._activity_view(session, activity, detail=True)

    def list_activities(self, status: str = "open", room: str | None = None) -> list[ActivityView]:
        _check_choice(status, ACTIVITY_STATUSES, "--status")
        with session_scope(self.engine) as session:
            query = select(Activity).order_by(col(Activity.id).desc())
            if status != "all":
                query = query.where(col(Activity.status) == status)
            if room is not None:
                query = query.where(col(Activity.room_wxid) == self.resolve_room(session, room).wxid)
            activities = list(session.execute(query).scalars())
            topics = self._room_topics(session, sorted({a.room_wxid for a in activities if a.room_wxid}))
            return [
                self._activity_view(session, activity, topic=topics.get(activity.room_wxid or "", ""))
                for activity in activities
            ]

    def show_activity(self, activity_id: int) -> ActivityView:
        with session_scope(self.engine) as session:
            return self._activity_view(session, self._get_activity(session, activity_id), detail=True)

    def activity_entries(self, activity_id: int) -> list[EntryView]:
        with session_scope(self.engine) as session:
            activity = self._get_activity(session, activity_id)
            entries = list(
                session.execute(
                    select(ActivityEntry)
                    .where(col(ActivityEntry.activity_id) == activity_id)
                    .order_by(col(ActivityEntry.period), col(ActivityEntry.seq))
                ).scalars()
            )
            names = directory.display_names(
                session,
                [e.contact_wxid for e in entries],
                activity.room_wxid,
                self.settings.templates.unnamed,
            )
            return [
                EntryView(
                    e.seq,
                    e.period,
                    e.contact_wxid,
                    names[e.contact_wxid],
                    e.reward,
                    e.cost,
                    self._local(e.joined_at),
                )
                for e in entries
            ]

    def close_activity(self, activity_id: int) -> tuple[ActivityView, int]:
        """Close an open activity as the admin; return it and the points refunded from escrow."""
        with session_scope(self.engine) as session:
            refund = self.activities.close_by_id(session, activity_id, "admin", self.clock())
            return self._activity_view(session, self._get_activity(session, activity_id), detail=True), refund

    # -- tasks --------------------------------------------------------------------------------------

    def _targets(self, session: Session, rooms: list[str], contacts: list[str]) -> list[Target]:
        targets = [Target("room", self._active_room(session, room).wxid) for room in rooms]
        for wxid in contacts:
            self._require_known_member(session, wxid)
            targets.append(Target("contact", wxid))
        return list(dict.fromkeys(targets))

    def _task_view(self, session: Session, task: BotTask) -> TaskView:
        assert task.id is not None
        targets = parse_targets(task.targets)
        topics = self._room_topics(session, [t.wxid for t in targets if t.kind == "room"])
        contacts = [t.wxid for t in targets if t.kind == "contact"]
        names = directory.display_names(session, contacts, None, self.settings.templates.unnamed)
        return TaskView(
            id=task.id,
            name=task.name,
            kind=task.kind,
            status=task.status,
            text=task.text,
            run_at=self._local_or_none(task.run_at),
            time_of_day=task.time_of_day,
            cron=task.cron,
            targets=[
                TargetView(t.kind, t.wxid, topics.get(t.wxid, "") if t.kind == "room" else names[t.wxid])
                for t in targets
            ],
            next_run_at=self._local_or_none(task.next_run_at),
            last_slot=self._local_or_none(task.last_slot),
            created_by=task.created_by,
            created_at=self._local(task.created_at),
            updated_at=self._local(task.updated_at),
        )

    def _get_task(self, session: Session, task_id: int) -> BotTask:
        task = session.get(BotTask, task_id)
        if task is None:
            raise UsageError(_("task #{id} not found; list tasks with `repe task list`").format(id=task_id))
        return task

    @staticmethod
    def _reject_foreign_options(kind: str, at: str | None, time: str | None, cron: str | None) -> None:
        """Reject a schedule option that does not belong to the task kind, instead of ignoring it."""
        for option, value, owner in (
            ("--at", at, "once"),
            ("--time", time, "daily"),
            ("--cron", cron, "cron"),
        ):
            if value is not None and kind != owner:
                raise UsageError(
                    _("option {option} applies only to {owner} tasks, not to a {kind} task").format(
                        option=option, owner=owner, kind=kind
                    )
                )

    def create_task(self, request: TaskRequest) -> TaskView:
        now = self.clock()
        _check_choice(request.kind, TASK_KINDS, "--kind")
        self._reject_foreign_options(request.kind, request.at, request.time, request.cron)
        if request.kind == "daily" and request.time is None:
            raise UsageError(_("a daily task needs --time, for example --time 08:30"))
        if request.kind == "cron" and request.cron is None:
            raise UsageError(_("a cron task needs --cron, for example --cron '0 9 * * 1'"))
        run_at = parse_deadline(request.at, now, self.zone) if request.at else None
        time_of_day = parse_time_of_day(request.time) if request.time is not None else ""
        with session_scope(self.engine) as session:
            spec = TaskSpec(
                kind=request.kind,
                text=request.text,
                targets=self._targets(session, request.rooms, request.contacts),
                name=request.name,
                run_at=run_at,
                time_of_day=time_of_day,
                cron=(request.cron or "").strip(),
                created_by=request.created_by,
            )
            task = self.scheduler.create(session, spec, now)
            return self._task_view(session, task)

    def list_tasks(self, status: str = "active") -> list[TaskView]:
        _check_choice(status, TASK_STATUSES, "--status")
        with session_scope(self.engine) as session:
            query = select(BotTask).order_by(col(BotTask.id).desc())
            if status != "all":
                query = query.where(col(BotTask.status) == status)
            return [self._task_view(session, task) for task in session.execute(query).scalars()]

    def show_task(self, task_id: int) -> TaskView:
        with session_scope(self.engine) as session:
            return self._task_view(session, self._get_task(session, task_id))

    def edit_task(
        self,
        task_id: int,
        *,
        text: str | None = None,
        name: str | None = None,
        at: str | None = None,
        time: str | None = None,
        cron: str | None = None,
        rooms: list[str] | None = None,
        contacts: list[str] | None = None,
    ) -> TaskView:
        """Change an active task's text, name, schedule or targets and recompute its next run.

        Giving rooms or contacts replaces the whole target list.
        """
        if all(option is None for option in (text, name, at, time, cron)) and not rooms and not contacts:
            raise UsageError(
                _("nothing to change for task #{id}: give at least one of --text, --name, --at, --time, "
                  "--cron, --room or --contact").format(id=task_id)
            )
        now = self.clock()
        with session_scope(self.engine) as session:
            task = self._get_task(session, task_id)
            if task.status != "active":
                raise UsageError(
                    _("task #{id} is {status}; only active tasks can be edited").format(
                        id=task_id, status=task.status
                    )
                )
            self._reject_foreign_options(task.kind, at, time, cron)

            targets = parse_targets(task.targets)
            if rooms or contacts:
                targets = self._targets(session, rooms or [], contacts or [])
            run_at = parse_deadline(at, now, self.zone) if at is not None else task.run_at
            spec = TaskSpec(
                # A once task whose time is unchanged keeps its stored time even if it is already due,
                # so only the checks of the "now" kind (text and targets) apply to it.
                kind="now" if task.kind in ("now", "once") and at is None else task.kind,
                text=task.text if text is None else text,
                targets=targets,
                run_at=run_at,
                time_of_day=parse_time_of_day(time) if time is not None else task.time_of_day,
                cron=task.cron if cron is None else cron.strip(),
            )
            validate_task(spec, now, self.zone)

            task.text = spec.text
            task.targets = json.dumps([t.to_json() for t in targets], ensure_ascii=False)
            task.time_of_day = spec.time_of_day
            task.cron = spec.cron
            if name is not None:
                task.name = name
            if at is not None:
                task.run_at = run_at
            self.scheduler.reschedule(task, now)
            session.add(task)
            session.flush()
            return self._task_view(session, task)

    def cancel_task(self, task_id: int) -> TaskView:
        now = self.clock()
        with session_scope(self.engine) as session:
            task = self._get_task(session, task_id)
            if task.status != "active":
                raise UsageError(_("task #{id} is already {status}").format(id=task_id, status=task.status))
            task.status = "cancelled"
            task.next_run_at = None
            task.updated_at = now
            session.add(task)
            session.flush()
            return self._task_view(session, task)

    def delete_task(self, task_id: int) -> None:
        with session_scope(self.engine) as session:
            self._get_task(session, task_id)
            session.execute(delete(BotTask).where(col(BotTask.id) == task_id))

    # -- contacts and rooms -------------------------------------------------------------------------

    def _contact_view(self, contact: Contact, balance: int) -> ContactView:
        return ContactView(
            wxid=contact.wxid,
            name=contact.name,
            display_name=contact.name if contact.name.strip() else self._unnamed(contact.wxid),
            alias=contact.alias,
            is_friend=contact.is_friend,
            balance=balance,
            updated_at=self._local(contact.updated_at),
        )

    def _balances(self, session: Session, wxids: list[str]) -> dict[str, int]:
        if not wxids:
            return {}
        keys = {ledger.member_key(wxid): wxid for wxid in wxids}
        rows = session.execute(
            select(col(Account.key), col(Account.balance)).where(col(Account.key).in_(keys))
        )
        return {keys[key]: balance for key, balance in rows}

    def list_contacts(self, search: str | None = None, limit: int | None = None) -> list[ContactView]:
        """List contacts by wxid; ``search`` matches a substring of the wxid, name or alias, ignoring case."""
        if limit is not None and limit < 1:
            raise UsageError(
                _("invalid limit {value!r}: use a whole number of 1 or more").format(value=limit)
            )
        with session_scope(self.engine) as session:
            query = select(Contact).order_by(col(Contact.wxid))
            if search:
                pattern = f"%{search.lower()}%"
                query = query.where(
                    or_(
                        func.lower(Contact.wxid).like(pattern),
                        func.lower(Contact.name).like(pattern),
                        func.lower(Contact.alias).like(pattern),
                    )
                )
            if limit is not None:
                query = query.limit(limit)
            contacts = list(session.execute(query).scalars())
            balances = self._balances(session, [c.wxid for c in contacts])
            return [self._contact_view(c, balances.get(c.wxid, 0)) for c in contacts]

    def show_contact(self, wxid: str) -> ContactDetail:
        with session_scope(self.engine) as session:
            contact = session.execute(select(Contact).where(col(Contact.wxid) == wxid)).scalars().first()
            if contact is None:
                raise UsageError(
                    _(
                        "contact {value!r} not found: give a contact wxid; "
                        "list contacts with `repe contact list`"
                    ).format(value=wxid)
                )
            memberships = session.execute(
                select(col(RoomMember.room_wxid), col(Room.topic), col(RoomMember.display_name))
                .join(Room, col(Room.wxid) == col(RoomMember.room_wxid), isouter=True)
                .where(col(RoomMember.contact_wxid) == wxid)
                .order_by(col(RoomMember.room_wxid))
            ).all()
            entries = (
                session.execute(
                    select(func.count()).where(col(ActivityEntry.contact_wxid) == wxid)
                ).scalar()
                or 0
            )
            balance = ledger.balance(session, ledger.member_key(wxid))
            return ContactDetail(
                contact=self._contact_view(contact, balance),
                rooms=[MembershipView(room, topic or "", name) for room, topic, name in memberships],
                entries=int(entries),
            )

    def _room_view(self, room: Room) -> RoomView:
        return RoomView(
            room.wxid, room.topic, room.remark, room.active, room.member_count, self._local(room.updated_at)
        )

    def list_rooms(self, search: str | None = None, include_inactive: bool = False) -> list[RoomView]:
        with session_scope(self.engine) as session:
            query = select(Room).order_by(col(Room.topic), col(Room.wxid))
            if not include_inactive:
                query = query.where(col(Room.active).is_(True))
            if search:
                pattern = f"%{search.lower()}%"
                query = query.where(
                    or_(
                        func.lower(Room.wxid).like(pattern),
                        func.lower(Room.topic).like(pattern),
                        func.lower(Room.remark).like(pattern),
                    )
                )
            return [self._room_view(room) for room in session.execute(query).scalars()]

    def show_room(self, value: str) -> RoomDetail:
        with session_scope(self.engine) as session:
            room = self.resolve_room(session, value)
            rows = session.execute(
                select(col(RoomMember.contact_wxid), col(RoomMember.display_name), col(Contact.name))
                .join(Contact, col(Contact.wxid) == col(RoomMember.contact_wxid), isouter=True)
                .where(col(RoomMember.room_wxid) == room.wxid)
                .order_by(col(RoomMember.id))
            ).all()
            members = []
            for wxid, room_name, contact_name in rows:
                name = room_name if room_name.strip() else (contact_name or "")
                members.append(
                    MemberView(
                        wxid, name if name.strip() else self._unnamed(wxid), room_name, contact_name or ""
                    )
                )
            open_count = (
                session.execute(
                    select(func.count()).where(
                        col(Activity.room_wxid) == room.wxid, col(Activity.status) == "open"
                    )
                ).scalar()
                or 0
            )
            return RoomDetail(self._room_view(room), members, int(open_count))

    def set_room_remark(self, value: str, remark: str) -> RoomView:
        """Set the admin's note on a room; an empty remark clears it."""
        with session_scope(self.engine) as session:
            room = self.resolve_room(session, value)
            room.remark = remark.strip()
            session.add(room)
            session.flush()
            return self._room_view(room)

    # -- points -------------------------------------------------------------------------------------

    def _member_name(self, session: Session, wxid: str) -> str:
        return directory.display_names(session, [wxid], None, self.settings.templates.unnamed)[wxid]

    def points_balance(self, wxid: str) -> BalanceView:
        with session_scope(self.engine) as session:
            return BalanceView(
                wxid, self._member_name(session, wxid), ledger.balance(session, ledger.member_key(wxid))
            )

    def _change_points(self, wxid: str, amount: int, memo: str, key: str | None, grant: bool) -> PointsChange:
        if isinstance(amount, bool) or not isinstance(amount, int) or not 1 <= amount <= models.MAX_POINTS:
            raise UsageError(
                _("invalid amount {value!r}: use a whole number from 1 to {maximum}").format(
                    value=amount, maximum=models.MAX_POINTS
                )
            )
        if not memo.strip():
            raise UsageError(_("--reason is empty; say why, for example --reason 'event prize'"))
        if key is not None and not key.strip():
            raise UsageError(_("--key is empty; omit it to get a fresh key or give a non-empty one"))
        key = key.strip() if key else uuid.uuid4().hex
        member = ledger.member_key(wxid)
        from_key, to_key = (ledger.TREASURY_KEY, member) if grant else (member, ledger.TREASURY_KEY)
        transfer_key = ADMIN_KEY_PREFIX + key

        with session_scope(self.engine) as session:
            self._require_known_member(session, wxid)
            previous = session.execute(
                select(col(Account.key), col(LedgerEntry.delta))
                .join(Account, col(Account.id) == col(LedgerEntry.account_id))
                .where(col(LedgerEntry.transfer_key) == transfer_key)
            ).all()
            if previous:
                if sorted(previous) != sorted([(from_key, -amount), (to_key, amount)]):
                    raise UsageError(
                        _("key {key!r} was already used for a different points change; use a new key").format(
                            key=key
                        )
                    )
                return PointsChange(False, wxid, amount, ledger.balance(session, member), key)
            try:
                ledger.transfer(
                    session,
                    from_key=from_key,
                    to_key=to_key,
                    amount=amount,
                    reason=GRANT_REASON if grant else REVOKE_REASON,
                    idempotency_key=transfer_key,
                    now=self.clock(),
                    memo=memo.strip(),
                )
            except ledger.InsufficientBalance as error:
                raise UsageError(
                    _(
                        "cannot revoke {amount} points: {wxid} holds only {balance}; revoke at most {balance}"
                    ).format(amount=amount, wxid=wxid, balance=error.balance)
                ) from None
            return PointsChange(True, wxid, amount, ledger.balance(session, member), key)

    def grant_points(self, wxid: str, amount: int, reason: str, key: str | None = None) -> PointsChange:
        """Move ``amount`` points from the treasury to the member, once per ``key`` (fresh when None)."""
        return self._change_points(wxid, amount, reason, key, grant=True)

    def revoke_points(self, wxid: str, amount: int, reason: str, key: str | None = None) -> PointsChange:
        """Move ``amount`` points from the member back to the treasury; never below a zero balance."""
        return self._change_points(wxid, amount, reason, key, grant=False)

    def points_history(self, wxid: str, limit: int = 20) -> list[HistoryRow]:
        """Return the member's newest ledger entries first."""
        if limit < 1:
            raise UsageError(
                _("invalid limit {value!r}: use a whole number of 1 or more").format(value=limit)
            )
        with session_scope(self.engine) as session:
            has_account = session.execute(
                select(col(Account.id)).where(col(Account.key) == ledger.member_key(wxid))
            ).first()
            if has_account is None:
                self._require_known_member(session, wxid)
            rows = session.execute(
                select(LedgerEntry)
                .join(Account, col(Account.id) == col(LedgerEntry.account_id))
                .where(col(Account.key) == ledger.member_key(wxid))
                .order_by(col(LedgerEntry.id).desc())
                .limit(limit)
            ).scalars()
            return [
                HistoryRow(
                    int(e.id or 0),
                    self._local(e.created_at),
                    e.delta,
                    e.balance_after,
                    e.reason,
                    e.memo,
                    e.activity_id,
                )
                for e in rows
            ]

    def verify_ledger(self) -> list[str]:
        with session_scope(self.engine) as session:
            return ledger.verify(session)

    # -- member statistics --------------------------------------------------------------------------

    def _week_start(self, now: datetime) -> datetime:
        """Return the UTC start of this week's Monday activity day, as the chat leaderboard counts it."""
        return self.activities.day.week_start(now)

    def points_leaderboard(
        self, room: str | None = None, by: str | None = None, limit: int | None = None
    ) -> LeaderboardView:
        """Rank members the way the 排行榜 chat command does. Equal scores share a rank and 0 is left out.

        ``room`` (wxid or exact topic) ranks that room's members the way the chat command does; None
        ranks every contact with a member account. ``by`` and ``limit`` default to the configured
        ``leaderboard_by`` and ``leaderboard_size``.
        """
        config = self.settings.commands
        by = config.leaderboard_by if by is None else by
        limit = config.leaderboard_size if limit is None else limit
        _check_choice(by, LEADERBOARD_KINDS, "--by")
        if limit < 1:
            raise UsageError(
                _("invalid limit {value!r}: use a whole number of 1 or more").format(value=limit)
            )
        with session_scope(self.engine) as session:
            room_wxid: str | None = None
            room_topic = ""
            if room is not None:
                found = self.resolve_room(session, room)
                room_wxid, room_topic = found.wxid, found.topic
                members = room_member_ids(session, found.wxid)
            else:
                members = list(
                    session.execute(
                        select(col(Account.contact_wxid))
                        .where(col(Account.kind) == ACCOUNT_MEMBER, col(Account.contact_wxid).is_not(None))
                        .order_by(col(Account.contact_wxid))
                    ).scalars()
                )

            since: datetime | None = None
            if by == "week":
                since = self._week_start(self.clock())
                scores = points_earned_since(session, members, since)
            else:
                scores = member_balances(session, members)
            positive = {wxid: score for wxid, score in scores.items() if score > 0}
            top = competition_ranks(positive)[:limit]
            names = directory.display_names(
                session, [wxid for _rank, wxid, _score in top], room_wxid, self.settings.templates.unnamed
            )
            return LeaderboardView(
                by=by,
                room_wxid=room_wxid,
                room_topic=room_topic,
                since=self._local_or_none(since),
                members=len(members),
                rows=[RankView(rank, wxid, names[wxid], score) for rank, wxid, score in top],
            )

    def _parse_day(self, value: str | None) -> date:
        if value is None:
            return self.activities.day.day_of(self.clock())
        try:
            return datetime.strptime(value.strip(), "%Y-%m-%d").date()
        except ValueError:
            raise UsageError(
                _(
                    "invalid --day {value!r}: use a date in the form YYYY-MM-DD, for example 2026-12-24"
                ).format(value=value)
            ) from None

    def checkin_stats(
        self, day: str | None = None, room: str | None = None, top: int = 5
    ) -> CheckinStatsView:
        """Count the check-ins of activity day ``day`` (today by default) and the days before it.

        ``room`` keeps only check-ins sent in that room. A streak is current when the member checked in
        on ``day`` or on the day before, because the member can still extend it on ``day``. The
        streak value is the stored one, so it counts check-ins in every room and in private chat.
        """
        selected = self._parse_day(day)
        if top < 1:
            raise UsageError(_("invalid --top {value!r}: use a whole number of 1 or more").format(value=top))
        first = (selected - timedelta(days=CHECKIN_HISTORY_DAYS - 1)).isoformat()
        previous = (selected - timedelta(days=1)).isoformat()
        with session_scope(self.engine) as session:
            room_wxid: str | None = None
            room_topic = ""
            if room is not None:
                found = self.resolve_room(session, room)
                room_wxid, room_topic = found.wxid, found.topic

            query = select(
                col(CheckIn.day), func.count(), func.sum(col(CheckIn.points)), func.sum(col(CheckIn.bonus))
            ).where(col(CheckIn.day) >= first, col(CheckIn.day) <= selected.isoformat())
            if room_wxid is not None:
                query = query.where(col(CheckIn.room_wxid) == room_wxid)
            totals = {
                row_day: CheckinDayView(row_day, int(count), int(points or 0), int(bonus or 0))
                for row_day, count, points, bonus in session.execute(query.group_by(col(CheckIn.day))).all()
            }
            history = []
            for offset in range(CHECKIN_HISTORY_DAYS):
                key = (selected - timedelta(days=offset)).isoformat()
                history.append(totals.get(key, CheckinDayView(key, 0, 0, 0)))

            # Each member's latest check-in on the day or the day before is picked from every room first,
            # so a check-in elsewhere on the day replaces yesterday's row before the room filter applies.
            latest: dict[str, CheckIn] = {}
            rows = session.execute(
                select(CheckIn)
                .where(col(CheckIn.day).in_([previous, selected.isoformat()]))
                .order_by(col(CheckIn.day))
            ).scalars()
            for row in rows:
                latest[row.contact_wxid] = row
            current = {
                wxid: row for wxid, row in latest.items() if room_wxid is None or row.room_wxid == room_wxid
            }
            ranked = competition_ranks({wxid: row.streak for wxid, row in current.items()})[:top]
            names = directory.display_names(
                session, [wxid for _rank, wxid, _streak in ranked], room_wxid, self.settings.templates.unnamed
            )
            summary = history[0]
            return CheckinStatsView(
                day=summary.day,
                room_wxid=room_wxid,
                room_topic=room_topic,
                members=summary.members,
                points=summary.points,
                bonus=summary.bonus,
                streaks=[
                    StreakView(rank, wxid, names[wxid], streak, current[wxid].day)
                    for rank, wxid, streak in ranked
                ],
                history=history,
            )


    # -- outbox ---------------------------------------------------------------------------------------

    def list_outbox(self, status: str | None = None, limit: int = 50) -> list[OutboxView]:
        """Return the newest outbox rows, optionally of one status, newest first."""
        if status is not None and status not in OUTBOX_STATUSES:
            raise UsageError(
                _("invalid status {value!r}: use one of {choices}").format(
                    value=status, choices=", ".join(OUTBOX_STATUSES)
                )
            )
        if limit < 1:
            raise UsageError(_("invalid limit {value!r}: use a whole number of 1 or more").format(value=limit))
        with session_scope(self.engine) as session:
            query = select(OutboxMessage).order_by(col(OutboxMessage.id).desc()).limit(limit)
            if status is not None:
                query = query.where(col(OutboxMessage.status) == status)
            return [
                OutboxView(
                    int(row.id or 0), row.status, row.kind, row.conversation_wxid, row.text, row.attempts,
                    self._local(row.not_before), self._local_or_none(row.sent_at), row.error,
                )
                for row in session.execute(query).scalars()
            ]


    def retry_outbox(self, row_ids: list[int] | None) -> int:
        """Requeue failed outbox rows (the given ids, or all failed rows); return how many were requeued."""
        with session_scope(self.engine) as session:
            if row_ids:
                found = dict(
                    session.execute(
                        select(col(OutboxMessage.id), col(OutboxMessage.status)).where(
                            col(OutboxMessage.id).in_(row_ids)
                        )
                    ).all()
                )
                for row_id in row_ids:
                    if row_id not in found:
                        raise UsageError(
                            _("outbox row #{id} not found; list rows with `repe outbox list`").format(id=row_id)
                        )
                    if found[row_id] != outbox.FAILED:
                        raise UsageError(
                            _("outbox row #{id} is {status}; only failed rows can be retried").format(
                                id=row_id, status=found[row_id]
                            )
                        )
            return outbox.requeue_failed(session, self.clock(), row_ids or None)
