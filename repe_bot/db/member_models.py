"""Tables of the member chat commands: daily check-ins, member-funded red packets and command cooldowns."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field, SQLModel


class CheckIn(SQLModel, table=True):
    """One member's check-in on one activity day. The unique constraint allows one per day."""

    __tablename__ = "check_in"
    __table_args__ = (UniqueConstraint("contact_wxid", "day", name="uq_check_in_contact_day"),)

    id: int | None = Field(default=None, primary_key=True)
    contact_wxid: str = Field(index=True)
    day: str  # activity day in the configured zone, YYYY-MM-DD
    streak: int  # consecutive activity days up to and including this one
    points: int = 0
    bonus: int = 0
    room_wxid: str | None = None  # where the member checked in, None for a private chat
    message_id: str = ""
    created_at: datetime


class RedPacket(SQLModel, table=True):
    """A red packet a member funded from their balance. Its activity keeps the pool in escrow."""

    __tablename__ = "red_packet"
    __table_args__ = (Index("ix_red_packet_funder_day", "funder_wxid", "day"),)

    id: int | None = Field(default=None, primary_key=True)
    activity_id: int = Field(foreign_key="activity.id", unique=True)
    funder_wxid: str
    room_wxid: str
    points: int
    count: int
    day: str  # activity day of creation, for the per-day limit
    created_at: datetime


class CommandUse(SQLModel, table=True):
    """When a member last used a command, for the per-member cooldown."""

    __tablename__ = "command_use"

    contact_wxid: str = Field(primary_key=True)
    command: str = Field(primary_key=True)
    last_used_at: datetime
    # True once the member was notified of the running cooldown, so repeats within it get no reply.
    cooldown_notified: bool = False
