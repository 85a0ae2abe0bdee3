"""The `repe` command line through typer's CliRunner, on a real SQLite file made by `repe init`."""

from __future__ import annotations

import json
import sqlite3
import sys
import threading
import types
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, select, text
from typer.testing import CliRunner

from cli.config_template import EXAMPLE_CONFIG
from cli.main import app
from repe_bot import directory, ledger
from repe_bot.activities import ActivityEngine, UsageError
from repe_bot.clock import utc_now
from repe_bot.config import Settings, load_settings, settings_from_dict
from repe_bot.db.database import make_engine, session_scope
from repe_bot.db.models import Activity, BotTask, OutboxMessage, Room
from repe_bot.directory import ContactInfo, MemberInfo, RoomInfo
from repe_bot.timeparse import parse_deadline, parse_time_of_day

REPO = Path(__file__).resolve().parent.parent
ROOM = "room1@chatroom"
SHANGHAI = ZoneInfo("Asia/Shanghai")


class Cli:
    """Runs `repe --config <file> ...` in-process and opens the same database for checks."""

    def __init__(self, tmp_path: Path, language: str = "en") -> None:
        self.tmp_path = tmp_path
        self.db_path = tmp_path / "repe.db"
        self.config_path = tmp_path / "repe.toml"
        self.write_config(language)
        self.runner = CliRunner()
        self._engine: Engine | None = None

    def write_config(self, language: str) -> None:
        self.config_path.write_text(
            f'language = "{language}"\n[database]\nurl = "sqlite:///{self.db_path}"\n', encoding="utf-8"
        )

    def run(self, *args: str) -> Any:
        return self.runner.invoke(
            app, ["--config", str(self.config_path), *args], env={"COLUMNS": "200", "REPE_CONFIG": None}
        )

    def json(self, *args: str) -> Any:
        result = self.run(*args, "--json")
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)

    @property
    def settings(self) -> Settings:
        return load_settings(self.config_path)

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = make_engine(self.settings.database_url())
        return self._engine

    def snapshot(self) -> list[str]:
        """Return the whole database as SQL text, to show that a rejected command wrote nothing."""
        connection = sqlite3.connect(self.db_path)
        try:
            return list(connection.iterdump())
        finally:
            connection.close()

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()


@pytest.fixture
def cli(tmp_path: Path) -> Iterator[Cli]:
    runner = Cli(tmp_path)
    result = runner.run("init")
    assert result.exit_code == 0, result.output
    seed_directory(runner.engine)
    yield runner
    runner.close()


def seed_directory(engine: Engine) -> None:
    now = utc_now()
    with session_scope(engine) as session:
        directory.upsert_contacts(
            session,
            [
                ContactInfo("wxid_alice", "Alice"),
                ContactInfo("wxid_bob", ""),
                ContactInfo("wxid_carol", "Carol [x]"),
            ],
            now,
        )
        directory.upsert_rooms(
            session,
            [
                RoomInfo(ROOM, "读书会"),
                RoomInfo("twin1@chatroom", "Twins"),
                RoomInfo("twin2@chatroom", "Twins"),
            ],
            now,
        )
        directory.replace_room_members(
            session, ROOM, [MemberInfo("wxid_alice", "阿丽"), MemberInfo("wxid_bob", "")], now
        )


def assert_usage_error(result: Any, *fragments: str) -> None:
    assert result.exit_code == 2, result.output
    for fragment in fragments:
        assert fragment in result.output
    assert "Traceback" not in result.output


# -- init and config ------------------------------------------------------------------------------


def test_init_writes_config_then_keeps_it(tmp_path: Path) -> None:
    runner = CliRunner()
    config = tmp_path / "sub" / "repe.toml"

    first = runner.invoke(app, ["init", "--config", str(config)], env={"REPE_CONFIG": None})
    assert first.exit_code == 0, first.output
    assert config.read_text(encoding="utf-8") == EXAMPLE_CONFIG
    assert (tmp_path / "sub" / "repe.db").exists()

    config.write_text(EXAMPLE_CONFIG.replace('language = "zh"', 'language = "en"'), encoding="utf-8")
    second = runner.invoke(app, ["--config", str(config), "init"], env={"REPE_CONFIG": None})
    assert second.exit_code == 0, second.output
    assert "exists; kept it" in second.output
    assert "up to date" in second.output
    assert 'language = "en"' in config.read_text(encoding="utf-8")

    forced = runner.invoke(app, ["--config", str(config), "init", "--force"], env={"REPE_CONFIG": None})
    assert forced.exit_code == 0, forced.output
    assert config.read_text(encoding="utf-8") == EXAMPLE_CONFIG


