"""Points ledger: integer balances that change only through append-only ledger entries.

Every change is a transfer between two accounts, written as two ledger entries (debit and credit)
in the caller's transaction, so all balances together always sum to zero. The treasury is the one
account allowed below zero, because granting points mints them there. Member and escrow balances
never go negative: the debit is a conditional UPDATE, and a CHECK constraint backs it in the schema.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, insert, select, update
from sqlmodel import Session, col

from repe_bot.db.models import (
    ACCOUNT_ESCROW,
    ACCOUNT_MEMBER,
    ACCOUNT_TREASURY,
    TREASURY_KEY,
    Account,
    Activity,
    ActivityPeriod,
    LedgerEntry,
)


class InsufficientBalance(Exception):
    """The debited account holds less than the amount."""

    def __init__(self, account_key: str, balance: int, amount: int) -> None:
        super().__init__(f"account {account_key} holds {balance} points, {amount} needed")
        self.account_key = account_key
        self.balance = balance
        self.amount = amount


def member_key(contact_wxid: str) -> str:
    return f"member:{contact_wxid}"


def escrow_key(activity_id: int) -> str:
    return f"escrow:{activity_id}"


def funder_key(funder_wxid: str | None) -> str:
    return member_key(funder_wxid) if funder_wxid else TREASURY_KEY


def ensure_account(session: Session, key: str, now: datetime) -> tuple[int, int]:
    """Return (id, balance) of the account ``key``, creating it with balance 0 when missing."""
    row = session.execute(
        select(col(Account.id), col(Account.balance)).where(col(Account.key) == key)
    ).first()
    if row is not None:
        return row[0], row[1]

    kind, contact_wxid, activity_id = _describe_key(key)
    result = session.exec(
        insert(Account).values(
            key=key, kind=kind, contact_wxid=contact_wxid, activity_id=activity_id, balance=0, created_at=now
        )
    )
    primary_key = result.inserted_primary_key
    assert primary_key is not None, "a single-row INSERT reports its autoincrement primary key"
    return int(primary_key[0]), 0


def _describe_key(key: str) -> tuple[str, str | None, int | None]:
    if key == TREASURY_KEY:
        return ACCOUNT_TREASURY, None, None
    prefix, _, rest = key.partition(":")
    if prefix == "member" and rest:
        return ACCOUNT_MEMBER, rest, None
    if prefix == "escrow" and rest.isdigit():
        return ACCOUNT_ESCROW, None, int(rest)
    raise ValueError(f"invalid account key {key!r}")


def balance(session: Session, key: str) -> int:
    value = session.execute(select(col(Account.balance)).where(col(Account.key) == key)).scalar()
    return int(value or 0)


@dataclass(frozen=True)
class Transfer:
    """A transfer as applied: the balances after it, or None fields when the key had been applied before."""

    applied: bool
    from_balance: int | None = None
    to_balance: int | None = None


def transfer(
    session: Session,
    *,
    from_key: str,
    to_key: str,
    amount: int,
    reason: str,
    idempotency_key: str,
    now: datetime,
    activity_id: int | None = None,
    entry_id: int | None = None,
    memo: str = "",
) -> Transfer:
    """Move ``amount`` points inside the caller's transaction, once per ``idempotency_key``.

    Raises InsufficientBalance when the source is not the treasury and holds less than ``amount``.
    A repeated key changes nothing and returns ``Transfer(applied=False)``.
    """
    if amount <= 0:
        raise ValueError(f"transfer amount must be a positive integer, got {amount!r}")
    if from_key == to_key:
        raise ValueError(f"transfer from {from_key} to itself")

    debit_key = f"{idempotency_key}:debit"
    seen = session.execute(
        select(col(LedgerEntry.id)).where(col(LedgerEntry.idempotency_key) == debit_key)
    ).first()
    if seen is not None:
        return Transfer(applied=False)

    from_id, from_balance = ensure_account(session, from_key, now)
    to_id, _ = ensure_account(session, to_key, now)

    debited = session.execute(
        update(Account)
        .where(
            col(Account.id) == from_id,
            (col(Account.balance) >= amount) | (col(Account.kind) == ACCOUNT_TREASURY),
        )
        .values(balance=col(Account.balance) - amount)
        .returning(col(Account.balance))
    ).first()
    if debited is None:
        raise InsufficientBalance(from_key, from_balance, amount)

    credited = session.execute(
        update(Account)
        .where(col(Account.id) == to_id)
        .values(balance=col(Account.balance) + amount)
        .returning(col(Account.balance))
    ).one()

    common = {
        "reason": reason,
        "transfer_key": idempotency_key,
        "activity_id": activity_id,
        "entry_id": entry_id,
        "memo": memo,
        "created_at": now,
    }
    session.execute(
        insert(LedgerEntry),
        [
            {"account_id": from_id, "delta": -amount, "balance_after": debited[0],
             "idempotency_key": debit_key, **common},
            {"account_id": to_id, "delta": amount, "balance_after": credited[0],
             "idempotency_key": f"{idempotency_key}:credit", **common},
        ],
    )
    return Transfer(applied=True, from_balance=int(debited[0]), to_balance=int(credited[0]))


def verify(session: Session) -> list[str]:
    """Return every inconsistency found in the ledger; an empty list means it is sound.

    Checks: each balance equals the sum of its entries and its newest ``balance_after``; no
    non-treasury balance is negative; all balances sum to zero; each open activity's escrow holds
    what its unsettled periods were funded minus what they paid.
    """
    problems: list[str] = []

    sums = dict(
        session.execute(
            select(col(LedgerEntry.account_id), func.sum(LedgerEntry.delta)).group_by(
                col(LedgerEntry.account_id)
            )
        ).all()
    )
    newest_ids = select(func.max(LedgerEntry.id)).group_by(col(LedgerEntry.account_id))
    newest = dict(
        session.execute(
            select(col(LedgerEntry.account_id), col(LedgerEntry.balance_after)).where(
                col(LedgerEntry.id).in_(newest_ids)
            )
        ).all()
    )

    total = 0
    for account in session.execute(select(Account)).scalars():
        total += account.balance
        entry_sum = int(sums.get(account.id, 0) or 0)
        if account.balance != entry_sum:
            problems.append(f"account {account.key}: balance {account.balance} != sum of ledger entries {entry_sum}")
        if account.id in newest and newest[account.id] != account.balance:
            problems.append(
                f"account {account.key}: balance {account.balance} != newest balance_after {newest[account.id]}"
            )
        if account.balance < 0 and account.kind != ACCOUNT_TREASURY:
            problems.append(f"account {account.key}: negative balance {account.balance}")
    if total != 0:
        problems.append(f"balances sum to {total}, expected 0")

    open_escrows = session.execute(
        select(
            col(Activity.id),
            func.coalesce(func.sum(col(ActivityPeriod.funded) - col(ActivityPeriod.paid)), 0),
        )
        .join(ActivityPeriod, col(ActivityPeriod.activity_id) == col(Activity.id))
        .where(
            col(Activity.status) == "open",
            col(ActivityPeriod.settled).is_(False),
            col(ActivityPeriod.funded) > 0,
        )
        .group_by(col(Activity.id))
    ).all()
    for activity_id, expected in open_escrows:
        held = balance(session, escrow_key(activity_id))
        if held != int(expected):
            problems.append(f"activity {activity_id}: escrow holds {held}, open periods expect {int(expected)}")

    return problems
