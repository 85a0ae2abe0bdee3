"""Points ledger: integer balances that change only through append-only ledger entries.

Every change is a transfer between two accounts, written as two ledger entries (debit and credit)
in the caller's transaction, so all balances together always sum to zero. The treasury is the one
account allowed below zero, because granting points mints them there. Member and escrow balances
never go negative: the debit is a conditional UPDATE, and a CHECK constraint backs it in the schema.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlmodel import Session, col

from repe_bot.db import plain_sql
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
    """The debited account has less than the amount."""

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
    return _create_account(session, key, now), 0


_INSERT_ACCOUNT = (
    "INSERT INTO account (key, kind, contact_wxid, activity_id, balance, created_at)"
    " VALUES (:key, :kind, :contact_wxid, :activity_id, 0, :now) RETURNING id"
)


def _create_account(session: Session, key: str, now: datetime) -> int:
    kind, contact_wxid, activity_id = _describe_key(key)
    rows = plain_sql.fetch(
        session,
        _INSERT_ACCOUNT,
        {"key": key, "kind": kind, "contact_wxid": contact_wxid, "activity_id": activity_id, "now": now},
    )
    return int(rows[0][0])


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
    rows = plain_sql.fetch(session, "SELECT balance FROM account WHERE key = :key", {"key": key})
    return int(rows[0][0]) if rows else 0


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

    Raises InsufficientBalance when the source is not the treasury and has less than ``amount``.
    A repeated key changes nothing and returns ``Transfer(applied=False)``.
    """
    if amount <= 0:
        raise ValueError(f"transfer amount must be a positive integer, got {amount!r}")
    if from_key == to_key:
        raise ValueError(f"transfer from {from_key} to itself")

    debit_key = f"{idempotency_key}:debit"
    seen = plain_sql.fetch(
        session, "SELECT 1 FROM ledger_entry WHERE idempotency_key = :key", {"key": debit_key}
    )
    if seen:
        return Transfer(applied=False)

    from_id, from_balance = _debit(session, from_key, amount, now)
    to_id, to_balance = _credit(session, to_key, amount, now)

    common = {
        "reason": reason,
        "transfer_key": idempotency_key,
        "activity_id": activity_id,
        "entry_id": entry_id,
        "memo": memo,
        "created_at": now,
    }
    plain_sql.execute_many(
        session,
        _INSERT_ENTRY,
        [
            {"account_id": from_id, "delta": -amount, "balance_after": from_balance,
             "idempotency_key": debit_key, **common},
            {"account_id": to_id, "delta": amount, "balance_after": to_balance,
             "idempotency_key": f"{idempotency_key}:credit", **common},
        ],
    )
    return Transfer(applied=True, from_balance=from_balance, to_balance=to_balance)


# The WHERE clause is the rule of the CHECK constraint: only the treasury may go below zero.
_DEBIT = (
    "UPDATE account SET balance = balance - :amount"
    " WHERE key = :key AND (balance >= :amount OR kind = 'treasury') RETURNING id, balance"
)
_CREDIT = "UPDATE account SET balance = balance + :amount WHERE key = :key RETURNING id, balance"
_INSERT_ENTRY = (
    "INSERT INTO ledger_entry (account_id, delta, balance_after, reason, transfer_key, idempotency_key,"
    " activity_id, entry_id, memo, created_at) VALUES (:account_id, :delta, :balance_after, :reason,"
    " :transfer_key, :idempotency_key, :activity_id, :entry_id, :memo, :created_at)"
)


def _debit(session: Session, key: str, amount: int, now: datetime) -> tuple[int, int]:
    """Take ``amount`` from account ``key`` and return (id, new balance); raise InsufficientBalance."""
    params = {"key": key, "amount": amount}
    rows = plain_sql.fetch(session, _DEBIT, params)
    if not rows:
        # Either the balance is below the amount or the account does not exist yet. A missing account is
        # created with balance 0, as ensure_account does, so that only the treasury can pay from it.
        _, held = ensure_account(session, key, now)
        rows = plain_sql.fetch(session, _DEBIT, params) if key == TREASURY_KEY else []
        if not rows:
            raise InsufficientBalance(key, held, amount)
    account_id, new_balance = int(rows[0][0]), int(rows[0][1])
    plain_sql.set_loaded(session, Account, account_id, {"balance": new_balance})
    return account_id, new_balance


def _credit(session: Session, key: str, amount: int, now: datetime) -> tuple[int, int]:
    """Add ``amount`` to account ``key``, creating the account when missing; return (id, new balance)."""
    params = {"key": key, "amount": amount}
    rows = plain_sql.fetch(session, _CREDIT, params)
    if not rows:
        _create_account(session, key, now)
        rows = plain_sql.fetch(session, _CREDIT, params)
    account_id, new_balance = int(rows[0][0]), int(rows[0][1])
    plain_sql.set_loaded(session, Account, account_id, {"balance": new_balance})
    return account_id, new_balance


def verify(session: Session) -> list[str]:
    """Return every inconsistency found in the ledger; an empty list means it is sound.

    Checks: each balance equals the sum of its entries and its newest ``balance_after``; no
    non-treasury balance is negative; all balances sum to zero; each open activity's escrow contains
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