def test_example_config_equals_init_template() -> None:
    assert (REPO / "config.example.toml").read_text(encoding="utf-8") == EXAMPLE_CONFIG


def test_example_config_sets_every_default() -> None:
    parsed = settings_from_dict(__import__("tomllib").loads(EXAMPLE_CONFIG))
    assert parsed.model_dump(exclude={"base_dir"}) == Settings().model_dump(exclude={"base_dir"})

    def leaf_keys(data: dict[str, Any], prefix: str = "") -> set[str]:
        keys = set()
        for key, value in data.items():
            if isinstance(value, dict):
                keys |= leaf_keys(value, f"{prefix}{key}.")
            else:
                keys.add(prefix + key)
        return keys

    documented = leaf_keys(__import__("tomllib").loads(EXAMPLE_CONFIG))
    assert documented == leaf_keys(Settings().model_dump(exclude={"base_dir"}))


def test_example_config_comments_every_key() -> None:
    lines = EXAMPLE_CONFIG.splitlines()
    for index, line in enumerate(lines):
        if "=" in line and not line.startswith(("#", "[")):
            assert lines[index - 1].startswith("#"), f"no comment above {line!r}"


def test_invalid_toml_config_exits_2(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("language = \n", encoding="utf-8")
    result = CliRunner().invoke(app, ["--config", str(config), "activity", "list"], env={"REPE_CONFIG": None})
    assert_usage_error(result, str(config), "not valid TOML")


def test_unknown_config_key_exits_2(tmp_path: Path) -> None:
    config = tmp_path / "typo.toml"
    config.write_text('[database]\nurll = "sqlite:///x.db"\n', encoding="utf-8")
    result = CliRunner().invoke(app, ["--config", str(config), "points", "verify"], env={"REPE_CONFIG": None})
    assert_usage_error(result, "database.urll", "unknown key")


def test_missing_config_file_exits_2(tmp_path: Path) -> None:
    missing = tmp_path / "none.toml"
    result = CliRunner().invoke(app, ["--config", str(missing), "task", "list"], env={"REPE_CONFIG": None})
    assert_usage_error(result, str(missing), "repe init")


def test_config_from_environment(cli: Cli) -> None:
    result = cli.runner.invoke(app, ["room", "list", "--json"], env={"REPE_CONFIG": str(cli.config_path)})
    assert result.exit_code == 0, result.output
    assert ROOM in [room["wxid"] for room in json.loads(result.stdout)]


def test_unmigrated_database_says_run_init(tmp_path: Path) -> None:
    runner = Cli(tmp_path)
    result = runner.run("activity", "list")
    assert_usage_error(result, "repe init")


def test_bad_flag_exits_2(cli: Cli) -> None:
    before = cli.snapshot()
    result = cli.run("activity", "create", "--name", "x", "--passphrase", "y", "--capcity", "3")
    assert_usage_error(result, "--capcity")
    assert cli.snapshot() == before


# -- activities -----------------------------------------------------------------------------------


def test_activity_create_list_show_close(cli: Cli) -> None:
    result = cli.run(
        "activity",
        "create",
        "--name",
        "读书会报名",
        "--passphrase",
        "报名",
        "--room",
        "读书会",
        "--capacity",
        "3",
        "--reward",
        "equal",
        "--pool",
        "30",
        "--deadline",
        "2h",
        "--announcement",
        "周六见",
    )
    assert result.exit_code == 0, result.output
    assert "Created activity #1" in result.output

    with session_scope(cli.engine) as session:
        activity = session.get(Activity, 1)
        assert activity is not None
        assert activity.room_wxid == ROOM
        assert activity.created_by == "cli"
        assert activity.deadline_at is not None
        announcements = (
            session.execute(select(OutboxMessage).where(OutboxMessage.kind == "announce")).scalars().all()
        )
        assert [row.conversation_wxid for row in announcements] == [ROOM]
        assert "周六见" in announcements[0].text
        assert ledger.balance(session, ledger.escrow_key(1)) == 30

    listed = cli.json("activity", "list")
    assert [item["id"] for item in listed] == [1]
    assert listed[0]["room_topic"] == "读书会"
    assert listed[0]["status"] == "open"

    table = cli.run("activity", "list")
    assert table.exit_code == 0
    assert "读书会报名" in table.output
    assert "Times are in Asia/Shanghai" in table.output

    detail = cli.json("activity", "show", "1")
    assert detail["escrow_balance"] == 30
    assert detail["deadline_at"].endswith("+08:00")

    closed = cli.run("activity", "close", "1")
    assert closed.exit_code == 0, closed.output
    assert "Refunded 30 points" in closed.output
    assert cli.json("activity", "list", "--status", "closed")[0]["close_reason"] == "admin"
    assert cli.json("activity", "list") == []

    again = cli.run("activity", "close", "1")
    assert_usage_error(again, "#1", "already closed")
    assert cli.run("points", "verify").exit_code == 0


def test_activity_entries_show_names(cli: Cli) -> None:
    assert (
        cli.run(
            "activity",
            "create",
            "--name",
            "签到",
            "--passphrase",
            "到",
            "--room",
            ROOM,
            "--reward",
            "fixed",
            "--amount",
            "5",
        ).exit_code
        == 0
    )
    engine = ActivityEngine(cli.settings)
    with session_scope(cli.engine) as session:
        activity = session.get(Activity, 1)
        assert activity is not None
        for wxid in ("wxid_alice", "wxid_bob"):
            assert engine.join(session, activity, wxid, utc_now()).status == "joined"

    entries = cli.json("activity", "entries", "1")
    assert [(e["seq"], e["wxid"], e["name"], e["reward"]) for e in entries] == [
        (1, "wxid_alice", "阿丽", 5),
        (2, "wxid_bob", "微信用户_bob", 5),
    ]
    table = cli.run("activity", "entries", "1")
    assert table.exit_code == 0
    assert "阿丽" in table.output
    assert cli.json("activity", "show", "1")["joined_total"] == 2


def test_private_activity_and_list_filter(cli: Cli) -> None:
    assert cli.run("activity", "create", "--name", "私聊", "--passphrase", "暗号", "--private").exit_code == 0
    assert (
        cli.run("activity", "create", "--name", "群", "--passphrase", "暗号", "--room", ROOM).exit_code == 0
    )

    private = cli.json("activity", "show", "1")
    assert private["room_wxid"] is None
    assert [a["id"] for a in cli.json("activity", "list", "--room", "读书会")] == [2]
    assert [a["id"] for a in cli.json("activity", "list", "--status", "all")] == [2, 1]
    with session_scope(cli.engine) as session:
        kinds = [row.conversation_wxid for row in session.execute(select(OutboxMessage)).scalars()]
    assert kinds == [ROOM]  # a private activity has no room to announce in


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["--capacity", "-1"], ["capacity", "-1"]),
        (["--capacity", "99999999999999999999999"], ["capacity", "99999999999999999999999"]),
        (["--reward", "equal", "--capacity", "5", "--pool", "9223372036854775807"], ["pool", "9223372036854775807"]),
        (["--passphrase", "\u200b"], ["passphrase"]),
        (["--passphrase", "余额"], ["余额", "command"]),
        (["--deadline", "25:61"], ["25:61", "2026-12-24 20:00"]),
        (["--room", "no-such-room"], ["no-such-room", "repe room list"]),
        (["--room", "Twins"], ["Twins", "twin1@chatroom", "twin2@chatroom"]),
        (["--reward", "equal", "--capacity", "5", "--pool", "3"], ["pool 3", "capacity 5"]),
        (["--kind", "weekly"], ["weekly", "once, daily, long"]),
        (["--room", ROOM, "--private"], ["--private", ROOM]),
        (
            ["--funder", "wxid_alice", "--reward", "fixed", "--amount", "1", "--budget", "10"],
            ["wxid_alice", "10"],
        ),
        (["--deadline", "2020-01-01 10:00"], ["2020-01-01", "past"]),
    ],
)
def test_activity_create_rejects_input(cli: Cli, args: list[str], fragments: list[str]) -> None:
    before = cli.snapshot()
    result = cli.run("activity", "create", "--name", "读书会", "--passphrase", "报名", *args)
    assert_usage_error(result, *fragments)
    assert cli.snapshot() == before


