"""The bundled demo scenario end to end, as `make demo` runs it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from typer.testing import CliRunner

from cli.main import app


def test_demo_runs_and_verifies(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    database = tmp_path / "demo.db"
    result = CliRunner().invoke(app, ["demo", "--db", str(database), "--speed", "0"])

    assert result.exit_code == 0, result.output
    assert "报名成功" in result.output
    assert "签到成功" in result.output
    assert "已结束" in result.output

    with sqlite3.connect(database) as connection:
        entries = dict(connection.execute(
            "SELECT activity_id, count(*) FROM activity_entry GROUP BY activity_id"
        ).fetchall())
        statuses = dict(connection.execute("SELECT status, count(*) FROM outbox GROUP BY status").fetchall())
    assert entries[1] == 12  # the once activity fills its 12 places, no more
    assert entries[2] == 31  # every member and the latecomer check in once
    assert statuses.get("pending", 0) == 0
    assert statuses.get("failed", 0) == 0
    assert not (tmp_path / ".wechaty").exists()


def test_demo_refuses_existing_file(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    precious = tmp_path / "repe.db"
    precious.write_text("not a demo", encoding="utf-8")

    result = CliRunner().invoke(app, ["demo", "--db", str(precious)])

    assert result.exit_code == 2
    assert str(precious) in result.output
    assert precious.read_text(encoding="utf-8") == "not a demo"
