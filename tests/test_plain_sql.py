"""Plain SQL on the session's connection: transactions, savepoints, errors and loaded objects."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import Engine, event, exc, select
from sqlmodel import Session, col

from repe_bot import ledger
from repe_bot.activities import ActivitySpec
from repe_bot.db import plain_sql
from repe_bot.db.database import session_scope
from repe_bot.db.models import Account, Activity, ActivityPeriod, Contact
from repe_bot.directory import ensure_contact
from repe_bot.service import IncomingMessage, MessageService
from tests.conftest import FakeClock, grant, verify_ledger

ROOM = "plain@chatroom"


def contact_names(engine: Engine) -> list[str]:
    with session_scope(engine) as session:
        return list(session.execute(select(col(Contact.name)).order_by(col(Contact.name))).scalars())


def test_fetch_rolls_back_with_session(engine: Engine, clock: FakeClock) -> None:
    with Session(engine) as session:
        ensure_contact(session, "wxid_a", "Alice", clock())
        session.rollback()
        ensure_contact(session, "wxid_b", "Bob", clock())
        session.commit()

    assert contact_names(engine) == ["Bob"]


def test_savepoint_rollback_undoes_plain_writes(engine: Engine, clock: FakeClock) -> None:
    with session_scope(engine) as session:
        ensure_contact(session, "wxid_a", "Alice", clock())
        nested = session.begin_nested()
        ensure_contact(session, "wxid_b", "Bob", clock())
        nested.rollback()
        ensure_contact(session, "wxid_c", "Carol", clock())

    assert contact_names(engine) == ["Alice", "Carol"]


def test_constraint_error_is_sqlalchemy_integrity_error(engine: Engine, clock: FakeClock) -> None:
    sql = "INSERT INTO processed_message (message_id, seen_at) VALUES (:id, :now)"
    with Session(engine) as session:
        plain_sql.fetch(session, sql, {"id": "m1", "now": clock()})
        with pytest.raises(exc.IntegrityError):
            plain_sql.fetch(session, sql, {"id": "m1", "now": clock()})


def test_datetime_stored_as_orm_reads_it(engine: Engine, clock: FakeClock) -> None:
    shanghai_time = clock().astimezone(timezone(timedelta(hours=8)))
    with session_scope(engine) as session:
        ensure_contact(session, "wxid_a", "Alice", shanghai_time)
    with session_scope(engine) as session:
        stored = session.execute(select(col(Contact.updated_at))).scalar_one()

    assert stored == clock()
    assert stored.utcoffset() is not None


def test_naive_datetime_rejected(engine: Engine, clock: FakeClock) -> None:
    with Session(engine) as session, pytest.raises(ValueError, match="no timezone"):
        ensure_contact(session, "wxid_a", "Alice", clock().replace(tzinfo=None))


def test_deadline_of_open_row_is_utc(service: MessageService, clock: FakeClock) -> None:
    deadline = clock() + timedelta(hours=2)
    spec = ActivitySpec(name="Run", passphrase="run", room_wxid=ROOM, deadline_at=deadline)
    with session_scope(service.engine) as session:
        service.activities.create(session, spec, clock())
    with session_scope(service.engine) as session:
        row = service.activities.find_open_row(session, ROOM, "run")
        orm = service.activities.find_open(session, ROOM, "run")

    assert row is not None and orm is not None
    assert row.deadline_at == orm.deadline_at
    assert row.deadline_at is not None and row.deadline_at.utcoffset() == timedelta(0)


def test_transfer_updates_loaded_account(engine: Engine, clock: FakeClock) -> None:
    grant(engine, "alice", 10, clock())
    with session_scope(engine) as session:
        account = session.execute(
            select(Account).where(col(Account.key) == ledger.member_key("alice"))
        ).scalar_one()
        ledger.transfer(
            session, from_key=ledger.member_key("alice"), to_key=ledger.TREASURY_KEY, amount=4,
            reason="test", idempotency_key="t1", now=clock(),
        )
        assert account.balance == 6
        assert account not in session.dirty


def test_join_updates_loaded_activity(service: MessageService, clock: FakeClock) -> None:
    spec = ActivitySpec(name="Run", passphrase="run", room_wxid=ROOM, reward_mode="fixed", reward_amount=2)
    with session_scope(service.engine) as session:
        activity = service.activities.create(session, spec, clock())
        result = service.activities.join(session, activity, "wxid_a", clock(), contact_name="Alice")
        period = session.execute(
            select(ActivityPeriod).where(col(ActivityPeriod.activity_id) == activity.id)
        ).scalar_one()

        assert result.status == "joined"
        assert result.balance == 2
        assert activity.joined_total == 1
        assert activity.paid_total == 2
        assert period.joined_count == 1
        assert period.paid == 2


def test_pool_refund_after_full_join(service: MessageService, clock: FakeClock) -> None:
    grant(service.engine, "funder", 100, clock())
    spec = ActivitySpec(
        name="Pool", passphrase="pool", room_wxid=ROOM, reward_mode="equal", pool=10, capacity=3,
        funder_wxid="funder",
    )
    with session_scope(service.engine) as session:
        service.activities.create(session, spec, clock())
    for index in range(3):
        message = IncomingMessage(id=f"m{index}", talker_id=f"wxid_{index}", text="pool", room_id=ROOM)
        assert service.handle(message) == "joined"

    with session_scope(service.engine) as session:
        activity = session.execute(select(Activity)).scalar_one()
        funder = ledger.balance(session, ledger.member_key("funder"))

    assert activity.status == "closed"
    assert activity.joined_total == 3
    assert activity.paid_total == 10
    assert funder == 90
    assert verify_ledger(service.engine) == []


def test_ordinary_chat_opens_no_transaction(service: MessageService, clock: FakeClock) -> None:
    spec = ActivitySpec(name="Run", passphrase="run", room_wxid=ROOM)
    with session_scope(service.engine) as session:
        service.activities.create(session, spec, clock())
    begins: list[datetime] = []
    event.listen(service.engine, "begin", lambda connection: begins.append(clock()))

    outcome = service.handle(IncomingMessage(id="chat-1", talker_id="wxid_a", text="hello all", room_id=ROOM))

    assert outcome == "ignored"
    assert begins == []