def test_activity_duplicate_passphrase_rejected(cli: Cli) -> None:
    assert cli.run("activity", "create", "--name", "A", "--passphrase", "报名", "--room", ROOM).exit_code == 0
    before = cli.snapshot()
    result = cli.run("activity", "create", "--name", "B", "--passphrase", "报名！", "--room", "读书会")
    assert_usage_error(result, "报名", "#1")
    assert cli.snapshot() == before


def test_activity_show_unknown_id(cli: Cli) -> None:
    assert_usage_error(cli.run("activity", "show", "42"), "#42", "repe activity list")


def test_activity_list_rejects_bad_status(cli: Cli) -> None:
    assert_usage_error(cli.run("activity", "list", "--status", "finished"), "finished", "open, closed, all")


# -- tasks ----------------------------------------------------------------------------------------


def test_task_lifecycle(cli: Cli) -> None:
    created = cli.json(
        "task",
        "create",
        "--kind",
        "daily",
        "--text",
        "早上好",
        "--room",
        "读书会",
        "--room",
        "twin1@chatroom",
        "--time",
        "8:30",
        "--name",
        "morning",
    )
    assert created["time_of_day"] == "08:30"
    assert [t["wxid"] for t in created["targets"]] == [ROOM, "twin1@chatroom"]
    next_run = datetime.fromisoformat(created["next_run_at"])
    assert (next_run.hour, next_run.minute) == (8, 30)

    edited = cli.json(
        "task", "edit", str(created["id"]), "--time", "21:15", "--text", "晚上好", "--room", ROOM
    )
    assert edited["text"] == "晚上好"
    assert [t["wxid"] for t in edited["targets"]] == [ROOM]
    rescheduled = datetime.fromisoformat(edited["next_run_at"])
    assert (rescheduled.hour, rescheduled.minute) == (21, 15)

    once = cli.json(
        "task", "create", "--kind", "once", "--text", "hi", "--contact", "wxid_alice", "--at", "30m"
    )
    assert once["targets"] == [{"kind": "contact", "wxid": "wxid_alice", "name": "Alice"}]
    cron = cli.json(
        "task", "create", "--kind", "cron", "--text", "周报", "--room", ROOM, "--cron", "0 9 * * 1"
    )
    assert datetime.fromisoformat(cron["next_run_at"]).weekday() == 0

    assert [t["id"] for t in cli.json("task", "list")] == [3, 2, 1]
    listed = cli.run("task", "list")
    assert listed.exit_code == 0
    assert "daily at 21:15" in listed.output

    cancelled = cli.run("task", "cancel", "3")
    assert cancelled.exit_code == 0, cancelled.output
    assert cli.json("task", "show", "3")["status"] == "cancelled"
    assert [t["id"] for t in cli.json("task", "list")] == [2, 1]
    assert_usage_error(cli.run("task", "cancel", "3"), "#3", "cancelled")
    assert_usage_error(cli.run("task", "edit", "3", "--text", "x"), "#3", "active")

    assert cli.run("task", "delete", "3").exit_code == 0
    with session_scope(cli.engine) as session:
        assert session.get(BotTask, 3) is None
    assert_usage_error(cli.run("task", "show", "3"), "#3", "not found")


