"""Member account commands: 余额 (balance), 签到 (daily check-in) and 排行榜 (leaderboard)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlmodel import Session, col

from repe_bot import ledger
from repe_bot.commands.base import CommandHandler, Invocation, format_delta
from repe_bot.db.member_models import CheckIn
from repe_bot.db.models import ACCOUNT_MEMBER, TREASURY_KEY, Account, LedgerEntry, RoomMember

log = logging.getLogger(__name__)

# Ledger reasons that return a member's own points and so do not count as points earned.
NOT_EARNED_REASONS = ("activity_refund",)


def room_member_ids(
    session: Session, room_wxid: str, include: Sequence[str] = (), exclude: Sequence[str | None] = ()
) -> list[str]:
    """Return the contacts that rank together in ``room_wxid``, plus ``include``, minus ``exclude``.

    These are the synced room members. A room without synced members falls back to every contact
    that has a member account, so ranks still mean something before the first member sync.
    """
    members = list(
        session.execute(
            select(col(RoomMember.contact_wxid)).where(col(RoomMember.room_wxid) == room_wxid)
        ).scalars()
    )
    if not members:
        # NOTE: without a member sync the rank covers members of every room, not only this one.
        members = list(
            session.execute(
                select(col(Account.contact_wxid)).where(
                    col(Account.kind) == ACCOUNT_MEMBER, col(Account.contact_wxid).is_not(None)
                )
            ).scalars()
        )
    return [wxid for wxid in dict.fromkeys([*members, *include]) if wxid not in exclude]


def member_balances(session: Session, wxids: Sequence[str]) -> dict[str, int]:
    """Return the balance of each contact in ``wxids``, with 0 for contacts without an account."""
    rows = session.execute(
        select(col(Account.contact_wxid), col(Account.balance)).where(
            col(Account.kind) == ACCOUNT_MEMBER, col(Account.contact_wxid).in_(list(wxids))
        )
    ).all()
    balances = {wxid: 0 for wxid in wxids}
    balances.update({wxid: int(balance) for wxid, balance in rows if wxid is not None})
    return balances


def points_earned_since(session: Session, wxids: Sequence[str], since: datetime) -> dict[str, int]:
    """Return the points each contact received since ``since``: credits only, refunds excluded."""
    rows = session.execute(
        select(col(Account.contact_wxid), func.sum(col(LedgerEntry.delta)))
        .join(Account, col(Account.id) == col(LedgerEntry.account_id))
        .where(
            col(Account.kind) == ACCOUNT_MEMBER,
            col(Account.contact_wxid).in_(list(wxids)),
            col(LedgerEntry.delta) > 0,
            col(LedgerEntry.created_at) >= since,
            col(LedgerEntry.reason).not_in(NOT_EARNED_REASONS),
        )
        .group_by(col(Account.contact_wxid))
    ).all()
    earned = {wxid: 0 for wxid in wxids}
    earned.update({wxid: int(total or 0) for wxid, total in rows if wxid is not None})
    return earned


def competition_ranks(scores: dict[str, int]) -> list[tuple[int, str, int]]:
    """Return (rank, wxid, score) from the highest score down. Equal scores share a rank (1, 2, 2, 4)."""
    ordered = sorted(scores.items(), key=lambda item: (-item[1], item[0]))
    ranked: list[tuple[int, str, int]] = []
    for position, (wxid, score) in enumerate(ordered, start=1):
        rank = ranked[-1][0] if ranked and ranked[-1][2] == score else position
        ranked.append((rank, wxid, score))
    return ranked


class BalanceCommand(CommandHandler):
    """余额: the sender's balance, rank in this room and latest ledger changes."""

    key = "balance"

    def execute(self, invocation: Invocation) -> str:
        session = invocation.session
        t = self.templates
        balance = ledger.balance(session, ledger.member_key(invocation.talker))

        rank_text = ""
        if invocation.room is not None:
            members = room_member_ids(session, invocation.room, [invocation.talker], [self.service.bot_id])
            balances = member_balances(session, members)
            rank = 1 + sum(
                1 for wxid, value in balances.items() if value > balance and wxid != invocation.talker
            )
            rank_text = t.balance_rank.format(rank=rank, total=len(members))

        history_text = ""
        lines = self._history_lines(session, invocation.talker)
        if lines:
            history_text = t.balance_history.format(lines="\n".join(lines))

        text = t.balance.format(
            name=invocation.name, balance=balance, rank_text=rank_text, history_text=history_text
        )
        self.reply(invocation, text, private=self.config.balance_reply == "private")
        return "balance"

    def _history_lines(self, session: Session, wxid: str) -> list[str]:
        size = self.config.balance_history_size
        if size == 0:
            return []
        rows = session.execute(
            select(LedgerEntry)
            .join(Account, col(Account.id) == col(LedgerEntry.account_id))
            .where(col(Account.key) == ledger.member_key(wxid))
            .order_by(col(LedgerEntry.id).desc())
            .limit(size)
        ).scalars()
        day = self.service.activities.day
        labels = self.config.reason_labels
        return [
            self.templates.balance_history_line.format(
                time=day.local(entry.created_at).strftime("%m-%d %H:%M"),
                reason=self._reason_text(labels.get(entry.reason, entry.reason), entry.memo),
                delta=format_delta(entry.delta),
                balance=entry.balance_after,
            )
            for entry in rows
        ]

    @staticmethod
    def _reason_text(label: str, memo: str) -> str:
        return f"{label}（{memo}）" if memo else label


