"""Activity engine: create, join, close and expire passphrase activities.

Each public method runs inside the caller's transaction, so a join's checks, entry, ledger
entries, counters and outbox rows commit together or not at all.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, replace
from datetime import datetime, timezone, tzinfo
from typing import Literal

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from repe_bot import directory, ledger, outbox, split
from repe_bot.clock import ActivityDay, as_utc
from repe_bot.config import Settings, Templates
from repe_bot.db import plain_sql
from repe_bot.db.models import MAX_CAPACITY, MAX_POINTS, TREASURY_KEY, Activity, ActivityEntry, ActivityPeriod
from repe_bot.i18n import _
from repe_bot.text import normalize

log = logging.getLogger(__name__)

KINDS = ("once", "daily", "long")
REWARD_MODES = ("none", "fixed", "equal", "random")
SUMMARY_MAX_LINES = 50


class UsageError(ValueError):
    """Invalid input from an admin or a member; the message names the value and the fix."""


@dataclass
class ActivitySpec:
    name: str
    passphrase: str
    kind: str = "once"
    room_wxid: str | None = None
    announcement: str = ""
    capacity: int = 0
    reward_mode: str = "none"
    reward_amount: int = 0
    budget: int = 0
    pool: int = 0
    points_required: int = 0
    points_cost: int = 0
    deadline_at: datetime | None = None
    funder_wxid: str | None = None
    created_by: str = ""


JoinStatus = Literal["joined", "already", "full", "insufficient", "closed"]


@dataclass(frozen=True)
class JoinResult:
    status: JoinStatus
    activity_id: int
    entry_id: int | None = None
    reward: int = 0
    cost: int = 0
    balance: int = 0


@dataclass(frozen=True)
class OpenActivity:
    """The columns of an open activity that a join reads, loaded with one plain SELECT.

    Passphrase joins use it in place of the ORM ``Activity``, which is loaded only when the join
    closes the activity.
    """

    id: int
    name: str
    room_wxid: str | None
    kind: str
    capacity: int
    reward_mode: str
    reward_amount: int
    budget: int
    pool: int
    points_required: int
    points_cost: int
    funder_wxid: str | None
    deadline_at: datetime | None
    status: str


# Argument type of ActivityEngine.join: the ORM object or the plain row of an open activity.
JoinTarget = Activity | OpenActivity


@dataclass(frozen=True)
class PeriodCounters:
    """The counters of one activity period as read or written in the current transaction."""

    id: int
    joined_count: int
    funded: int
    paid: int


# Built once: every passphrase message runs one of these, and building a select costs more than
# SQLite needs to run it.
_FIND_OPEN_IN_ROOM = select(Activity).where(
    col(Activity.status) == "open",
    col(Activity.passphrase) == bindparam("passphrase"),
    col(Activity.room_wxid) == bindparam("room_wxid"),
)
_FIND_OPEN_PRIVATE = select(Activity).where(
    col(Activity.status) == "open",
    col(Activity.passphrase) == bindparam("passphrase"),
    col(Activity.room_wxid).is_(None),
)

_OPEN_ACTIVITY_COLUMNS = (
    "id, name, room_wxid, kind, capacity, reward_mode, reward_amount, budget, pool, points_required,"
    " points_cost, funder_wxid, deadline_at, status"
)
_FIND_OPEN_ROW_IN_ROOM = (
    f"SELECT {_OPEN_ACTIVITY_COLUMNS} FROM activity"
    " WHERE status = 'open' AND passphrase = :passphrase AND room_wxid = :room_wxid"
)
_FIND_OPEN_ROW_PRIVATE = (
    f"SELECT {_OPEN_ACTIVITY_COLUMNS} FROM activity"
    " WHERE status = 'open' AND passphrase = :passphrase AND room_wxid IS NULL"
)

# Plain SQL of the join path; see repe_bot.db.plain_sql for why it bypasses the ORM.
_FIND_PERIOD = (
    "SELECT id, joined_count, funded, paid FROM activity_period"
    " WHERE activity_id = :activity_id AND period = :period"
)
_FIND_ENTRY = (
    "SELECT 1 FROM activity_entry WHERE activity_id = :activity_id AND contact_wxid = :contact_wxid"
    " AND period = :period"
)
# The unique constraint (activity_id, contact_wxid, period) backs the _FIND_ENTRY check.
_INSERT_ENTRY = (
    "INSERT INTO activity_entry (activity_id, contact_wxid, period, seq, reward, cost, message_id, joined_at)"
    " VALUES (:activity_id, :contact_wxid, :period, :seq, :reward, :cost, :message_id, :now) RETURNING id"
)
_COUNT_PERIOD_JOIN = (
    "UPDATE activity_period SET joined_count = joined_count + 1, paid = paid + :reward WHERE id = :id"
    " RETURNING joined_count, funded, paid"
)
_COUNT_ACTIVITY_JOIN = (
    "UPDATE activity SET joined_total = joined_total + 1, paid_total = paid_total + :reward WHERE id = :id"
    " RETURNING joined_total, paid_total"
)


def _number_fields() -> dict[str, str]:
    """Return the numeric fields of an activity with the words that name them in error messages."""
    return {
        "capacity": _("capacity"),
        "reward_amount": _("reward amount"),
        "budget": _("budget"),
        "pool": _("pool"),
        "points_required": _("required points"),
        "points_cost": _("points cost"),
    }


def validate_spec(spec: ActivitySpec, now: datetime, zone: tzinfo = timezone.utc) -> str:
    """Check an activity spec and return its normalised passphrase; raise UsageError naming the bad value."""
    if not spec.name.strip():
        raise UsageError(_("activity name is empty; give a name such as 读书会报名"))
    if spec.kind not in KINDS:
        raise UsageError(
            _("invalid kind {value!r}: use one of {choices}").format(value=spec.kind, choices=", ".join(KINDS))
        )
    if spec.reward_mode not in REWARD_MODES:
        raise UsageError(
            _("invalid reward mode {value!r}: use one of {choices}").format(
                value=spec.reward_mode, choices=", ".join(REWARD_MODES)
            )
        )
    for field_name, field_label in _number_fields().items():
        value = getattr(spec, field_name)
        maximum = MAX_CAPACITY if field_name == "capacity" else MAX_POINTS
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= maximum:
            raise UsageError(
                _("invalid {field} {value!r}: use a whole number from 0 to {maximum}").format(
                    field=field_label, value=value, maximum=maximum
                )
            )

    passphrase = normalize(spec.passphrase)
    if not passphrase:
        raise UsageError(
            _("invalid passphrase {value!r}: it must contain letters or digits "
              "besides spaces, punctuation and @mentions").format(
                value=spec.passphrase
            )
        )

    if spec.reward_mode == "fixed" and spec.reward_amount <= 0:
        raise UsageError(_("fixed reward needs a reward amount of at least 1"))
    if spec.reward_mode != "fixed" and (spec.reward_amount or spec.budget):
        raise UsageError(_("reward amount and budget apply only to the fixed reward mode"))
    if spec.reward_mode == "fixed" and spec.budget and spec.budget < spec.reward_amount:
        raise UsageError(
            _("budget {budget} is smaller than one reward of {amount}; raise the budget or set it to 0").format(
                budget=spec.budget, amount=spec.reward_amount
            )
        )
    if spec.reward_mode in ("equal", "random"):
        if spec.capacity <= 0:
            raise UsageError(_("a pool needs a capacity of at least 1, because it is split among that many members"))
        if spec.pool < spec.capacity:
            raise UsageError(
                _("pool {pool} is smaller than capacity {capacity}: every share must be at least 1 point; "
                  "raise the pool or lower the capacity").format(pool=spec.pool, capacity=spec.capacity)
            )
    elif spec.pool:
        raise UsageError(_("a pool applies only to the equal and random reward modes"))
    if spec.funder_wxid and spec.reward_mode == "fixed" and not spec.budget:
        raise UsageError(_("a member-funded fixed reward needs a budget, which is moved to escrow up front"))

    if spec.deadline_at is not None and as_utc(spec.deadline_at) <= now:
        raise UsageError(_("deadline {value} is in the past; give a later time or a duration such as 2h").format(
            value=as_utc(spec.deadline_at).astimezone(zone).strftime("%Y-%m-%d %H:%M")))
    return passphrase


class ActivityEngine:
    """Activity rules over the database; methods take the session of the caller's transaction."""

    def __init__(self, settings: Settings, rng: random.Random | None = None) -> None:
        self.settings = settings
        self.templates: Templates = settings.templates
        self.day = ActivityDay(settings.time.tzinfo, settings.time.reset_time)
        self.rng = rng or random.SystemRandom()

    # -- creation ---------------------------------------------------------------------------------

    def create(self, session: Session, spec: ActivitySpec, now: datetime) -> Activity:
        """Insert an open activity, fund its pool or budget into escrow and queue its announcement."""
        passphrase = validate_spec(spec, now, self.day.zone)
        if passphrase in self.settings.commands.normalized_words():
            raise UsageError(
                _("passphrase {value!r} is a chat command word, so members could never join with it; "
                  "choose another passphrase").format(value=spec.passphrase)
            )

        clash = self.find_open(session, spec.room_wxid, passphrase)
        if clash is not None:
            raise UsageError(
                _("passphrase {value!r} is already used by open activity #{id} {name!r} in this room; "
                  "choose another passphrase or close that activity first").format(
                    value=spec.passphrase, id=clash.id, name=clash.name)
            )

        activity = Activity(
            name=spec.name.strip(),
            announcement=spec.announcement,
            room_wxid=spec.room_wxid,
            passphrase=passphrase,
            passphrase_display=spec.passphrase.strip(),
            kind=spec.kind,
            capacity=spec.capacity,
            reward_mode=spec.reward_mode,
            reward_amount=spec.reward_amount,
            budget=spec.budget,
            pool=spec.pool,
            points_required=spec.points_required,
            points_cost=spec.points_cost,
            funder_wxid=spec.funder_wxid,
            deadline_at=as_utc(spec.deadline_at) if spec.deadline_at else None,
            created_by=spec.created_by,
            created_at=now,
        )
        session.add(activity)
        try:
            session.flush()
        except IntegrityError as error:
            raise UsageError(
                _("passphrase {value!r} is already used by an open activity in this room").format(value=spec.passphrase)
            ) from error
        assert activity.id is not None

        if activity.kind != "daily":
            self._open_period(session, activity, "", now)

        if activity.room_wxid:
            outbox.enqueue(
                session,
                conversation_wxid=activity.room_wxid,
                is_room=True,
                text=self.announcement_text(activity),
                now=now,
                kind="announce",
                dedupe_key=f"announce:{activity.id}",
            )
        log.info("activity #%s created: kind=%s room=%s passphrase=%r by %s",
                 activity.id, activity.kind, activity.room_wxid, activity.passphrase, activity.created_by)
        return activity

    def announcement_text(self, activity: Activity) -> str:
        t = self.templates
        details = ""
        if activity.kind == "daily":
            details += t.detail_daily
        if activity.capacity:
            details += t.detail_capacity.format(capacity=activity.capacity)
        if activity.reward_mode == "fixed":
            details += t.detail_fixed.format(amount=activity.reward_amount)
        elif activity.reward_mode == "equal":
            details += t.detail_pool_equal.format(pool=activity.pool, capacity=activity.capacity)
        elif activity.reward_mode == "random":
            details += t.detail_pool_random.format(pool=activity.pool, capacity=activity.capacity)
        if activity.points_required:
            details += t.detail_required.format(required=activity.points_required)
        if activity.points_cost:
            details += t.detail_cost.format(cost=activity.points_cost)
        if activity.deadline_at:
            local = self.day.local(activity.deadline_at)
            details += t.detail_deadline.format(deadline=local.strftime("%m-%d %H:%M"))
        return t.announcement.format(
            activity=activity.name,
            announcement=activity.announcement,
            passphrase=activity.passphrase_display,
            details=details,
        )

    # -- lookups ----------------------------------------------------------------------------------

    def find_open(self, session: Session, room_wxid: str | None, passphrase: str) -> Activity | None:
        """Return the open activity of ``room_wxid`` (None: private) whose normalised passphrase matches."""
        if room_wxid is None:
            found = session.execute(_FIND_OPEN_PRIVATE, {"passphrase": passphrase})
        else:
            found = session.execute(_FIND_OPEN_IN_ROOM, {"passphrase": passphrase, "room_wxid": room_wxid})
        return found.scalars().first()

    def find_open_row(self, session: Session, room_wxid: str | None, passphrase: str) -> OpenActivity | None:
        """Return the same activity as ``find_open`` as an OpenActivity, without the ORM."""
        if room_wxid is None:
            rows = plain_sql.fetch(session, _FIND_OPEN_ROW_PRIVATE, {"passphrase": passphrase})
        else:
            rows = plain_sql.fetch(session, _FIND_OPEN_ROW_IN_ROOM, {"passphrase": passphrase, "room_wxid": room_wxid})
        if not rows:
            return None
        row = OpenActivity(*rows[0])
        return replace(row, deadline_at=plain_sql.read_datetime(row.deadline_at))

    def _orm_activity(self, session: Session, activity: JoinTarget) -> Activity:
        """Return the ORM object of ``activity``, loading it when only the plain row is at hand."""
        if isinstance(activity, Activity):
            return activity
        loaded = session.get(Activity, activity.id)
        assert loaded is not None, "an activity row read in this transaction still exists"
        return loaded

    def period_for(self, activity: JoinTarget, now: datetime) -> str:
        return self.day.period_of(now) if activity.kind == "daily" else ""

    # -- periods and escrow -----------------------------------------------------------------------

    def _period_funding(self, activity: JoinTarget) -> int:
        if activity.reward_mode in ("equal", "random"):
            return activity.pool
        if activity.reward_mode == "fixed" and activity.budget:
            return activity.budget
        return 0

    def _open_period(self, session: Session, activity: JoinTarget, period: str, now: datetime) -> ActivityPeriod:
        """Return the counters of ``period``, creating them and funding escrow on first use."""
        existing = session.execute(
            select(ActivityPeriod).where(
                col(ActivityPeriod.activity_id) == activity.id, col(ActivityPeriod.period) == period
            )
        ).scalars().first()
        if existing is not None:
            return existing

        assert activity.id is not None
        funding = self._period_funding(activity)
        if funding:
            ledger.transfer(
                session,
                from_key=ledger.funder_key(activity.funder_wxid),
                to_key=ledger.escrow_key(activity.id),
                amount=funding,
                reason="activity_fund",
                idempotency_key=f"fund:{activity.id}:{period}",
                now=now,
                activity_id=activity.id,
            )
        counters = ActivityPeriod(activity_id=activity.id, period=period, funded=funding, opened_at=now)
        session.add(counters)
        session.flush()
        return counters

    def _settle_period(self, session: Session, activity: Activity, counters: ActivityPeriod, now: datetime) -> int:
        """Return the unpaid part of a period's funding to the funder; return the refund."""
        if counters.settled:
            return 0
        assert activity.id is not None
        # A fixed reward without a budget is paid by the funder directly. Nothing was funded then,
        # so paid exceeds funded and there is nothing to refund.
        refund = max(counters.funded - counters.paid, 0)
        if refund > 0:
            ledger.transfer(
                session,
                from_key=ledger.escrow_key(activity.id),
                to_key=ledger.funder_key(activity.funder_wxid),
                amount=refund,
                reason="activity_refund",
                idempotency_key=f"refund:{activity.id}:{counters.period}",
                now=now,
                activity_id=activity.id,
            )
        counters.settled = True
        session.add(counters)
        return refund

    # -- joining ----------------------------------------------------------------------------------

    def join(
        self,
        session: Session,
        activity: JoinTarget,
        contact_wxid: str,
        now: datetime,
        *,
        contact_name: str = "",
        message_id: str = "",
    ) -> JoinResult:
        """Join ``contact_wxid`` to ``activity``: checks, entry, cost, reward, counters and replies."""
        assert activity.id is not None
        directory.ensure_contact(session, contact_wxid, contact_name, now)

        if activity.status != "open":
            return self._reject(session, activity, contact_wxid, "closed", now)
        if activity.deadline_at is not None and as_utc(activity.deadline_at) <= now:
            self.close(session, self._orm_activity(session, activity), "deadline", now)
            return self._reject(session, activity, contact_wxid, "closed", now)

        period = self.period_for(activity, now)
        counters = self._period_counters(session, activity, period, now)

        already = plain_sql.fetch(
            session, _FIND_ENTRY, {"activity_id": activity.id, "contact_wxid": contact_wxid, "period": period}
        )
        if already:
            return self._reject(session, activity, contact_wxid, "already", now)
        if activity.capacity and counters.joined_count >= activity.capacity:
            return self._reject(session, activity, contact_wxid, "full", now)
        if self._budget_spent(activity, counters):
            # Only a daily activity gets here: the others close as soon as the budget runs out.
            return self._reject(session, activity, contact_wxid, "full", now)

        member = ledger.member_key(contact_wxid)
        balance = ledger.balance(session, member)
        if balance < activity.points_required or balance < activity.points_cost:
            return self._reject(session, activity, contact_wxid, "insufficient", now, balance=balance)

        reward = self._next_reward(activity, counters)
        seq = counters.joined_count + 1
        entry_id = int(
            plain_sql.fetch(
                session,
                _INSERT_ENTRY,
                {"activity_id": activity.id, "contact_wxid": contact_wxid, "period": period, "seq": seq,
                 "reward": reward, "cost": activity.points_cost, "message_id": message_id, "now": now},
            )[0][0]
        )

        entry_key = f"{activity.id}:{period}:{contact_wxid}"
        # The member's balance after the join comes from the last transfer that touched it.
        new_balance: int | None = balance
        if activity.points_cost:
            paid = ledger.transfer(
                session, from_key=member, to_key=TREASURY_KEY,
                amount=activity.points_cost, reason="join_cost", idempotency_key=f"cost:{entry_key}",
                now=now, activity_id=activity.id, entry_id=entry_id,
            )
            new_balance = paid.from_balance
        if reward:
            source = ledger.escrow_key(activity.id) if counters.funded else ledger.funder_key(activity.funder_wxid)
            rewarded = ledger.transfer(
                session, from_key=source, to_key=member, amount=reward, reason="join_reward",
                idempotency_key=f"reward:{entry_key}", now=now, activity_id=activity.id, entry_id=entry_id,
            )
            new_balance = rewarded.to_balance
        if new_balance is None:
            # A transfer key was applied before (possible only if an earlier entry was deleted).
            new_balance = ledger.balance(session, member)

        counters = self._count_join(session, activity, counters, reward)
        self._queue_confirmation(session, activity, contact_wxid, contact_name, seq, reward, now, entry_id)
        self._close_if_exhausted(session, activity, counters, now)
        return JoinResult("joined", activity.id, entry_id, reward, activity.points_cost, new_balance)

    def _period_counters(
        self, session: Session, activity: JoinTarget, period: str, now: datetime
    ) -> PeriodCounters:
        """Return the counters of ``period``, creating them through ``_open_period`` on first use."""
        rows = plain_sql.fetch(session, _FIND_PERIOD, {"activity_id": activity.id, "period": period})
        if rows:
            return PeriodCounters(*rows[0])
        created = self._open_period(session, activity, period, now)
        assert created.id is not None
        return PeriodCounters(created.id, created.joined_count, created.funded, created.paid)

    def _count_join(
        self, session: Session, activity: JoinTarget, counters: PeriodCounters, reward: int
    ) -> PeriodCounters:
        """Add one join and ``reward`` to the period and activity counters; return the period's new counters."""
        params = {"reward": reward}
        period_row = plain_sql.fetch(session, _COUNT_PERIOD_JOIN, {**params, "id": counters.id})[0]
        activity_row = plain_sql.fetch(session, _COUNT_ACTIVITY_JOIN, {**params, "id": activity.id})[0]
        updated = PeriodCounters(counters.id, *period_row)
        # Objects of the activity or period loaded in this session must match their rows, so that
        # close() and its refund read the counters as they are now.
        plain_sql.set_loaded(
            session, ActivityPeriod, updated.id,
            {"joined_count": updated.joined_count, "funded": updated.funded, "paid": updated.paid},
        )
        plain_sql.set_loaded(
            session, Activity, activity.id, {"joined_total": activity_row[0], "paid_total": activity_row[1]}
        )
        return updated

    def _next_reward(self, activity: JoinTarget, counters: PeriodCounters) -> int:
        if activity.reward_mode == "fixed":
            return activity.reward_amount
        if activity.reward_mode in ("equal", "random"):
            remaining = counters.funded - counters.paid
            slots = activity.capacity - counters.joined_count
            if activity.reward_mode == "equal":
                return split.next_equal_share(remaining, slots)
            return split.next_random_share(remaining, slots, self.rng)
        return 0

    def _close_if_exhausted(
        self, session: Session, activity: JoinTarget, counters: PeriodCounters, now: datetime
    ) -> None:
        if activity.kind == "daily":
            return
        if activity.capacity and counters.joined_count >= activity.capacity:
            self.close(session, self._orm_activity(session, activity), "full", now)
        elif self._budget_spent(activity, counters):
            self.close(session, self._orm_activity(session, activity), "budget", now)

    @staticmethod
    def _budget_spent(activity: JoinTarget, counters: PeriodCounters) -> bool:
        """Return True when a fixed reward's budget has less left than one reward."""
        if activity.reward_mode != "fixed" or not activity.budget:
            return False
        return counters.funded - counters.paid < activity.reward_amount

    def _name(self, session: Session, activity: JoinTarget, wxid: str, known: str = "") -> str:
        if known.strip():
            return known
        return directory.display_names(session, [wxid], activity.room_wxid, self.templates.unnamed)[wxid]

    def _reward_text(self, reward: int) -> str:
        return self.templates.reward_text.format(reward=reward) if reward else ""

    def _queue_confirmation(
        self, session: Session, activity: JoinTarget, wxid: str, name: str, seq: int, reward: int, now: datetime,
        entry_id: int,
    ) -> None:
        t = self.templates
        name = self._name(session, activity, wxid, name)
        fields = {
            "name": name,
            "activity": activity.name,
            "seq": seq,
            "reward": reward,
            "cost": activity.points_cost,
            "reward_text": self._reward_text(reward),
            "cost_text": t.cost_text.format(cost=activity.points_cost) if activity.points_cost else "",
        }
        text = t.join_ok.format(**fields)
        line = t.join_line.format(**{k: v for k, v in fields.items() if k != "activity"} | {"name": name})
        header = t.join_ok_many.replace("{activity}", activity.name.replace("{", "{{").replace("}", "}}"))
        conversation = activity.room_wxid or wxid
        outbox.enqueue(
            session,
            conversation_wxid=conversation,
            is_room=activity.room_wxid is not None,
            text=text,
            now=now,
            mention_ids=[wxid] if activity.room_wxid else [],
            kind="join",
            coalesce_key=f"join:{activity.id}" if activity.room_wxid else None,
            coalesce_line=line,
            coalesce_header=header,
            dedupe_key=f"join:{entry_id}",
            delay_seconds=self.settings.sending.coalesce_seconds if activity.room_wxid else 0.0,
        )

    def _reject(
        self, session: Session, activity: JoinTarget, wxid: str, status: JoinStatus, now: datetime, *, balance: int = 0
    ) -> JoinResult:
        assert activity.id is not None
        if self.settings.replies.rejections:
            t = self.templates
            name = self._name(session, activity, wxid)
            texts = {
                "already": t.already_joined.format(activity=activity.name, name=name),
                "full": t.full.format(activity=activity.name, name=name, capacity=activity.capacity),
                "insufficient": t.not_enough_points.format(
                    activity=activity.name, name=name,
                    required=max(activity.points_required, activity.points_cost), balance=balance,
                ),
                "closed": t.closed.format(activity=activity.name, name=name),
            }
            outbox.enqueue(
                session,
                conversation_wxid=activity.room_wxid or wxid,
                is_room=activity.room_wxid is not None,
                text=texts[status],
                now=now,
                mention_ids=[wxid] if activity.room_wxid else [],
                kind="reply",
                coalesce_key=f"{status}:{activity.id}" if activity.room_wxid else None,
                delay_seconds=self.settings.sending.coalesce_seconds if activity.room_wxid else 0.0,
            )
        return JoinResult(status, activity.id, balance=balance)

    # -- closing ----------------------------------------------------------------------------------

    def close(self, session: Session, activity: Activity, reason: str, now: datetime) -> int:
        """Close an open activity, refund what is left in escrow and queue the summary; return the refund."""
        assert activity.id is not None
        if activity.status != "open":
            return 0
        closed = session.exec(
            update(Activity)
            .where(col(Activity.id) == activity.id, col(Activity.status) == "open")
            .values(status="closed", close_reason=reason, closed_at=now)
        ).rowcount
        if not closed:
            return 0
        session.refresh(activity)

        refund = 0
        periods = session.execute(
            select(ActivityPeriod).where(
                col(ActivityPeriod.activity_id) == activity.id, col(ActivityPeriod.settled).is_(False)
            )
        ).scalars().all()
        for counters in periods:
            refund += self._settle_period(session, activity, counters, now)

        # An announcement still waiting in the outbox would invite members to a closed activity.
        outbox.cancel_pending(session, f"announce:{activity.id}")
        self._queue_summary(session, activity, reason, now)
        if refund and activity.funder_wxid:
            outbox.enqueue(
                session, conversation_wxid=activity.funder_wxid, is_room=False,
                text=self.templates.refund_notice.format(activity=activity.name, refund=refund),
                now=now, kind="notice", dedupe_key=f"refund-notice:{activity.id}",
            )
        log.info("activity #%s closed: reason=%s joined=%s paid=%s refund=%s",
                 activity.id, reason, activity.joined_total, activity.paid_total, refund)
        return refund

    def close_by_id(self, session: Session, activity_id: int, reason: str, now: datetime) -> int:
        """Close activity ``activity_id``; raise UsageError when it does not exist or is already closed."""
        activity = session.get(Activity, activity_id)
        if activity is None:
            raise UsageError(
                _("activity #{id} not found; list activities with `repe activity list`").format(id=activity_id)
            )
        if activity.status != "open":
            raise UsageError(_("activity #{id} is already closed").format(id=activity_id))
        return self.close(session, activity, reason, now)

    def _queue_summary(self, session: Session, activity: Activity, reason: str, now: datetime) -> None:
        t = self.templates
        if activity.room_wxid is None and not activity.funder_wxid:
            return
        entries = session.execute(
            select(ActivityEntry)
            .where(col(ActivityEntry.activity_id) == activity.id)
            .order_by(col(ActivityEntry.id))
        ).scalars().all()
        if activity.kind == "daily":
            current = self.day.period_of(now)
            entries = [e for e in entries if e.period == current]
        names = directory.display_names(session, [e.contact_wxid for e in entries], activity.room_wxid, t.unnamed)
        lines = [
            t.summary_line.format(
                seq=i, name=names[e.contact_wxid], reward=e.reward, reward_text=self._reward_text(e.reward)
            )
            for i, e in enumerate(entries[:SUMMARY_MAX_LINES], start=1)
        ]
        if len(entries) > SUMMARY_MAX_LINES:
            lines.append(f"… +{len(entries) - SUMMARY_MAX_LINES}")
        reasons = {
            "full": t.reason_full,
            "deadline": t.reason_deadline,
            "admin": t.reason_admin,
            "budget": t.reason_budget,
        }
        paid = sum(e.reward for e in entries)
        text = t.summary.format(
            activity=activity.name,
            reason=reasons.get(reason, reason),
            count=len(entries),
            paid=paid,
            paid_text=t.summary_paid.format(paid=paid) if paid else "",
            lines="\n".join(lines),
        )
        outbox.enqueue(
            session,
            conversation_wxid=activity.room_wxid or activity.funder_wxid or "",
            is_room=activity.room_wxid is not None,
            text=text.rstrip(),
            now=now,
            kind="summary",
            dedupe_key=f"summary:{activity.id}",
            # Queued after the last confirmations, which wait out the coalescing window.
            delay_seconds=self.settings.sending.coalesce_seconds,
        )

    def expire_due(self, session: Session, now: datetime) -> list[int]:
        """Close every open activity whose deadline has passed; return their ids."""
        due = session.execute(
            select(Activity).where(
                col(Activity.status) == "open",
                col(Activity.deadline_at).is_not(None),
                col(Activity.deadline_at) <= now,
            )
        ).scalars().all()
        for activity in due:
            self.close(session, activity, "deadline", now)
        return [int(a.id) for a in due if a.id is not None]

    def settle_past_days(self, session: Session, now: datetime) -> int:
        """Refund the leftovers of daily activities' finished days; return how many days were settled."""
        current = self.day.period_of(now)
        stale = session.execute(
            select(ActivityPeriod, Activity)
            .join(Activity, col(Activity.id) == col(ActivityPeriod.activity_id))
            .where(
                col(Activity.kind) == "daily",
                col(ActivityPeriod.settled).is_(False),
                col(ActivityPeriod.period) < current,
            )
        ).all()
        for counters, activity in stale:
            refund = self._settle_period(session, activity, counters, now)
            log.info("activity #%s day %s settled, refund=%s", activity.id, counters.period, refund)
        return len(stale)

    def next_deadline(self, session: Session) -> datetime | None:
        return session.execute(
            select(func.min(Activity.deadline_at)).where(
                col(Activity.status) == "open", col(Activity.deadline_at).is_not(None)
            )
        ).scalar()
