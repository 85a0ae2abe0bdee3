"""`repe points leaderboard`, `repe checkin stats` and red-packet funders in `repe activity`.

The data comes from chat messages handled by MessageService on the same SQLite file the CLI
reads. The CLI's admin runs on the test's FakeClock, so "today" and "this week" are fixed.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlmodel import col

from cli import common as cli_common
from repe_bot import directory
from repe_bot.admin import Admin
from repe_bot.commands import register_commands
from repe_bot.config import Settings
from repe_bot.db.database import session_scope
from repe_bot.db.member_models import RedPacket
from repe_bot.db.models import LedgerEntry, OutboxMessage
from repe_bot.service import IncomingMessage, MessageService
from tests.conftest import FakeClock
from tests.test_cli import ROOM, Cli, assert_usage_error, seed_directory

BOT = "wxid_bot"
UNNAMED = "微信用户{suffix}"


class CommandsCli(Cli):
    """A Cli whose config also sets ``[commands]`` options."""

    def __init__(self, tmp_path: Path, commands: str = "") -> None:
        self.commands = commands
        super().__init__(tmp_path)

    def write_config(self, language: str) -> None:
        self.config_path.write_text(
            f'language = "{language}"\n[database]\nurl = "sqlite:///{self.db_path}"\n'
            f"[commands]\n{self.commands}\n",
            encoding="utf-8",
        )


def open_cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clock: FakeClock, commands: str = ""
) -> CommandsCli:
    runner = CommandsCli(tmp_path, commands)
    result = runner.run("init")
    assert result.exit_code == 0, result.output
    seed_directory(runner.engine)

    def admin_on_clock(engine: Engine, settings: Settings) -> Admin:
        return Admin(engine, settings, clock=clock)

    monkeypatch.setattr(cli_common, "Admin", admin_on_clock)
    return runner


def start_bot(runner: Cli, clock: FakeClock) -> MessageService:
    service = MessageService(runner.engine, runner.settings, clock=clock, rng=random.Random(7))
    service.set_self(BOT, "repe-bot")
    register_commands(service)
    return service


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clock: FakeClock) -> Iterator[CommandsCli]:
    runner = open_cli(tmp_path, monkeypatch, clock)
    yield runner
    runner.close()


@pytest.fixture
def bot(cli: Cli, clock: FakeClock) -> MessageService:
    return start_bot(cli, clock)


_ids = iter(range(1, 1_000_000))


def say(service: MessageService, talker: str, text: str, room: str | None = ROOM) -> str:
    message = IncomingMessage(id=f"msg-{next(_ids)}", talker_id=talker, text=text, room_id=room)
    return service.handle(message)


def sync_room(service: MessageService, members: dict[str, str]) -> None:
    with session_scope(service.engine) as session:
        infos = [directory.MemberInfo(wxid, name) for wxid, name in members.items()]
        directory.replace_room_members(session, ROOM, infos, service.clock())


def grant(runner: Cli, wxid: str, amount: int) -> None:
    result = runner.run("points", "grant", wxid, str(amount), "--reason", "test")
    assert result.exit_code == 0, result.output


def assert_ledger_ok(runner: Cli) -> None:
    result = runner.run("points", "verify")
    assert result.exit_code == 0, result.output
    assert "OK" in result.output


def fallback(wxid: str) -> str:
    return UNNAMED.format(suffix=wxid[-4:])


def local(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    """Return a UTC instant from Asia/Shanghai wall time (UTC+8, no daylight saving)."""
    return datetime(year, month, day, hour, minute, tzinfo=timezone.utc) - timedelta(hours=8)


def rows_of(board: dict[str, Any]) -> list[tuple[int, str, str, int]]:
    return [(row["rank"], row["wxid"], row["name"], row["points"]) for row in board["rows"]]


# -- points leaderboard ---------------------------------------------------------------------------


def test_leaderboard_room_by_balance(cli: Cli, bot: MessageService) -> None:
    sync_room(bot, {"wxid_alice": "阿丽", "wxid_bob": "", "wxid_dan": "小丹", "wxid_zero": "零"})
    assert say(bot, "wxid_alice", "签到") == "checkin"
    grant(cli, "wxid_alice", 25)
    grant(cli, "wxid_bob", 30)
    grant(cli, "wxid_dan", 10)
    grant(cli, "wxid_carol", 99)  # not a member of ROOM

    board = cli.json("points", "leaderboard", "--room", "读书会", "--by", "balance")

    assert board["by"] == "balance"
    assert board["room_wxid"] == ROOM
    assert board["since"] is None
    assert rows_of(board) == [
        (1, "wxid_alice", "阿丽", 30),
        (1, "wxid_bob", fallback("wxid_bob"), 30),
        (3, "wxid_dan", "小丹", 10),
    ]
    assert_ledger_ok(cli)


def test_leaderboard_matches_chat_reply(cli: Cli, bot: MessageService, clock: FakeClock) -> None:
    sync_room(bot, {"wxid_alice": "阿丽", "wxid_bob": "", "wxid_dan": "小丹"})
    grant(cli, "wxid_alice", 7)
    grant(cli, "wxid_bob", 7)
    grant(cli, "wxid_dan", 3)

    assert say(bot, "wxid_dan", "排行榜") == "leaderboard"
    with session_scope(bot.engine) as session:
        reply = (
            session.execute(
                select(OutboxMessage)
                .where(col(OutboxMessage.kind) == "reply")
                .order_by(col(OutboxMessage.id).desc())
            )
            .scalars()
            .first()
        )
    assert reply is not None
    chat_lines = reply.text.splitlines()[1:]

    board = cli.json("points", "leaderboard", "--room", ROOM)
    line = bot.settings.commands.templates.leaderboard_line
    cli_lines = [
        line.format(rank=rank, name=name, points=points) for rank, _wxid, name, points in rows_of(board)
    ]
    assert cli_lines == chat_lines
    assert len(cli_lines) == 3


def test_leaderboard_without_room(cli: Cli, bot: MessageService) -> None:
    sync_room(bot, {"wxid_alice": "阿丽", "wxid_bob": "", "wxid_dan": "小丹"})
    grant(cli, "wxid_carol", 50)
    grant(cli, "wxid_alice", 20)
    grant(cli, "wxid_bob", 20)
    grant(cli, "wxid_dan", 5)
    assert cli.run("points", "revoke", "wxid_dan", "5", "--reason", "back to zero").exit_code == 0

    board = cli.json("points", "leaderboard")

    assert board["room_wxid"] is None
    assert board["members"] == 4  # wxid_dan has an account with a balance of 0
    # Without a room the contact name is used, not the room display name 阿丽.
    assert rows_of(board) == [
        (1, "wxid_carol", "Carol [x]", 50),
        (2, "wxid_alice", "Alice", 20),
        (2, "wxid_bob", fallback("wxid_bob"), 20),
    ]

    limited = cli.json("points", "leaderboard", "--limit", "2")
    assert [row["wxid"] for row in limited["rows"]] == ["wxid_carol", "wxid_alice"]

    table = cli.run("points", "leaderboard")
    assert table.exit_code == 0, table.output
    assert "Rank" in table.output
    assert "Carol [x]" in table.output
    assert "Leaderboard by balance: all members" in table.output
    assert "wxid_dan" not in table.output


def test_leaderboard_by_week(cli: Cli, bot: MessageService, clock: FakeClock) -> None:
    start = clock()  # Friday 2026-12-04 12:00 in Asia/Shanghai
    clock.set(local(2026, 11, 29, 23, 30))  # Sunday of the week before
    grant(cli, "wxid_alice", 100)
    clock.set(local(2026, 11, 30, 0, 30))  # Monday, after the day reset
    grant(cli, "wxid_alice", 10)
    grant(cli, "wxid_bob", 20)
    clock.set(start)
    assert say(bot, "wxid_alice", "签到") == "checkin"

    board = cli.json("points", "leaderboard", "--by", "week")

    assert board["since"] == "2026-11-30T00:00:00+08:00"
    assert rows_of(board) == [
        (1, "wxid_bob", fallback("wxid_bob"), 20),
        (2, "wxid_alice", "Alice", 15),
    ]
    balance = cli.json("points", "leaderboard", "--by", "balance")
    assert [row["wxid"] for row in balance["rows"]] == ["wxid_alice", "wxid_bob"]

    table = cli.run("points", "leaderboard", "--by", "week")
    title = "Leaderboard by points received since 2026-11-30 00:00: all members"
    assert title in " ".join(table.output.split())  # rich wraps a title to the table width
    assert_ledger_ok(cli)


def test_leaderboard_week_excludes_refunds(cli: Cli, bot: MessageService, clock: FakeClock) -> None:
    grant(cli, "wxid_alice", 50)
    assert say(bot, "wxid_alice", "发红包 30 3") == "packet_created"
    clock.advance(seconds=5)
    assert say(bot, "wxid_bob", "抢红包") == "joined"
    packet_id = cli.json("activity", "list")[0]["id"]
    assert cli.run("activity", "close", str(packet_id)).exit_code == 0

    board = cli.json("points", "leaderboard", "--by", "week")

    earned = {row["wxid"]: row["points"] for row in board["rows"]}
    assert earned["wxid_alice"] == 50  # the grant, but not the refund of the unclaimed packet
    assert 1 <= earned["wxid_bob"] <= 28
    assert_ledger_ok(cli)


def test_leaderboard_default_by_from_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clock: FakeClock
) -> None:
    runner = open_cli(tmp_path, monkeypatch, clock, 'leaderboard_by = "week"\nleaderboard_size = 1')
    try:
        grant(runner, "wxid_alice", 5)
        grant(runner, "wxid_bob", 9)
        board = runner.json("points", "leaderboard")
        assert board["by"] == "week"
        assert rows_of(board) == [(1, "wxid_bob", fallback("wxid_bob"), 9)]
    finally:
        runner.close()


def test_leaderboard_empty(cli: Cli) -> None:
    board = cli.json("points", "leaderboard", "--room", ROOM)
    assert board["rows"] == []
    table = cli.run("points", "leaderboard", "--room", ROOM)
    assert table.exit_code == 0, table.output
    assert "No member has more than 0 points." in table.output


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["--room", "nowhere"], ["'nowhere'", "repe room list"]),
        (["--room", "Twins"], ["twin1@chatroom", "twin2@chatroom"]),
        (["--by", "monthly"], ["--by", "'monthly'", "balance, week"]),
        (["--limit", "0"], ["0"]),
        (["--limit", "ten"], ["'ten'"]),
    ],
)
def test_leaderboard_rejects_input(cli: Cli, args: list[str], fragments: list[str]) -> None:
    assert_usage_error(cli.run("points", "leaderboard", *args), *fragments)


# -- checkin stats --------------------------------------------------------------------------------


@pytest.fixture
def streak_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clock: FakeClock) -> Iterator[CommandsCli]:
    """Check-ins on four days with a bonus every 3 days; the clock ends on 2026-12-04 12:00 local.

    12-01 alice | 12-02 alice, bob | 12-03 alice (bonus), carol privately | 12-04 alice, bob
    """
    runner = open_cli(tmp_path, monkeypatch, clock, "streak_days = 3\nstreak_bonus = 20")
    bot = start_bot(runner, clock)
    end = clock()
    plan: list[tuple[datetime, list[tuple[str, str | None]]]] = [
        (local(2026, 12, 1, 9), [("wxid_alice", ROOM)]),
        (local(2026, 12, 2, 9), [("wxid_alice", ROOM), ("wxid_bob", ROOM)]),
        (local(2026, 12, 3, 9), [("wxid_alice", ROOM), ("wxid_carol", None)]),
        (local(2026, 12, 4, 9), [("wxid_alice", ROOM), ("wxid_bob", ROOM)]),
    ]
    for when, members in plan:
        clock.set(when)
        for wxid, room in members:
            assert say(bot, wxid, "签到", room=room) == "checkin"
    clock.set(end)
    yield runner
    runner.close()


def test_checkin_stats_today(streak_cli: Cli) -> None:
    stats = streak_cli.json("checkin", "stats")

    assert stats["day"] == "2026-12-04"
    assert stats["room_wxid"] is None
    assert (stats["members"], stats["points"], stats["bonus"]) == (2, 10, 0)
    # Carol checked in yesterday and can still extend her streak today, so it is current.
    assert [(s["rank"], s["wxid"], s["name"], s["streak"], s["last_day"]) for s in stats["streaks"]] == [
        (1, "wxid_alice", "Alice", 4, "2026-12-04"),
        (2, "wxid_bob", fallback("wxid_bob"), 1, "2026-12-04"),
        (2, "wxid_carol", "Carol [x]", 1, "2026-12-03"),
    ]
    history = [(d["day"], d["members"], d["points"], d["bonus"]) for d in stats["history"]]
    assert history == [
        ("2026-12-04", 2, 10, 0),
        ("2026-12-03", 2, 10, 20),
        ("2026-12-02", 2, 10, 0),
        ("2026-12-01", 1, 5, 0),
        ("2026-11-30", 0, 0, 0),
        ("2026-11-29", 0, 0, 0),
        ("2026-11-28", 0, 0, 0),
    ]

    with session_scope(streak_cli.engine) as session:
        ledger_total = session.execute(
            select(func.sum(col(LedgerEntry.delta))).where(
                col(LedgerEntry.reason).in_(["checkin", "checkin_bonus"]), col(LedgerEntry.delta) > 0
            )
        ).scalar()
    assert sum(d["points"] + d["bonus"] for d in stats["history"]) == ledger_total
    assert_ledger_ok(streak_cli)


def test_checkin_stats_given_day(streak_cli: Cli) -> None:
    stats = streak_cli.json("checkin", "stats", "--day", "2026-12-03")

    assert (stats["day"], stats["members"], stats["points"], stats["bonus"]) == ("2026-12-03", 2, 10, 20)
    assert [(s["wxid"], s["streak"], s["last_day"]) for s in stats["streaks"]] == [
        ("wxid_alice", 3, "2026-12-03"),
        ("wxid_bob", 1, "2026-12-02"),
        ("wxid_carol", 1, "2026-12-03"),
    ]
    assert stats["history"][0]["day"] == "2026-12-03"
    assert stats["history"][-1]["day"] == "2026-11-27"


def test_checkin_stats_room_and_top(streak_cli: Cli) -> None:
    stats = streak_cli.json("checkin", "stats", "--room", "读书会", "--day", "2026-12-03")

    assert stats["room_wxid"] == ROOM
    assert stats["room_topic"] == "读书会"
    assert (stats["members"], stats["points"], stats["bonus"]) == (1, 5, 20)  # carol checked in privately
    assert [(s["wxid"], s["name"]) for s in stats["streaks"]] == [
        ("wxid_alice", "阿丽"),
        ("wxid_bob", fallback("wxid_bob")),
    ]

    top = streak_cli.json("checkin", "stats", "--top", "1")
    assert [s["wxid"] for s in top["streaks"]] == ["wxid_alice"]


def test_checkin_stats_uses_configured_zone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clock: FakeClock
) -> None:
    runner = open_cli(tmp_path, monkeypatch, clock)
    try:
        bot = start_bot(runner, clock)
        # 16:30 UTC on 12-04 is 00:30 on 12-05 in Asia/Shanghai.
        clock.set(datetime(2026, 12, 4, 16, 30, tzinfo=timezone.utc))
        assert say(bot, "wxid_alice", "签到") == "checkin"

        today = runner.json("checkin", "stats")
        assert (today["day"], today["members"]) == ("2026-12-05", 1)
        assert runner.json("checkin", "stats", "--day", "2026-12-04")["members"] == 0
    finally:
        runner.close()


def test_checkin_stats_table_en_and_zh(streak_cli: Cli) -> None:
    english = streak_cli.run("checkin", "stats")
    assert english.exit_code == 0, english.output
    for header in ("Members checked in", "Streak (days)", "Check-ins on 2026-12-04", "Asia/Shanghai"):
        assert header in english.output
    assert "Alice" in english.output

    streak_cli.write_config("zh")
    chinese = streak_cli.run("checkin", "stats")
    assert chinese.exit_code == 0, chinese.output
    for header in ("签到人数", "连续天数", "2026-12-04 的签到"):
        assert header in chinese.output
    assert "Members checked in" not in chinese.output


def test_checkin_stats_empty_table(cli: Cli) -> None:
    result = cli.run("checkin", "stats")
    assert result.exit_code == 0, result.output
    assert "No member has a current streak." in result.output


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["--day", "2026-13-01"], ["--day", "'2026-13-01'", "YYYY-MM-DD"]),
        (["--day", "yesterday"], ["'yesterday'"]),
        (["--room", "nowhere"], ["'nowhere'"]),
        (["--top", "0"], ["--top", "0"]),
    ],
)
def test_checkin_stats_rejects_input(cli: Cli, args: list[str], fragments: list[str]) -> None:
    assert_usage_error(cli.run("checkin", "stats", *args), *fragments)


def test_checkin_stats_zh_error(cli: Cli) -> None:
    cli.write_config("zh")
    assert_usage_error(cli.run("checkin", "stats", "--day", "12/04"), "无效的 --day '12/04'")


# -- red packet funders in activity list and show -------------------------------------------------


def test_activity_list_shows_packet_funder(cli: Cli, bot: MessageService, clock: FakeClock) -> None:
    grant(cli, "wxid_alice", 100)
    grant(cli, "wxid_bob", 100)
    created = cli.run(
        "activity",
        "create",
        "--name",
        "treasury",
        "--passphrase",
        "报名",
        "--room",
        ROOM,
        "--reward",
        "fixed",
        "--amount",
        "2",
    )
    assert created.exit_code == 0, created.output
    assert say(bot, "wxid_alice", "发红包 30 3") == "packet_created"
    clock.advance(seconds=5)
    assert say(bot, "wxid_bob", "口令红包 新年快乐 8 2") == "packet_created"

    views = {view["name"]: view for view in cli.json("activity", "list")}
    with session_scope(cli.engine) as session:
        packets = {p.funder_wxid: p.activity_id for p in session.execute(select(RedPacket)).scalars()}
    by_id = {view["id"]: view for view in views.values()}
    assert by_id[packets["wxid_alice"]]["funder_wxid"] == "wxid_alice"
    assert by_id[packets["wxid_alice"]]["funder_name"] == "阿丽"
    assert by_id[packets["wxid_bob"]]["funder_name"] == fallback("wxid_bob")
    assert views["treasury"]["funder_wxid"] is None
    assert views["treasury"]["funder_name"] == ""

    table = cli.run("activity", "list")
    assert table.exit_code == 0, table.output
    assert "Funder" in table.output
    assert "阿丽 (wxid_alice)" in table.output
    assert f"{fallback('wxid_bob')} (wxid_bob)" in table.output
    assert "system treasury" in table.output

    shown = cli.run("activity", "show", str(packets["wxid_alice"]))
    assert shown.exit_code == 0, shown.output
    assert "阿丽 (wxid_alice)" in shown.output
    assert cli.json("activity", "show", str(packets["wxid_alice"]))["funder_wxid"] == "wxid_alice"

    assert_ledger_ok(cli)

    cli.write_config("zh")
    chinese = cli.run("activity", "list")
    assert "出资人" in chinese.output
    assert "系统金库" in chinese.output
