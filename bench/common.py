"""Shared helpers: figures, temporary databases, settings and a world of simulated members."""

from __future__ import annotations

import logging
import os
import resource
import socket
import statistics
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from repe_bot.config import Settings, settings_from_dict
from repe_bot.db.database import make_engine, upgrade

BOT_ID = "wxid_bench_bot"
BOT_NAME = "活动助手"


@dataclass(frozen=True)
class Figure:
    """One reported number: a ratio, a count or a size, with its target when it has one."""

    name: str
    value: float
    unit: str = ""
    target: str = ""
    met: bool | None = None
    note: str = ""

    def line(self) -> str:
        value = f"{self.value:.3g}" if isinstance(self.value, float) else str(self.value)
        text = f"{self.name} = {value}{(' ' + self.unit) if self.unit else ''}"
        if self.target:
            verdict = "met" if self.met else "MISSED"
            text += f"  [target {self.target}: {verdict}]"
        if self.note:
            text += f"  ({self.note})"
        return text


def emit(figures: Sequence[Figure]) -> None:
    """Print one summary line per figure."""
    for figure in figures:
        print(figure.line(), flush=True)


def spread(values: Sequence[float]) -> tuple[float, float, float]:
    """Return (min, median, max)."""
    return min(values), statistics.median(values), max(values)


@contextmanager
def temp_dir(prefix: str) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix=f"repe-bench-{prefix}-") as name:
        yield Path(name)


def bench_settings(db_path: Path, **sections: dict[str, Any]) -> Settings:
    """Production defaults except the database file and the sections given."""
    data: dict[str, Any] = {"database": {"url": f"sqlite:///{db_path}"}}
    for section, values in sections.items():
        data.setdefault(section, {}).update(values)
    return settings_from_dict(data)


def migrated_engine(db_path: Path) -> Engine:
    engine = make_engine(f"sqlite:///{db_path}")
    upgrade(engine)
    return engine


def apply_pragmas(connection: Any, busy_timeout_ms: int = 5000) -> None:
    """Set the pragmas that ``make_engine`` sets on each SQLite connection."""
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    connection.execute("PRAGMA foreign_keys=ON")
    connection.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")


def quiet_logging() -> None:
    """Keep Python's default WARNING level, as a bot started without a logging config has.

    ``alembic.upgrade`` raises the root level to INFO through its logging config, so this
    runs after the migrations.
    """
    logging.getLogger().setLevel(logging.WARNING)
    for name in ("repe_bot", "alembic", "sqlalchemy"):
        logging.getLogger(name).setLevel(logging.WARNING)


def peak_rss_mb() -> float:
    """Peak resident set size of this process in MiB (Linux reports ``ru_maxrss`` in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mb() -> float:
    with open("/proc/self/statm", encoding="ascii") as statm:
        pages = int(statm.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def member_id(index: int) -> str:
    return f"wxid_member{index:06d}"


def best_of(runs: int, measure: Callable[[], float]) -> float:
    """Return the smallest of ``runs`` measurements, the usual way to damp scheduler noise."""
    return min(measure() for _ in range(runs))


def free_port() -> int:
    """Return a free TCP port on 127.0.0.1 for wechaty's plugin server option."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def build_puppet(contacts: int, rooms: int = 1, room_size: int = 0, **options: Any) -> Any:
    """Return a SimulatorPuppet with ``contacts`` friends and ``rooms`` rooms of ``room_size`` members.

    Room ``k`` contains the bot and the contacts ``k * room_size`` onward, wrapping around, so
    memberships overlap when ``rooms * room_size`` exceeds ``contacts``. Room ids are
    ``room000000@chatroom`` and up.
    """
    from repe_bot.adapter.simulator import SimulatorPuppet

    puppet = SimulatorPuppet(BOT_ID, BOT_NAME, **options)
    for index in range(contacts):
        puppet.add_contact(member_id(index), f"成员{index}")
    for room in range(rooms):
        start = room * room_size
        members = [member_id((start + offset) % contacts) for offset in range(min(room_size, contacts))]
        puppet.add_room(room_id(room), f"群{room}", [BOT_ID, *members])
    return puppet


def room_id(index: int) -> str:
    return f"room{index:06d}@chatroom"


def reset_wechaty_globals() -> None:
    """Forget wechaty's process-wide message ids and object pools, as a new process would."""
    from repe_bot.adapter.simulator import clear_wechaty_object_pools, forget_delivered_message_ids

    forget_delivered_message_ids()
    clear_wechaty_object_pools()