def test_task_now_is_due_at_once(cli: Cli) -> None:
    created = cli.json("task", "create", "--kind", "now", "--text", "通知", "--room", ROOM)
    assert datetime.fromisoformat(created["next_run_at"]) <= datetime.now(timezone.utc)


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["--kind", "daily", "--time", "25:61", "--room", ROOM], ["25:61", "HH:MM"]),
        (["--kind", "daily", "--room", ROOM], ["--time"]),
        (["--kind", "cron", "--cron", "0 9 * *", "--room", ROOM], ["0 9 * *", "five fields"]),
        (["--kind", "once", "--at", "tomorrow", "--room", ROOM], ["tomorrow", "1h30m"]),
        (["--kind", "once", "--room", ROOM], ["--at"]),
        (["--kind", "daily", "--time", "08:00", "--at", "2h", "--room", ROOM], ["--at", "once"]),
        (["--kind", "now", "--room", "no-such-room"], ["no-such-room"]),
        (["--kind", "now", "--contact", "wxid_nobody"], ["wxid_nobody", "repe contact list"]),
        (["--kind", "now"], ["target"]),
        (["--kind", "hourly", "--room", ROOM], ["hourly", "now, once, daily, cron"]),
    ],
)
def test_task_create_rejects_input(cli: Cli, args: list[str], fragments: list[str]) -> None:
    before = cli.snapshot()
    result = cli.run("task", "create", "--text", "hello", *args)
    assert_usage_error(result, *fragments)
    assert cli.snapshot() == before


