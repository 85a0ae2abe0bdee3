"""Admin commands: 开始活动, 结束活动, 加分 and 扣分. Admins are the WeChat ids in ``bot.admins``.

开始活动 <passphrase> <capacity> <reward> [duration] [name]
    capacity: members who may join, 0 for no limit.
    reward: ``5`` gives each joiner 5 points from the treasury, ``0`` gives nothing, ``平分100``
    splits a pool of 100 equally among the capacity and ``随机100`` splits it at random (the
    prefixes are configurable).
    duration: ``30分钟``/``30m``, ``2小时``/``2h``, ``1天``/``1d``, or a clock time ``21:00`` in the
    configured zone (the next such time). Without it the configured default deadline applies.
    name: the rest of the message; the passphrase when missing.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta

from sqlmodel import Session

from repe_bot import ledger
from repe_bot.activities import ActivitySpec, UsageError
from repe_bot.clock import ActivityDay, as_utc
from repe_bot.commands.base import CommandHandler, Invocation, Rejected, parse_number
from repe_bot.commands.packets import check_passphrase
from repe_bot.db.models import TREASURY_KEY, Activity
from repe_bot.text import normalize

log = logging.getLogger(__name__)

_DURATION = re.compile(r"^(\d{1,5})(分钟|分|min|m|小时|时|h|天|d)$")
_CLOCK = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
_UNIT_MINUTES = {"分钟": 1, "分": 1, "min": 1, "m": 1, "小时": 60, "时": 60, "h": 60, "天": 1440, "d": 1440}


def parse_deadline(token: str, now: datetime, day: ActivityDay) -> datetime | None:
    """Parse a duration (``30分钟``, ``2h``, ``1天``) or a local clock time (``21:00``) into a UTC deadline.

    A clock time means its next occurrence after ``now`` in the configured zone. Returns None when
    ``token`` is neither form.
    """
    value = token.casefold()
    duration = _DURATION.match(value)
    if duration:
        minutes = int(duration.group(1)) * _UNIT_MINUTES[duration.group(2)]
        return now + timedelta(minutes=minutes) if minutes > 0 else None
    clock = _CLOCK.match(value)
    if clock:
        local_now = day.local(now)
        local = local_now.replace(
            hour=int(clock.group(1)), minute=int(clock.group(2)), second=0, microsecond=0
        )
        if local <= local_now:
            local += timedelta(days=1)
        return as_utc(local)
    return None


class StartActivityCommand(CommandHandler):
    """开始活动: create a treasury-funded activity in this room."""

    key = "start_activity"
    takes_arguments = True
    room_only = True
    admin_only = True

    def execute(self, invocation: Invocation) -> str:
        t = self.templates
        config = self.config
        if len(invocation.args) < 3:
            raise self.usage_rejection(invocation)
        passphrase, capacity_token, reward_token, *rest = invocation.args

        capacity = parse_number(capacity_token, config.max_points)
        if capacity is None or capacity > config.max_points:
            raise self.usage_rejection(invocation)
        reward_mode, amount = self._parse_reward(invocation, reward_token)

        deadline = None
        if config.activity_deadline_minutes:
            deadline = invocation.now + timedelta(minutes=config.activity_deadline_minutes)
        if rest:
            parsed = parse_deadline(rest[0], invocation.now, self.service.activities.day)
            if parsed is not None:
                deadline = parsed
                rest = rest[1:]
            elif rest[0][:1].isdigit():
                raise Rejected(
                    "deadline_invalid",
                    t.activity_deadline_invalid.format(name=invocation.name, value=rest[0]),
                )
        name = " ".join(rest) or t.activity_name.format(passphrase=passphrase)

        if reward_mode in ("equal", "random"):
            if capacity == 0:
                raise Rejected("pool_capacity", t.activity_pool_capacity.format(name=invocation.name))
            if amount < capacity:
                raise Rejected(
                    "pool_small",
                    t.activity_pool_small.format(name=invocation.name, pool=amount, capacity=capacity),
                )
        check_passphrase(self, invocation, passphrase)

        spec = ActivitySpec(
            name=name,
            passphrase=passphrase,
            kind="once",
            room_wxid=invocation.room,
            capacity=capacity,
            reward_mode=reward_mode,
            reward_amount=amount if reward_mode == "fixed" else 0,
            pool=amount if reward_mode in ("equal", "random") else 0,
            deadline_at=deadline,
            created_by=invocation.talker,
        )
        try:
            activity = self.service.activities.create(invocation.session, spec, invocation.now)
        except UsageError as error:
            log.warning(
                "activity from admin %s rejected by the activity engine: %s", invocation.talker, error
            )
            raise self.usage_rejection(invocation) from error
        log.info("admin %s started activity #%s in %s", invocation.talker, activity.id, invocation.room)
        return "activity_started"

    def _parse_reward(self, invocation: Invocation, token: str) -> tuple[str, int]:
        """Return (reward mode, amount) of a reward argument: ``5``, ``0``, ``平分100`` or ``随机100``."""
        for prefix, mode in (
            (self.config.pool_equal_prefix, "equal"),
            (self.config.pool_random_prefix, "random"),
        ):
            if token.startswith(prefix):
                return mode, self.parse_points(invocation, token[len(prefix) :])
        amount = self.parse_points(invocation, token, allow_zero=True)
        return ("fixed", amount) if amount else ("none", 0)


class EndActivityCommand(CommandHandler):
    """结束活动 <passphrase or #id>: close an open activity, refunding what its escrow still holds."""

    key = "end_activity"
    takes_arguments = True
    admin_only = True

    def execute(self, invocation: Invocation) -> str:
        if len(invocation.args) != 1:
            raise self.usage_rejection(invocation)
        target = invocation.args[0]
        activity = self._find(invocation.session, invocation.room, target)
        if activity is None:
            raise Rejected(
                "activity_not_found",
                self.templates.activity_not_found.format(name=invocation.name, target=target),
            )
        refund = self.service.activities.close(invocation.session, activity, "admin", invocation.now)
        if invocation.room is None or activity.room_wxid != invocation.room:
            # The summary goes to the activity's room, so confirm to an admin who wrote elsewhere.
            self.reply(
                invocation,
                self.templates.activity_ended.format(
                    name=invocation.name, id=activity.id, activity=activity.name, refund=refund
                ),
            )
        log.info("admin %s closed activity #%s, refund %d", invocation.talker, activity.id, refund)
        return "activity_closed"

    def _find(self, session: Session, room: str | None, target: str) -> Activity | None:
        """Find the open activity named by ``#id`` or by passphrase in ``room``, then by a bare id.

        In a room only that room's activities are found. In a private chat any activity is found by id.
        """
        by_id = target[1:] if target.startswith("#") else None
        if by_id is None:
            normalized = normalize(target)
            if normalized:
                found = self.service.activities.find_open(session, room, normalized)
                if found is not None:
                    return found
            by_id = target
        if not (by_id.isascii() and by_id.isdigit()):
            return None
        activity = session.get(Activity, int(by_id))
        if activity is None or activity.status != "open":
            return None
        if room is not None and activity.room_wxid != room:
            return None
        return activity


