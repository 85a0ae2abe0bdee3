"""Contacts, rooms and room members, keyed by WeChat id (wxid) and never by name.

Names are stored exactly as WeChat reports them, including empty or emoji-only names; only
``display_name`` substitutes a fallback when a name is blank.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col

from repe_bot.db.models import Contact, Room, RoomMember


@dataclass(frozen=True)
class ContactInfo:
    wxid: str
    name: str = ""
    alias: str = ""
    is_friend: bool = False


@dataclass(frozen=True)
class RoomInfo:
    wxid: str
    topic: str = ""
    member_count: int = 0


@dataclass(frozen=True)
class MemberInfo:
    contact_wxid: str
    display_name: str = ""


def _insert_for(session: Session, table: type) -> object:
    # SQLite and PostgreSQL both support INSERT .. ON CONFLICT with the same SQLAlchemy API.
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table)
    return sqlite_insert(table)


def upsert_contacts(session: Session, contacts: Sequence[ContactInfo], now: datetime) -> int:
    """Insert or update contacts in one statement; return how many rows were given."""
    if not contacts:
        return 0
    statement = _insert_for(session, Contact)
    statement = statement.on_conflict_do_update(  # type: ignore[attr-defined]
        index_elements=["wxid"],
        set_={
            "name": statement.excluded.name,  # type: ignore[attr-defined]
            "alias": statement.excluded.alias,  # type: ignore[attr-defined]
            "is_friend": statement.excluded.is_friend,  # type: ignore[attr-defined]
            "updated_at": statement.excluded.updated_at,  # type: ignore[attr-defined]
        },
    )
    session.execute(
        statement,
        [
            {"wxid": c.wxid, "name": c.name, "alias": c.alias, "is_friend": c.is_friend, "updated_at": now}
            for c in contacts
        ],
    )
    return len(contacts)


def insert_missing_contacts(session: Session, contacts: Sequence[ContactInfo], now: datetime) -> None:
    """Insert contacts known only as room members; existing rows, friends among them, stay as they are."""
    if not contacts:
        return
    statement = _insert_for(session, Contact).on_conflict_do_nothing(index_elements=["wxid"])  # type: ignore[attr-defined]
    session.execute(
        statement,
        [{"wxid": c.wxid, "name": c.name, "alias": c.alias, "is_friend": False, "updated_at": now} for c in contacts],
    )


def ensure_contact(session: Session, wxid: str, name: str, now: datetime) -> None:
    """Record a contact seen in a message; a non-empty name replaces the stored one, friendship is kept."""
    statement = _insert_for(session, Contact)
    values = {"wxid": wxid, "name": name, "alias": "", "is_friend": False, "updated_at": now}
    if name:
        statement = statement.on_conflict_do_update(  # type: ignore[attr-defined]
            index_elements=["wxid"], set_={"name": name, "updated_at": now}
        )
    else:
        statement = statement.on_conflict_do_nothing(index_elements=["wxid"])  # type: ignore[attr-defined]
    session.execute(statement, [values])


def upsert_rooms(session: Session, rooms: Sequence[RoomInfo], now: datetime) -> int:
    if not rooms:
        return 0
    statement = _insert_for(session, Room)
    statement = statement.on_conflict_do_update(  # type: ignore[attr-defined]
        index_elements=["wxid"],
        set_={
            "topic": statement.excluded.topic,  # type: ignore[attr-defined]
            "member_count": statement.excluded.member_count,  # type: ignore[attr-defined]
            "active": True,
            "updated_at": statement.excluded.updated_at,  # type: ignore[attr-defined]
        },
    )
    session.execute(
        statement,
        [
            {"wxid": r.wxid, "topic": r.topic, "remark": "", "active": True, "member_count": r.member_count,
             "updated_at": now}
            for r in rooms
        ],
    )
    return len(rooms)


def replace_room_members(session: Session, room_wxid: str, members: Sequence[MemberInfo], now: datetime) -> int:
    """Make the stored member list of a room equal to ``members``."""
    keep = [m.contact_wxid for m in members]
    session.execute(
        delete(RoomMember).where(
            col(RoomMember.room_wxid) == room_wxid, col(RoomMember.contact_wxid).not_in(keep)
        )
    )
    add_room_members(session, room_wxid, members, now)
    session.execute(
        update(Room).where(col(Room.wxid) == room_wxid).values(member_count=len(members), updated_at=now)
    )
    return len(members)


def add_room_members(session: Session, room_wxid: str, members: Iterable[MemberInfo], now: datetime) -> None:
    rows = [
        {"room_wxid": room_wxid, "contact_wxid": m.contact_wxid, "display_name": m.display_name, "updated_at": now}
        for m in members
    ]
    if not rows:
        return
    statement = _insert_for(session, RoomMember)
    statement = statement.on_conflict_do_update(  # type: ignore[attr-defined]
        index_elements=["room_wxid", "contact_wxid"],
        set_={
            "display_name": statement.excluded.display_name,  # type: ignore[attr-defined]
            "updated_at": statement.excluded.updated_at,  # type: ignore[attr-defined]
        },
    )
    session.execute(statement, rows)


def remove_room_members(session: Session, room_wxid: str, contact_wxids: Iterable[str], now: datetime) -> None:
    session.execute(
        delete(RoomMember).where(
            col(RoomMember.room_wxid) == room_wxid, col(RoomMember.contact_wxid).in_(list(contact_wxids))
        )
    )
    count = session.execute(select(func.count()).where(col(RoomMember.room_wxid) == room_wxid)).scalar() or 0
    session.execute(
        update(Room).where(col(Room.wxid) == room_wxid).values(member_count=count, updated_at=now)
    )


def set_room_topic(session: Session, room_wxid: str, topic: str, now: datetime) -> None:
    upsert_rooms(session, [RoomInfo(room_wxid, topic)], now)
    count = session.execute(select(func.count()).where(col(RoomMember.room_wxid) == room_wxid)).scalar() or 0
    session.execute(update(Room).where(col(Room.wxid) == room_wxid).values(member_count=count))


def set_room_active(session: Session, room_wxid: str, active: bool, now: datetime) -> None:
    session.execute(update(Room).where(col(Room.wxid) == room_wxid).values(active=active, updated_at=now))


def fallback_name(wxid: str, template: str) -> str:
    return template.format(suffix=wxid[-4:])


def display_names(
    session: Session, wxids: Sequence[str], room_wxid: str | None, fallback_template: str
) -> dict[str, str]:
    """Return a name for each wxid: the room display name, else the contact name, else the fallback."""
    names: dict[str, str] = {}
    unique = list(dict.fromkeys(wxids))
    if room_wxid is not None and unique:
        rows = session.execute(
            select(col(RoomMember.contact_wxid), col(RoomMember.display_name)).where(
                col(RoomMember.room_wxid) == room_wxid, col(RoomMember.contact_wxid).in_(unique)
            )
        ).all()
        names.update({wxid: name for wxid, name in rows if name and name.strip()})
    missing = [wxid for wxid in unique if wxid not in names]
    if missing:
        rows = session.execute(
            select(col(Contact.wxid), col(Contact.name)).where(col(Contact.wxid).in_(missing))
        ).all()
        names.update({wxid: name for wxid, name in rows if name and name.strip()})
    for wxid in unique:
        names.setdefault(wxid, fallback_name(wxid, fallback_template))
    return names


def find_room(session: Session, wxid_or_topic: str) -> list[Room]:
    """Return the rooms whose wxid or topic equals the argument (several when topics repeat)."""
    by_id = session.execute(select(Room).where(col(Room.wxid) == wxid_or_topic)).scalars().all()
    if by_id:
        return list(by_id)
    return list(session.execute(select(Room).where(col(Room.topic) == wxid_or_topic)).scalars().all())
