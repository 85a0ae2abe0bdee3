"""Contacts, rooms and room members, keyed by WeChat id (wxid) and never by name.

Names are stored exactly as WeChat reports them, including empty or emoji-only names; only
``display_name`` substitutes a fallback when a name is blank.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlmodel import Session, col

from repe_bot.db import plain_sql
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


# The directory writes run once per synced row, so they are plain SQL executed with the driver's
# executemany (see repe_bot.db.plain_sql). ON CONFLICT ... DO UPDATE works on SQLite and PostgreSQL.
_UPSERT_CONTACT = (
    "INSERT INTO contact (wxid, name, alias, is_friend, updated_at)"
    " VALUES (:wxid, :name, :alias, :is_friend, :updated_at)"
    " ON CONFLICT (wxid) DO UPDATE SET name = excluded.name, alias = excluded.alias,"
    " is_friend = excluded.is_friend, updated_at = excluded.updated_at"
)
_INSERT_MISSING_CONTACT = (
    "INSERT INTO contact (wxid, name, alias, is_friend, updated_at)"
    " VALUES (:wxid, :name, :alias, :is_friend, :updated_at) ON CONFLICT (wxid) DO NOTHING"
)
_UPSERT_ROOM = (
    "INSERT INTO room (wxid, topic, remark, active, member_count, updated_at)"
    " VALUES (:wxid, :topic, '', :active, :member_count, :updated_at)"
    " ON CONFLICT (wxid) DO UPDATE SET topic = excluded.topic, member_count = excluded.member_count,"
    " active = excluded.active, updated_at = excluded.updated_at"
)
_UPSERT_ROOM_MEMBER = (
    "INSERT INTO room_member (room_wxid, contact_wxid, display_name, updated_at)"
    " VALUES (:room_wxid, :contact_wxid, :display_name, :updated_at)"
    " ON CONFLICT (room_wxid, contact_wxid) DO UPDATE SET display_name = excluded.display_name,"
    " updated_at = excluded.updated_at"
)


def upsert_contacts(session: Session, contacts: Sequence[ContactInfo], now: datetime) -> int:
    """Insert or update contacts in one executemany; return how many rows were given."""
    plain_sql.execute_many(
        session,
        _UPSERT_CONTACT,
        [
            {"wxid": c.wxid, "name": c.name, "alias": c.alias, "is_friend": c.is_friend, "updated_at": now}
            for c in contacts
        ],
    )
    return len(contacts)


def insert_missing_contacts(session: Session, contacts: Sequence[ContactInfo], now: datetime) -> None:
    """Insert contacts known only as room members; existing rows, friends among them, stay as they are."""
    plain_sql.execute_many(
        session,
        _INSERT_MISSING_CONTACT,
        [
            {"wxid": c.wxid, "name": c.name, "alias": c.alias, "is_friend": False, "updated_at": now}
            for c in contacts
        ],
    )


# A member seen in a message is not thereby a friend, so an insert has is_friend false and an
# update leaves it alone. A blank name never replaces a stored one.
_ENSURE_CONTACT_NAMED = (
    "INSERT INTO contact (wxid, name, alias, is_friend, updated_at) VALUES (:wxid, :name, '', :false, :now)"
    " ON CONFLICT (wxid) DO UPDATE SET name = excluded.name, updated_at = excluded.updated_at"
)
_ENSURE_CONTACT_UNNAMED = (
    "INSERT INTO contact (wxid, name, alias, is_friend, updated_at) VALUES (:wxid, '', '', :false, :now)"
    " ON CONFLICT (wxid) DO NOTHING"
)


def ensure_contact(session: Session, wxid: str, name: str, now: datetime) -> None:
    """Record a contact seen in a message; a non-empty name replaces the stored one, friendship is kept."""
    if name:
        params = {"wxid": wxid, "name": name, "false": False, "now": now}
        plain_sql.fetch(session, _ENSURE_CONTACT_NAMED, params)
    else:
        plain_sql.fetch(session, _ENSURE_CONTACT_UNNAMED, {"wxid": wxid, "false": False, "now": now})


def upsert_rooms(session: Session, rooms: Sequence[RoomInfo], now: datetime) -> int:
    """Insert or update rooms, marking each one active; return how many rows were given."""
    plain_sql.execute_many(
        session,
        _UPSERT_ROOM,
        [
            {
                "wxid": r.wxid, "topic": r.topic, "active": True, "member_count": r.member_count,
                "updated_at": now,
            }
            for r in rooms
        ],
    )
    return len(rooms)


def replace_room_members(session: Session, room_wxid: str, members: Sequence[MemberInfo], now: datetime) -> int:
    """Make the stored member list of a room equal to ``members``."""
    keep = {m.contact_wxid for m in members}
    # Reading the stored ids and deleting only the departed ones costs one small SELECT when no
    # member left, where a NOT IN over the whole member list binds one parameter per member.
    stored = plain_sql.fetch(
        session, "SELECT contact_wxid FROM room_member WHERE room_wxid = :room_wxid", {"room_wxid": room_wxid}
    )
    departed = [
        {"room_wxid": room_wxid, "contact_wxid": wxid} for (wxid,) in stored if wxid not in keep
    ]
    plain_sql.execute_many(
        session,
        "DELETE FROM room_member WHERE room_wxid = :room_wxid AND contact_wxid = :contact_wxid",
        departed,
    )
    add_room_members(session, room_wxid, members, now)
    plain_sql.fetch(
        session,
        "UPDATE room SET member_count = :member_count, updated_at = :now WHERE wxid = :wxid",
        {"member_count": len(members), "now": now, "wxid": room_wxid},
    )
    return len(members)


def add_room_members(session: Session, room_wxid: str, members: Iterable[MemberInfo], now: datetime) -> None:
    rows = [
        {"room_wxid": room_wxid, "contact_wxid": m.contact_wxid, "display_name": m.display_name, "updated_at": now}
        for m in members
    ]
    plain_sql.execute_many(session, _UPSERT_ROOM_MEMBER, rows)


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
