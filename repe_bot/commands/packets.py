"""Member red packets: 发红包 <points> <count> and 口令红包 <passphrase> <points> <count>.

A red packet is a random-pool activity funded by the member. ActivityEngine.create moves the
points from the member's account into the activity's escrow, and members claim shares by sending
the passphrase. Closing the activity (full, deadline or admin) returns the unclaimed rest to the
funder and notifies them.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import func, select
from sqlmodel import col

from repe_bot.activities import ActivitySpec, UsageError
from repe_bot.commands.base import CommandHandler, Invocation, Rejected, parse_number
from repe_bot.db.member_models import RedPacket
from repe_bot.db.models import Activity
from repe_bot.ledger import InsufficientBalance
from repe_bot.text import normalize

log = logging.getLogger(__name__)


def check_passphrase(handler: CommandHandler, invocation: Invocation, passphrase: str) -> None:
    """Raise Rejected when ``passphrase`` normalises to nothing, is a command word or is open in this room."""
    t = handler.templates
    normalized = normalize(passphrase)
    if not normalized:
        raise Rejected(
            "passphrase_invalid", t.passphrase_invalid.format(name=invocation.name, passphrase=passphrase)
        )
    if normalized in handler.config.command_words():
        raise Rejected(
            "passphrase_reserved", t.passphrase_reserved.format(name=invocation.name, passphrase=passphrase)
        )
    if handler.service.activities.find_open(invocation.session, invocation.room, normalized) is not None:
        raise Rejected(
            "passphrase_taken", t.passphrase_taken.format(name=invocation.name, passphrase=passphrase)
        )


class _PacketCommand(CommandHandler):
    takes_arguments = True
    room_only = True

    def create_packet(
        self, invocation: Invocation, passphrase: str, points_token: str, count_token: str
    ) -> str:
        t = self.templates
        config = self.config
        session = invocation.session
        name = invocation.name
        assert invocation.room is not None

        points = self.parse_points(invocation, points_token)
        count = parse_number(count_token, config.packet_max_count)
        if count is None:
            raise self.usage_rejection(invocation)
        if not 1 <= count <= config.packet_max_count:
            raise Rejected(
                "packet_count",
                t.packet_count.format(name=name, max_count=config.packet_max_count, count=count),
            )
        if points < count:
            raise Rejected(
                "packet_too_small", t.packet_too_small.format(name=name, points=points, count=count)
            )
        check_passphrase(self, invocation, passphrase)
        self.require_balance(invocation, points)

        if config.packet_max_open:
            open_count = (
                session.execute(
                    select(func.count())
                    .select_from(RedPacket)
                    .join(Activity, col(Activity.id) == col(RedPacket.activity_id))
                    .where(col(RedPacket.funder_wxid) == invocation.talker, col(Activity.status) == "open")
                ).scalar()
                or 0
            )
            if open_count >= config.packet_max_open:
                raise Rejected(
                    "packet_open_limit",
                    t.packet_open_limit.format(name=name, open=open_count, limit=config.packet_max_open),
                )

        day = self.service.activities.day.period_of(invocation.now)
        if config.packet_daily_points:
            used = (
                session.execute(
                    select(func.coalesce(func.sum(RedPacket.points), 0)).where(
                        col(RedPacket.funder_wxid) == invocation.talker, col(RedPacket.day) == day
                    )
                ).scalar()
                or 0
            )
            if used + points > config.packet_daily_points:
                raise Rejected(
                    "packet_daily_limit",
                    t.packet_daily_limit.format(
                        name=name, used=used, limit=config.packet_daily_points, points=points
                    ),
                )

        spec = ActivitySpec(
            name=t.packet_name.format(name=name, points=points, count=count),
            passphrase=passphrase,
            kind="once",
            room_wxid=invocation.room,
            announcement=t.packet_announcement.format(name=name, points=points, count=count),
            capacity=count,
            reward_mode="random",
            pool=points,
            deadline_at=invocation.now + timedelta(minutes=config.packet_deadline_minutes),
            funder_wxid=invocation.talker,
            created_by=invocation.talker,
        )
        try:
            activity = self.service.activities.create(session, spec, invocation.now)
        except InsufficientBalance as error:
            raise Rejected(
                "insufficient", t.insufficient.format(name=name, required=points, balance=error.balance)
            ) from error
        except UsageError as error:
            # The checks above cover every rule of validate_spec, so this is a race or a new rule.
            log.warning("red packet of %s rejected by the activity engine: %s", invocation.talker, error)
            raise self.usage_rejection(invocation) from error
        assert activity.id is not None

        session.add(
            RedPacket(
                activity_id=activity.id,
                funder_wxid=invocation.talker,
                room_wxid=invocation.room,
                points=points,
                count=count,
                day=day,
                created_at=invocation.now,
            )
        )
        session.flush()
        log.info(
            "red packet #%s: %s put %d points into %d shares in %s",
            activity.id,
            invocation.talker,
            points,
            count,
            invocation.room,
        )
        return "packet_created"


class RedPacketCommand(_PacketCommand):
    """发红包 <points> <count>: a random red packet claimed with the configured default passphrase."""

    key = "red_packet"

    def execute(self, invocation: Invocation) -> str:
        if len(invocation.args) != 2:
            raise self.usage_rejection(invocation)
        points, count = invocation.args
        try:
            return self.create_packet(invocation, self.config.packet_passphrase, points, count)
        except Rejected as rejection:
            if rejection.status != "passphrase_taken":
                raise
            # The member cannot choose the default passphrase, so point them to 口令红包 instead.
            other = self.config.passphrase_packet
            text = self.templates.packet_busy.format(
                name=invocation.name,
                passphrase=self.config.packet_passphrase,
                usage=other.usage_text(self.config.packet_passphrase) if other.enabled else "",
            )
            raise Rejected("packet_busy", text) from None


class PassphrasePacketCommand(_PacketCommand):
    """口令红包 <passphrase> <points> <count>: a random red packet claimed with the funder's passphrase."""

    key = "passphrase_packet"

    def execute(self, invocation: Invocation) -> str:
        if len(invocation.args) != 3:
            raise self.usage_rejection(invocation)
        passphrase, points, count = invocation.args
        return self.create_packet(invocation, passphrase, points, count)
