"""The interactive simulator console, fed with scripted input lines."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console

from repe_bot.activities import ActivityEngine, ActivitySpec
from repe_bot.adapter.console import run_console
from repe_bot.clock import utc_now
from repe_bot.db.database import make_engine, session_scope, upgrade
from tests.harness import fast_settings


def scripted(lines: list[str]):  # type: ignore[no-untyped-def]
    remaining = list(lines)

    def read_line(prompt: str) -> str:
        if not remaining:
            raise EOFError
        return remaining.pop(0)

    return read_line


def test_console_member_joins(tmp_path: Path) -> None:
    settings = fast_settings(tmp_path / "console.db")
    # The admin creates the activity with the CLI before trying it in the console.
    engine = make_engine(settings.database_url())
    upgrade(engine)
    with session_scope(engine) as session:
        ActivityEngine(settings).create(
            session, ActivitySpec(name="读书会", passphrase="报名", room_wxid="reading-club@chatroom"), utc_now()
        )
    engine.dispose()
    output = io.StringIO()
    code = run_console(
        settings, None, "wxid_reader02", None,
        read_line=scripted(["/members", "报名", "/as wxid_reader03", "@活动助手 报名", "/wait 0.5", "/quit"]),
        console=Console(file=output, width=200),
    )
    text = output.getvalue()
    assert code == 0
    assert "报名成功" in text
    assert "王芳" in text
    assert "李娜" in text


def test_console_unknown_member(tmp_path: Path) -> None:
    settings = fast_settings(tmp_path / "console.db")
    output = io.StringIO()
    run_console(settings, None, None, None, read_line=scripted(["/as nobody", "/wait abc"]),
                console=Console(file=output, width=200))
    assert "nobody" in output.getvalue()
    assert "abc" in output.getvalue()