def test_task_edit_rejects_bad_time(cli: Cli) -> None:
    created = cli.json("task", "create", "--kind", "daily", "--text", "hi", "--room", ROOM, "--time", "08:00")
    before = cli.snapshot()
    assert_usage_error(cli.run("task", "edit", str(created["id"]), "--time", "25:61"), "25:61")
    assert_usage_error(cli.run("task", "edit", str(created["id"]), "--cron", "* * * * *"), "--cron", "daily")
    assert cli.snapshot() == before


# -- contacts and rooms ---------------------------------------------------------------------------


def test_contact_list_search_and_fallback_names(cli: Cli) -> None:
    contacts = cli.json("contact", "list")
    by_wxid = {c["wxid"]: c for c in contacts}
    assert by_wxid["wxid_bob"]["name"] == ""
    assert by_wxid["wxid_bob"]["display_name"] == "微信用户_bob"
    assert [c["wxid"] for c in cli.json("contact", "list", "--search", "ALI")] == ["wxid_alice"]

    table = cli.run("contact", "list")
    assert table.exit_code == 0
    assert "微信用户_bob" in table.output
    assert "Carol [x]" in table.output  # names print as stored, not as rich markup


def test_contact_show(cli: Cli) -> None:
    detail = cli.json("contact", "show", "wxid_alice")
    assert detail["contact"]["name"] == "Alice"
    assert detail["rooms"] == [{"room_wxid": ROOM, "room_topic": "读书会", "display_name": "阿丽"}]
    assert_usage_error(cli.run("contact", "show", "wxid_nobody"), "wxid_nobody")


def test_room_list_show_and_remark(cli: Cli) -> None:
    rooms = cli.json("room", "list")
    assert {r["wxid"] for r in rooms} == {ROOM, "twin1@chatroom", "twin2@chatroom"}

    detail = cli.json("room", "show", "读书会")
    assert [m["display_name"] for m in detail["members"]] == ["阿丽", "微信用户_bob"]

    result = cli.run("room", "remark", "读书会", "周六活动群")
    assert result.exit_code == 0, result.output
    with session_scope(cli.engine) as session:
        room = session.execute(select(Room).where(Room.wxid == ROOM)).scalars().one()
        assert room.remark == "周六活动群"

    before = cli.snapshot()
    assert_usage_error(cli.run("room", "remark", "Twins", "x"), "twin1@chatroom", "twin2@chatroom")
    assert_usage_error(cli.run("room", "show", "nowhere"), "nowhere")
    assert cli.snapshot() == before


# -- points ---------------------------------------------------------------------------------------


