"""Activity engine: create, join, close and expire passphrase activities.

Each public method runs inside the caller's transaction, so a join's checks, entry, ledger
entries, counters and outbox rows commit together or not at all.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from repe_bot import directory, ledger, outbox, split
from repe_bot.clock import ActivityDay, as_utc
from repe_bot.config import Settings, Templates
from repe_bot.db.models import TREASURY_KEY, Activity, ActivityEntry, ActivityPeriod
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


def validate_spec(spec: ActivitySpec, now: datetime) -> str:
    """Check an activity spec and return its normalised passphrase; raise UsageError naming the bad value."""
    if not spec.name.strip():
        raise UsageError(_("activity name is empty; give a name such as 读书会报名"))
    if spec.kind not in KINDS:
        raise UsageError(_("invalid kind {value!r}: use one of {choices}").format(value=spec.kind, choices=", ".join(KINDS)))
    if spec.reward_mode not in REWARD_MODES:
        raise UsageError(
            _("invalid reward mode {value!r}: use one of {choices}").format(
                value=spec.reward_mode, choices=", ".join(REWARD_MODES)
            )
        )
    for field_name in ("capacity", "reward_amount", "budget", "pool", "points_required", "points_cost"):
        value = getattr(spec, field_name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise UsageError(
                _("invalid {field} {value!r}: use a whole number of 0 or more").format(field=field_name, value=value)
            )

    passphrase = normalize(spec.passphrase)
    if not passphrase:
        raise UsageError(
            _("invalid passphrase {value!r}: it must contain letters or digits besides spaces, punctuation and @mentions").format(
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
            value=spec.deadline_at.isoformat(timespec="minutes")))
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
        passphrase = validate_spec(spec, now)

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
        room_column = col(Activity.room_wxid)
        room_match = room_column.is_(None) if room_wxid is None else room_column == room_wxid
        return session.execute(
            select(Activity).where(
                col(Activity.status) == "open", col(Activity.passphrase) == passphrase, room_match
            )
        ).scalars().first()

    def period_for(self, activity: Activity, now: datetime) -> str:
        return self.day.period_of(now) if activity.kind == "daily" else ""

    # -- periods and escrow -----------------------------------------------------------------------

    def _period_funding(self, activity: Activity) -> int:
        if activity.reward_mode in ("equal", "random"):
            return activity.pool
        if activity.reward_mode == "fixed" and activity.budget:
            return activity.budget
        return 0

    def _open_period(self, session: Session, activity: Activity, period: str, now: datetime) -> ActivityPeriod:
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
        refund = counters.funded - counters.paid
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
        activity: Activity,
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
            self.close(session, activity, "deadline", now)
            return self._reject(session, activity, contact_wxid, "closed", now)

        period = self.period_for(activity, now)
        counters = self._open_period(session, activity, period, now)

        already = session.execute(
            select(col(ActivityEntry.id)).where(
                col(ActivityEntry.activity_id) == activity.id,
                col(ActivityEntry.contact_wxid) == contact_wxid,
                col(ActivityEntry.period) == period,
            )
        ).first()
        if already is not None:
            return self._reject(session, activity, contact_wxid, "already", now)
        if activity.capacity and counters.joined_count >= activity.capacity:
            return self._reject(session, activity, contact_wxid, "full", now)

        member = ledger.member_key(contact_wxid)
        balance = ledger.balance(session, member)
        if balance < activity.points_required or balance < activity.points_cost:
            return self._reject(session, activity, contact_wxid, "insufficient", now, balance=balance)

        reward = self._next_reward(activity, counters)
        seq = counters.joined_count + 1
        inserted_key = session.exec(
            insert(ActivityEntry).values(
                activity_id=activity.id,
                contact_wxid=contact_wxid,
                period=period,
                seq=seq,
                reward=reward,
                cost=activity.points_cost,
                message_id=message_id,
                joined_at=now,
            )
        ).inserted_primary_key
        assert inserted_key is not None, "a single-row INSERT reports its autoincrement primary key"
        entry_id = inserted_key[0]

        entry_key = f"{activity.id}:{period}:{contact_wxid}"
        if activity.points_cost:
            ledger.transfer(
                session, from_key=member, to_key=TREASURY_KEY,
                amount=activity.points_cost, reason="join_cost", idempotency_key=f"cost:{entry_key}",
                now=now, activity_id=activity.id, entry_id=entry_id,
            )
        if reward:
            source = ledger.escrow_key(activity.id) if counters.funded else ledger.funder_key(activity.funder_wxid)
            ledger.transfer(
                session, from_key=source, to_key=member, amount=reward, reason="join_reward",
                idempotency_key=f"reward:{entry_key}", now=now, activity_id=activity.id, entry_id=entry_id,
            )

        session.execute(
            update(ActivityPeriod)
            .where(col(ActivityPeriod.id) == counters.id)
            .values(joined_count=col(ActivityPeriod.joined_count) + 1, paid=col(ActivityPeriod.paid) + reward)
        )
        session.execute(
            update(Activity)
            .where(col(Activity.id) == activity.id)
            .values(joined_total=col(Activity.joined_total) + 1, paid_total=col(Activity.paid_total) + reward)
        )
        session.refresh(counters)
        session.refresh(activity)

        self._queue_confirmation(session, activity, contact_wxid, contact_name, seq, reward, now, int(entry_id))
        self._close_if_exhausted(session, activity, counters, now)
        new_balance = ledger.balance(session, member)
        return JoinResult("joined", activity.id, int(entry_id), reward, activity.points_cost, new_balance)

    def _next_reward(self, activity: Activity, counters: ActivityPeriod) -> int:
        if activity.reward_mode == "fixed":
            return activity.reward_amount
        if activity.reward_mode in ("equal", "random"):
            remaining = counters.funded - counters.paid
            slots = activity.capacity - counters.joined_count
            if activity.reward_mode == "equal":
                return split.next_equal_share(remaining, slots)
            return split.next_random_share(remaining, slots, self.rng)
        return 0

    def _close_if_exhausted(self, session: Session, activity: Activity, counters: ActivityPeriod, now: datetime) -> None:
        if activity.kind == "daily":
            return
        if activity.capacity and counters.joined_count >= activity.capacity:
            self.close(session, activity, "full", now)
        elif activity.reward_mode == "fixed" and activity.budget:
            if counters.funded - counters.paid < activity.reward_amount:
                self.close(session, activity, "budget", now)

    def _name(self, session: Session, activity: Activity, wxid: str, known: str = "") -> str:
        if known.strip():
            return known
        return directory.display_names(session, [wxid], activity.room_wxid, self.templates.unnamed)[wxid]

    def _reward_text(self, reward: int) -> str:
        return self.templates.reward_text.format(reward=reward) if reward else ""

    def _queue_confirmation(
        self, session: Session, activity: Activity, wxid: str, name: str, seq: int, reward: int, now: datetime,
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
        self, session: Session, activity: Activity, wxid: str, status: JoinStatus, now: datetime, *, balance: int = 0
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
        """Close an open activity, refund what escrow still holds and queue the summary; return the refund."""
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
            raise UsageError(_("activity #{id} not found; list activities with `repe activity list`").format(id=activity_id))
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
            t.summary_line.format(seq=i, name=names[e.contact_wxid], reward=e.reward, reward_text=self._reward_text(e.reward))
            for i, e in enumerate(entries[:SUMMARY_MAX_LINES], start=1)
        ]
        if len(entries) > SUMMARY_MAX_LINES:
            lines.append(f"… +{len(entries) - SUMMARY_MAX_LINES}")
        reasons = {"full": t.reason_full, "deadline": t.reason_deadline, "admin": t.reason_admin, "budget": t.reason_budget}
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
