"""Activity engine on a real SQLite file: creation checks, joins, pools, closing and escrow."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from repe_bot import ledger
from repe_bot.activities import ActivitySpec, UsageError
from repe_bot.db.database import session_scope
from repe_bot.db.models import Activity, ActivityEntry, OutboxMessage
from repe_bot.service import IncomingMessage, MessageService
from tests.conftest import FakeClock, grant, verify_ledger

ROOM = "room1@chatroom"


def create(service: MessageService, **fields: object) -> int:
    spec = ActivitySpec(**{"name": "读书会", "passphrase": "报名", "room_wxid": ROOM, **fields})  # type: ignore[arg-type]
    with session_scope(service.engine) as session:
        activity = service.activities.create(session, spec, service.clock())
        return int(activity.id)  # type: ignore[arg-type]


def say(service: MessageService, talker: str, text: str, message_id: str | None = None, room: str | None = ROOM) -> str:
    message = IncomingMessage(id=message_id or f"{talker}:{text}", talker_id=talker, text=text, room_id=room)
    return service.handle(message)


def entries(service: MessageService, activity_id: int) -> list[ActivityEntry]:
    with session_scope(service.engine) as session:
        return list(session.execute(select(ActivityEntry).where(ActivityEntry.activity_id == activity_id)).scalars())


def activity(service: MessageService, activity_id: int) -> Activity:
    with session_scope(service.engine) as session:
        row = session.get(Activity, activity_id)
        assert row is not None
        return row


def balance(service: MessageService, wxid: str) -> int:
    with session_scope(service.engine) as session:
        return ledger.balance(session, ledger.member_key(wxid))


def test_join_fixed_reward_pays_once(service: MessageService) -> None:
    activity_id = create(service, reward_mode="fixed", reward_amount=5)

    assert say(service, "u1", "报名", "m1") == "joined"
    assert say(service, "u1", "报名", "m2") == "already"
    assert say(service, "u1", "报名", "m1") == "duplicate"

    assert balance(service, "u1") == 5
    assert len(entries(service, activity_id)) == 1
    assert verify_ledger(service.engine) == []


def test_substring_does_not_join(service: MessageService) -> None:
    create(service)
    assert say(service, "u1", "不报名") == "ignored"
    assert say(service, "u1", "报名吗") == "ignored"


def test_capacity_closes_and_summarises(service: MessageService) -> None:
    activity_id = create(service, capacity=2)

    assert say(service, "u1", "报名") == "joined"
    assert say(service, "u2", "报名") == "joined"
    assert say(service, "u3", "报名") == "ignored"  # closed activities no longer match

    closed = activity(service, activity_id)
    assert closed.status == "closed"
    assert closed.close_reason == "full"
    with session_scope(service.engine) as session:
        kinds = [row.kind for row in session.execute(select(OutboxMessage)).scalars()]
    assert kinds.count("summary") == 1
    assert kinds.count("announce") == 1


def test_random_pool_sums_exactly(service: MessageService) -> None:
    activity_id = create(service, capacity=10, reward_mode="random", pool=100)
    for index in range(15):
        say(service, f"u{index}", "报名")

    rewards = [entry.reward for entry in entries(service, activity_id)]
    assert len(rewards) == 10
    assert sum(rewards) == 100
    assert min(rewards) >= 1
    assert activity(service, activity_id).status == "closed"
    assert verify_ledger(service.engine) == []


def test_early_close_refunds_member_funder(service: MessageService, clock: FakeClock) -> None:
    grant(service.engine, "funder", 50, clock())
    activity_id = create(service, capacity=5, reward_mode="equal", pool=50, funder_wxid="funder")
    assert balance(service, "funder") == 0

    say(service, "u1", "报名")
    with session_scope(service.engine) as session:
        refund = service.activities.close_by_id(session, activity_id, "admin", clock())

    assert refund == 40
    assert balance(service, "funder") == 40
    assert balance(service, "u1") == 10
    assert verify_ledger(service.engine) == []


def test_cost_and_required_points(service: MessageService, clock: FakeClock) -> None:
    create(service, points_required=20, points_cost=3)
    grant(service.engine, "rich", 25, clock())
    grant(service.engine, "poor", 10, clock())

    assert say(service, "rich", "报名") == "joined"
    assert say(service, "poor", "报名") == "insufficient"
    assert balance(service, "rich") == 22
    assert balance(service, "poor") == 10
    assert verify_ledger(service.engine) == []


def test_cost_without_balance_rejected(service: MessageService) -> None:
    create(service, points_cost=1)
    assert say(service, "nobody", "报名") == "insufficient"
    assert balance(service, "nobody") == 0


@pytest.mark.parametrize(
    ("fields", "fragment"),
    [
        ({"capacity": -1}, "capacity"),
        ({"reward_mode": "random", "capacity": 10, "pool": 5}, "smaller than capacity"),
        ({"reward_mode": "random", "capacity": 0, "pool": 5}, "capacity of at least 1"),
        ({"passphrase": "！！"}, "passphrase"),
        ({"kind": "weekly"}, "kind"),
        ({"reward_mode": "fixed"}, "reward amount"),
    ],
)
def test_create_rejects_invalid_spec(service: MessageService, fields: dict[str, object], fragment: str) -> None:
    with pytest.raises(UsageError, match=fragment):
        create(service, **fields)
    with session_scope(service.engine) as session:
        assert session.execute(select(func.count()).select_from(Activity)).scalar() == 0


def test_duplicate_open_passphrase_rejected(service: MessageService) -> None:
    create(service)
    with pytest.raises(UsageError, match="already used"):
        create(service, passphrase=" 报名！")
    create(service, room_wxid="other@chatroom")  # another room may reuse it


def test_deadline_closes_on_housekeeping(service: MessageService, clock: FakeClock) -> None:
    activity_id = create(service, deadline_at=clock() + timedelta(minutes=5))
    clock.advance(minutes=6)
    service.housekeeping()
    assert activity(service, activity_id).close_reason == "deadline"


def test_confirmation_mentions_joiner(service: MessageService) -> None:
    create(service)
    say(service, "u1", "报名")
    with session_scope(service.engine) as session:
        row = session.execute(select(OutboxMessage).where(OutboxMessage.kind == "join")).scalars().one()
    assert json.loads(row.mention_ids) == ["u1"]
    assert "@" not in row.text


def test_daily_budget_exhausted_rejects(service: MessageService) -> None:
    activity_id = create(service, kind="daily", reward_mode="fixed", reward_amount=2, budget=3)

    assert say(service, "u1", "报名") == "joined"
    assert say(service, "u2", "报名") == "full"  # 1 point left, less than one reward

    assert len(entries(service, activity_id)) == 1
    assert verify_ledger(service.engine) == []


def test_once_budget_closes_activity(service: MessageService) -> None:
    activity_id = create(service, reward_mode="fixed", reward_amount=2, budget=5)

    assert say(service, "u1", "报名") == "joined"
    assert say(service, "u2", "报名") == "joined"
    assert say(service, "u3", "报名") == "ignored"  # closed: 1 point left, refunded

    assert activity(service, activity_id).close_reason == "budget"
    assert verify_ledger(service.engine) == []


def test_close_cancels_unsent_announcement(service: MessageService, clock: FakeClock) -> None:
    activity_id = create(service, reward_mode="fixed", reward_amount=2)
    say(service, "u1", "报名")
    with session_scope(service.engine) as session:
        refund = service.activities.close_by_id(session, activity_id, "admin", clock())
        statuses = {row.kind: row.status for row in session.execute(select(OutboxMessage)).scalars()}

    assert refund == 0  # paid straight from the treasury: nothing funded, nothing to refund
    assert statuses["announce"] == "cancelled"
    assert statuses["summary"] == "pending"
