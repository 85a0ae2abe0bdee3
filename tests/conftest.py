"""Shared fixtures: a real SQLite file per test, settings and a movable clock."""

from __future__ import annotations

import gc
import random
import socket
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from repe_bot import ledger
from repe_bot.config import Settings, settings_from_dict
from repe_bot.db.database import make_engine, session_scope, upgrade
from repe_bot.i18n import set_language
from repe_bot.service import MessageService


class FakeClock:
    """A clock that only moves when a test moves it."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now

    def set(self, value: datetime) -> None:
        self.now = value


@pytest.fixture(autouse=True)
def _collect_garbage() -> Iterator[None]:
    """Run finalizers of the test's leftovers (gRPC channels, tasks) before the next test starts.

    CPython 3.11.7 keeps the AST conversion's recursion counter in shared state, so a finalizer
    that logs a traceback (which parses source with ``ast``) while another ``ast.parse`` is running
    fails with "SystemError: AST constructor recursion depth mismatch" (fixed in 3.11.8).
    """
    yield
    gc.collect()


@pytest.fixture(autouse=True)
def _english_messages() -> Iterator[None]:
    set_language("en")
    yield
    set_language("en")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 12, 4, 4, 0, tzinfo=timezone.utc))  # 12:00 in Asia/Shanghai


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "repe.db"


def make_settings(db_path: Path, **overrides: Any) -> Settings:
    data: dict[str, Any] = {"database": {"url": f"sqlite:///{db_path}"}}
    for section, values in overrides.items():
        if isinstance(values, dict):
            data.setdefault(section, {}).update(values)
        else:
            data[section] = values
    return settings_from_dict(data)


@pytest.fixture
def settings(db_path: Path) -> Settings:
    return make_settings(db_path)


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    engine = make_engine(settings.database_url())
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def service(engine: Engine, settings: Settings, clock: FakeClock) -> MessageService:
    return MessageService(engine, settings, clock=clock, rng=random.Random(7))


def grant(engine: Engine, wxid: str, amount: int, now: datetime, key: str | None = None) -> None:
    with session_scope(engine) as session:
        ledger.transfer(
            session, from_key=ledger.TREASURY_KEY, to_key=ledger.member_key(wxid), amount=amount,
            reason="grant", idempotency_key=key or f"test-grant:{wxid}:{amount}:{now.isoformat()}", now=now,
        )


def verify_ledger(engine: Engine) -> list[str]:
    with session_scope(engine) as session:
        return ledger.verify(session)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