def test_points_grant_revoke_history(cli: Cli) -> None:
    granted = cli.json("points", "grant", "wxid_alice", "50", "--reason", "prize")
    assert granted["applied"] is True
    assert granted["balance"] == 50

    revoked = cli.run("points", "revoke", "wxid_alice", "20", "--reason", "correction")
    assert revoked.exit_code == 0, revoked.output
    assert cli.json("points", "balance", "wxid_alice")["balance"] == 30

    history = cli.json("points", "history", "wxid_alice")
    assert [(row["delta"], row["balance_after"], row["memo"]) for row in history] == [
        (-20, 30, "correction"),
        (50, 50, "prize"),
    ]
    assert len(cli.json("points", "history", "wxid_alice", "--limit", "1")) == 1
    table = cli.run("points", "history", "wxid_alice")
    assert "granted by admin" in table.output


def test_points_key_makes_grant_idempotent(cli: Cli) -> None:
    first = cli.json("points", "grant", "wxid_alice", "10", "--reason", "prize", "--key", "batch-7")
    retry = cli.json("points", "grant", "wxid_alice", "10", "--reason", "prize", "--key", "batch-7")
    assert first["applied"] is True
    assert retry["applied"] is False
    assert cli.json("points", "balance", "wxid_alice")["balance"] == 10

    before = cli.snapshot()
    clash = cli.run("points", "grant", "wxid_alice", "99", "--reason", "prize", "--key", "batch-7")
    assert_usage_error(clash, "batch-7")
    assert cli.snapshot() == before


def test_points_revoke_more_than_balance(cli: Cli) -> None:
    assert cli.run("points", "grant", "wxid_alice", "5", "--reason", "prize").exit_code == 0
    before = cli.snapshot()
    result = cli.run("points", "revoke", "wxid_alice", "6", "--reason", "oops")
    assert_usage_error(result, "6", "5")
    assert cli.snapshot() == before


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["grant", "wxid_alice", "0", "--reason", "x"], ["0", "from 1 to"]),
        (["grant", "wxid_alice", "9223372036854775807", "--reason", "x"], ["9223372036854775807", "from 1 to"]),
        (["grant", "wxid_alice", "99999999999999999999", "--reason", "x"], ["99999999999999999999"]),
        (["grant", "wxid_alice", "5", "--reason", " "], ["--reason"]),
        (["grant", "wxid_nobody", "5", "--reason", "x"], ["wxid_nobody"]),
        (["grant", "wxid_alice", "five", "--reason", "x"], ["five"]),
        (["grant", "wxid_alice", "5"], ["--reason"]),
        (["history", "wxid_nobody"], ["wxid_nobody", "repe contact list"]),
    ],
)
def test_points_rejects_input(cli: Cli, args: list[str], fragments: list[str]) -> None:
    before = cli.snapshot()
    assert_usage_error(cli.run("points", *args), *fragments)
    assert cli.snapshot() == before


def test_points_verify_exit_codes(cli: Cli) -> None:
    assert cli.run("points", "grant", "wxid_alice", "5", "--reason", "prize").exit_code == 0
    ok = cli.run("points", "verify")
    assert ok.exit_code == 0
    assert "OK" in ok.output

    with cli.engine.begin() as connection:
        connection.execute(text("UPDATE account SET balance = 500 WHERE key = 'member:wxid_alice'"))
    broken = cli.run("points", "verify")
    assert broken.exit_code == 1
    assert "member:wxid_alice" in broken.output
    assert "Traceback" not in broken.output


def test_cli_waits_for_a_writer_holding_the_lock(cli: Cli) -> None:
    """The bot's write holds the SQLite lock briefly; the CLI waits for it through the busy timeout."""
    other = make_engine(cli.settings.database_url())
    holding = threading.Event()
    release = threading.Event()

    def bot_write() -> None:
        with session_scope(other) as session:
            session.execute(text("UPDATE room SET remark = 'bot' WHERE wxid = :wxid"), {"wxid": ROOM})
            holding.set()
            release.wait(timeout=10)

    thread = threading.Thread(target=bot_write)
    thread.start()
    try:
        assert holding.wait(timeout=10)
        threading.Timer(0.2, release.set).start()
        result = cli.run("points", "grant", "wxid_alice", "3", "--reason", "during bot write")
    finally:
        release.set()
        thread.join()
        other.dispose()
    assert result.exit_code == 0, result.output
    assert cli.json("points", "balance", "wxid_alice")["balance"] == 3


# -- language -------------------------------------------------------------------------------------