class AdjustPointsCommand(CommandHandler):
    """加分 / 扣分 <points> @member … [reason]: grant or revoke points through the treasury."""

    takes_arguments = True
    room_only = True
    admin_only = True
    direction = 1

    def execute(self, invocation: Invocation) -> str:
        t = self.templates
        session = invocation.session
        if not invocation.args:
            raise self.usage_rejection(invocation)
        points = self.parse_points(invocation, invocation.args[0])
        targets = self.mentioned_targets(invocation)
        default_reason = t.add_reason_default if self.direction > 0 else t.deduct_reason_default
        memo = " ".join(invocation.args[1:])[:100]
        reason = memo or default_reason

        if self.direction < 0:
            short = [wxid for wxid in targets if ledger.balance(session, ledger.member_key(wxid)) < points]
            if short:
                raise Rejected(
                    "deduct_insufficient",
                    t.deduct_insufficient.format(
                        name=invocation.name,
                        names=self.joined_names(session, short, invocation.room),
                        points=points,
                    ),
                )

        for wxid in targets:
            member = ledger.member_key(wxid)
            ledger.transfer(
                session,
                from_key=TREASURY_KEY if self.direction > 0 else member,
                to_key=member if self.direction > 0 else TREASURY_KEY,
                amount=points,
                reason="admin_add" if self.direction > 0 else "admin_deduct",
                idempotency_key=f"{self.key}:{invocation.message.id}:{wxid}",
                now=invocation.now,
                memo=memo,
            )

        template = t.points_added if self.direction > 0 else t.points_deducted
        names = self.joined_names(session, targets, invocation.room)
        self.reply(
            invocation,
            template.format(name=invocation.name, names=names, points=points, reason=reason),
            mention_ids=targets,
        )
        log.info(
            "admin %s: %s %d points for %s (%s)",
            invocation.talker,
            self.key,
            points,
            ", ".join(targets),
            reason,
        )
        return "points_added" if self.direction > 0 else "points_deducted"


class AddPointsCommand(AdjustPointsCommand):
    key = "add_points"
    direction = 1


class DeductPointsCommand(AdjustPointsCommand):
    key = "deduct_points"
    direction = -1