class CheckInCommand(CommandHandler):
    """签到: once per activity day. Consecutive days build a streak with a bonus every N days."""

    key = "checkin"

    def execute(self, invocation: Invocation) -> str:
        session = invocation.session
        t = self.templates
        config = self.config
        wxid = invocation.talker
        today = self.service.activities.day.day_of(invocation.now)
        period = today.isoformat()

        existing = (
            session.execute(
                select(CheckIn).where(col(CheckIn.contact_wxid) == wxid, col(CheckIn.day) == period)
            )
            .scalars()
            .first()
        )
        if existing is not None:
            self.reply(invocation, t.checkin_already.format(name=invocation.name, streak=existing.streak))
            return "checkin_already"

        yesterday = (today - timedelta(days=1)).isoformat()
        previous = session.execute(
            select(col(CheckIn.streak)).where(
                col(CheckIn.contact_wxid) == wxid, col(CheckIn.day) == yesterday
            )
        ).scalar()
        streak = int(previous) + 1 if previous is not None else 1
        bonus = 0
        if config.streak_days and config.streak_bonus and streak % config.streak_days == 0:
            bonus = config.streak_bonus

        member = ledger.member_key(wxid)
        if config.checkin_points:
            ledger.transfer(
                session,
                from_key=TREASURY_KEY,
                to_key=member,
                amount=config.checkin_points,
                reason="checkin",
                idempotency_key=f"checkin:{wxid}:{period}",
                now=invocation.now,
            )
        if bonus:
            ledger.transfer(
                session,
                from_key=TREASURY_KEY,
                to_key=member,
                amount=bonus,
                reason="checkin_bonus",
                idempotency_key=f"checkin-bonus:{wxid}:{period}",
                now=invocation.now,
            )
        session.add(
            CheckIn(
                contact_wxid=wxid,
                day=period,
                streak=streak,
                points=config.checkin_points,
                bonus=bonus,
                room_wxid=invocation.room,
                message_id=invocation.message.id,
                created_at=invocation.now,
            )
        )
        session.flush()

        balance = ledger.balance(session, member)
        text = t.checkin_ok.format(
            name=invocation.name,
            points=config.checkin_points,
            bonus=bonus,
            bonus_text=t.checkin_bonus.format(bonus=bonus, streak=streak) if bonus else "",
            streak=streak,
            balance=balance,
        )
        self.reply(invocation, text)
        log.info("check-in %s day %s streak %d bonus %d", wxid, period, streak, bonus)
        return "checkin"


class LeaderboardCommand(CommandHandler):
    """排行榜: the top members of this room by balance, or by points earned this week."""

    key = "leaderboard"
    room_only = True

    def execute(self, invocation: Invocation) -> str:
        session = invocation.session
        t = self.templates
        assert invocation.room is not None
        members = room_member_ids(session, invocation.room, exclude=[self.service.bot_id])

        if self.config.leaderboard_by == "week":
            title = t.leaderboard_title_week
            scores = points_earned_since(session, members, self.week_start(invocation.now))
        else:
            title = t.leaderboard_title_balance
            scores = member_balances(session, members)
        positive = {wxid: score for wxid, score in scores.items() if score > 0}
        top = competition_ranks(positive)[: self.config.leaderboard_size]

        if not top:
            self.reply(invocation, t.leaderboard_empty.format(title=title), mention_ids=[])
            return "leaderboard"
        names = self.member_names(session, [wxid for _, wxid, _ in top], invocation.room)
        lines = [
            t.leaderboard_line.format(rank=rank, name=names[wxid], points=score) for rank, wxid, score in top
        ]
        self.reply(invocation, t.leaderboard.format(title=title, lines="\n".join(lines)), mention_ids=[])
        return "leaderboard"

    def week_start(self, now: datetime) -> datetime:
        """Return the UTC start of the activity day that is this week's Monday."""
        return self.service.activities.day.week_start(now)
