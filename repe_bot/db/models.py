"""SQLModel tables, one model per table. Datetimes are timezone-aware and stored as UTC."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Column, Index, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel

# Account kinds. A member account belongs to one contact; the treasury is the system account that
# mints and absorbs points; an escrow account keeps one activity's pool or budget until it is paid out.
ACCOUNT_MEMBER = "member"
ACCOUNT_TREASURY = "treasury"
ACCOUNT_ESCROW = "escrow"
TREASURY_KEY = "treasury"

# Largest amount of points in one transfer, pool or budget, and largest capacity. SQLite stores
# integers in 64 bits and turns a larger result into a float, so amounts stay far below 2**63
# even after millions of transfers.
MAX_POINTS = 10**12
MAX_CAPACITY = 1_000_000


class Contact(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    wxid: str = Field(unique=True, index=True)
    name: str = ""
    alias: str = ""
    is_friend: bool = False
    updated_at: datetime


class Room(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    wxid: str = Field(unique=True, index=True)
    topic: str = ""
    remark: str = ""
    active: bool = True
    member_count: int = 0
    updated_at: datetime


class RoomMember(SQLModel, table=True):
    __tablename__ = "room_member"
    __table_args__ = (UniqueConstraint("room_wxid", "contact_wxid", name="uq_room_member"),)

    id: int | None = Field(default=None, primary_key=True)
    room_wxid: str = Field(index=True)
    contact_wxid: str = Field(index=True)
    display_name: str = ""
    updated_at: datetime


class Account(SQLModel, table=True):
    """A points balance. Only the treasury may go below zero, because it is where points are minted."""

    __table_args__ = (
        CheckConstraint("balance >= 0 OR kind = 'treasury'", name="ck_account_balance_not_negative"),
    )

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True, index=True)
    kind: str
    contact_wxid: str | None = Field(default=None, index=True)
    activity_id: int | None = Field(default=None, index=True)
    balance: int = 0
    created_at: datetime


class LedgerEntry(SQLModel, table=True):
    """One append-only change of one account; the entries of a transfer share a ``transfer_key``."""

    __tablename__ = "ledger_entry"
    __table_args__ = (Index("ix_ledger_entry_account_created", "account_id", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="account.id")
    delta: int
    balance_after: int
    reason: str
    transfer_key: str = Field(index=True)
    idempotency_key: str = Field(unique=True)
    activity_id: int | None = Field(default=None, index=True)
    entry_id: int | None = None
    memo: str = ""
    created_at: datetime


class Activity(SQLModel, table=True):
    __table_args__ = (
        # Two open activities in one room (or both private) never share a passphrase.
        Index(
            "uq_activity_open_passphrase",
            text("coalesce(room_wxid, '')"),
            "passphrase",
            unique=True,
            sqlite_where=text("status = 'open'"),
            postgresql_where=text("status = 'open'"),
        ),
        CheckConstraint("capacity >= 0", name="ck_activity_capacity"),
        CheckConstraint("reward_amount >= 0 AND pool >= 0 AND budget >= 0", name="ck_activity_amounts"),
        CheckConstraint("points_required >= 0 AND points_cost >= 0", name="ck_activity_points"),
    )

    id: int | None = Field(default=None, primary_key=True)
    name: str
    announcement: str = ""
    room_wxid: str | None = Field(default=None, index=True)
    passphrase: str
    passphrase_display: str
    kind: str  # once | daily | long
    capacity: int = 0  # 0 = unlimited; per activity day for daily activities
    reward_mode: str = "none"  # none | fixed | equal | random
    reward_amount: int = 0  # fixed mode: points per join
    budget: int = 0  # fixed mode: total points that may be paid, 0 = no budget
    pool: int = 0  # equal/random mode: points split among the capacity (per day for daily)
    points_required: int = 0
    points_cost: int = 0
    funder_wxid: str | None = None  # None = the treasury
    deadline_at: datetime | None = None
    status: str = Field(default="open", index=True)  # open | closed
    close_reason: str = ""
    created_by: str = ""
    created_at: datetime
    closed_at: datetime | None = None
    joined_total: int = 0
    paid_total: int = 0


class ActivityPeriod(SQLModel, table=True):
    """Counters of one activity day (daily) or of the whole activity (period '')."""

    __tablename__ = "activity_period"
    __table_args__ = (UniqueConstraint("activity_id", "period", name="uq_activity_period"),)

    id: int | None = Field(default=None, primary_key=True)
    activity_id: int = Field(foreign_key="activity.id", index=True)
    period: str
    joined_count: int = 0
    funded: int = 0
    paid: int = 0
    settled: bool = False
    opened_at: datetime


class ActivityEntry(SQLModel, table=True):
    __tablename__ = "activity_entry"
    __table_args__ = (UniqueConstraint("activity_id", "contact_wxid", "period", name="uq_activity_entry"),)

    id: int | None = Field(default=None, primary_key=True)
    activity_id: int = Field(foreign_key="activity.id", index=True)
    contact_wxid: str = Field(index=True)
    period: str = ""
    seq: int  # 1-based position of this join within its period
    reward: int = 0
    cost: int = 0
    message_id: str = ""
    joined_at: datetime


class BotTask(SQLModel, table=True):
    __tablename__ = "bot_task"

    id: int | None = Field(default=None, primary_key=True)
    name: str = ""
    kind: str  # now | once | daily | cron
    run_at: datetime | None = None  # once/now: the UTC instant
    time_of_day: str = ""  # daily: HH:MM in the configured zone
    cron: str = ""  # cron: five-field expression evaluated in the configured zone
    targets: str = Field(sa_column=Column(Text, nullable=False))  # JSON list of {"kind", "wxid"}
    text: str = Field(sa_column=Column(Text, nullable=False))
    status: str = Field(default="active", index=True)  # active | done | cancelled
    last_slot: datetime | None = None
    next_run_at: datetime | None = Field(default=None, index=True)
    created_by: str = ""
    created_at: datetime
    updated_at: datetime


class OutboxMessage(SQLModel, table=True):
    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_due", "status", "not_before"),)

    id: int | None = Field(default=None, primary_key=True)
    conversation_wxid: str = Field(index=True)
    is_room: bool = True
    text: str = Field(sa_column=Column(Text, nullable=False))
    mention_ids: str = "[]"  # JSON list of contact wxids
    kind: str = "reply"  # reply | join | announce | summary | task | notice
    coalesce_key: str | None = Field(default=None, index=True)
    coalesce_line: str = ""  # the line this row contributes to a merged message
    coalesce_header: str = ""  # str.format text with {count} and {lines}, used when lines are merged
    dedupe_key: str | None = Field(default=None, unique=True)
    status: str = "pending"  # pending | sending | sent | merged | failed | cancelled
    attempts: int = 0
    not_before: datetime
    created_at: datetime
    sent_at: datetime | None = None
    merged_into: int | None = None
    error: str = ""


class ProcessedMessage(SQLModel, table=True):
    __tablename__ = "processed_message"

    message_id: str = Field(primary_key=True)
    seen_at: datetime = Field(index=True)
