"""`repe outbox list` and `repe outbox retry` on a real SQLite file."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy import select

from repe_bot import outbox
from repe_bot.db.database import session_scope
from repe_bot.db.models import OutboxMessage
from tests.test_cli import Cli, assert_usage_error


@pytest.fixture
def cli(tmp_path: Path) -> Iterator[Cli]:
    runner = Cli(tmp_path)
    result = runner.run("init")
    assert result.exit_code == 0, result.output
    yield runner
    runner.close()


def failed_row(cli: Cli) -> int:
    now = datetime.now(timezone.utc)
    with session_scope(cli.engine) as session:
        row_id = outbox.enqueue(session, conversation_wxid="room@chatroom", is_room=True, text="你好", now=now)
        assert row_id is not None
        batch = outbox.Batch([row_id], "room@chatroom", True, "你好", attempts=7)
        outbox.mark_failed(session, batch, now, "RuntimeError: gateway down", retry_after=1, max_attempts=8)
    return row_id


def test_outbox_list_and_retry(cli: Cli) -> None:
    row_id = failed_row(cli)

    rows = cli.json("outbox", "list", "--status", "failed")
    assert [row["id"] for row in rows] == [row_id]
    assert rows[0]["error"] == "RuntimeError: gateway down"

    result = cli.run("outbox", "retry")
    assert result.exit_code == 0, result.output
    with session_scope(cli.engine) as session:
        row = session.execute(select(OutboxMessage).where(OutboxMessage.id == row_id)).scalars().one()
    assert row.status == "pending"
    assert row.attempts == 0


def test_outbox_rejects_bad_input(cli: Cli) -> None:
    row_id = failed_row(cli)
    cli.run("outbox", "retry", str(row_id))
    before = cli.snapshot()

    assert_usage_error(cli.run("outbox", "retry", "999"), "999", "repe outbox list")
    assert_usage_error(cli.run("outbox", "retry", str(row_id)), str(row_id), "pending")
    assert_usage_error(cli.run("outbox", "list", "--status", "bogus"), "bogus")
    assert cli.snapshot() == before