def test_language_changes_table_header(cli: Cli) -> None:
    english = cli.run("room", "list")
    assert english.exit_code == 0
    assert "Topic" in english.output

    cli.write_config("zh")
    chinese = cli.run("room", "list")
    assert chinese.exit_code == 0
    assert "群名称" in chinese.output
    assert "Topic" not in chinese.output


def test_language_changes_errors_and_help(cli: Cli) -> None:
    cli.write_config("zh")
    error = cli.run("activity", "show", "42")
    assert_usage_error(error, "未找到活动 #42")

    help_text = cli.run("points", "--help")
    assert help_text.exit_code == 0
    assert "从系统金库向成员发放积分" in help_text.output

    cli.write_config("en")
    assert "Give a member points from the system treasury" in cli.run("points", "--help").output


# -- delegation to the bot runtime and the simulator ----------------------------------------------


def test_bot_run_and_simulate_delegate(cli: Cli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Stand-ins replace the runtime and the console, so this checks only arguments and exit codes."""
    calls: list[tuple[Any, ...]] = []

    def run_bot(settings: Settings) -> int:
        calls.append(("bot", settings.language))
        return 3

    def run_console(
        settings: Settings, scenario: Path | None, as_member: str | None, room: str | None
    ) -> int:
        calls.append(("console", scenario, as_member, room))
        return 0

    runtime = types.ModuleType("repe_bot.adapter.runtime")
    runtime.run_bot = run_bot  # type: ignore[attr-defined]
    console = types.ModuleType("repe_bot.adapter.console")
    console.run_console = run_console  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "repe_bot.adapter.runtime", runtime)
    monkeypatch.setitem(sys.modules, "repe_bot.adapter.console", console)
    scenario = tmp_path / "demo.toml"
    scenario.write_text("", encoding="utf-8")

    assert cli.run("bot", "run").exit_code == 3
    result = cli.run("simulate", "--scenario", str(scenario), "--as", "wxid_alice", "--room", ROOM)
    assert result.exit_code == 0, result.output
    assert calls == [("bot", "en"), ("console", scenario, "wxid_alice", ROOM)]


# -- time parsing ---------------------------------------------------------------------------------

NOW = datetime(2026, 12, 4, 4, 0, tzinfo=timezone.utc)  # 12:00 in Asia/Shanghai


@pytest.mark.parametrize(
    ("value", "expected_local"),
    [
        ("30m", datetime(2026, 12, 4, 12, 30)),
        ("2h", datetime(2026, 12, 4, 14, 0)),
        ("1d", datetime(2026, 12, 5, 12, 0)),
        ("1h30m", datetime(2026, 12, 4, 13, 30)),
        ("2026-12-24 20:00", datetime(2026, 12, 24, 20, 0)),
        ("12-24 20:00", datetime(2026, 12, 24, 20, 0)),
        ("12-01 09:00", datetime(2027, 12, 1, 9, 0)),
        ("20:00", datetime(2026, 12, 4, 20, 0)),
        ("9:05", datetime(2026, 12, 5, 9, 5)),
        ("2020-01-01 10:00", datetime(2020, 1, 1, 10, 0)),
    ],
)
def test_parse_deadline_forms(value: str, expected_local: datetime) -> None:
    parsed = parse_deadline(value, NOW, SHANGHAI)
    assert parsed.tzinfo is not None
    assert parsed.utcoffset() == timedelta(0)
    assert parsed.astimezone(SHANGHAI).replace(tzinfo=None) == expected_local


@pytest.mark.parametrize(
    "value", ["25:61", "24:00", "12:60", "2026-02-30 10:00", "13-01 10:00", "0m", "soon", "", "2h-"]
)
def test_parse_deadline_rejects(value: str) -> None:
    with pytest.raises(UsageError) as raised:
        parse_deadline(value, NOW, SHANGHAI)
    assert repr(value) in str(raised.value)


def test_parse_time_of_day() -> None:
    assert parse_time_of_day("8:05") == "08:05"
    assert parse_time_of_day("23:59") == "23:59"
    with pytest.raises(UsageError, match="'24:00'"):
        parse_time_of_day("24:00")
