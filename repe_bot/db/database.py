"""Database engine, sessions and migrations.

Every write runs in a ``BEGIN IMMEDIATE`` transaction on SQLite, so the bot and the CLI take the
write lock up front and wait for each other through the busy timeout, instead of failing with
"database is locked" when a reader tries to upgrade to a writer.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlmodel import Session

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


class DatabaseError(RuntimeError):
    """The database cannot be opened or is not at the expected schema revision."""


def make_engine(url: str, busy_timeout_ms: int = 5000) -> Engine:
    """Create an engine; for SQLite, enable WAL, foreign keys, the busy timeout and immediate writes."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)

    database = parsed.database or ""
    if database and database != ":memory:":
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)

    engine = create_engine(url, connect_args={"timeout": busy_timeout_ms / 1000, "isolation_level": None})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """Yield a session inside one transaction: commit on success, roll back on any exception."""
    with Session(engine, expire_on_commit=False) as session:
        with session.begin():
            yield session


def _alembic_config(engine: Engine) -> AlembicConfig:
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["engine"] = engine
    return config


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision(engine: Engine) -> str | None:
    return ScriptDirectory.from_config(_alembic_config(engine)).get_current_head()


def upgrade(engine: Engine) -> tuple[str | None, str | None]:
    """Bring the schema to the newest revision and return (revision before, revision after)."""
    before = current_revision(engine)
    head = head_revision(engine)
    if before != head:
        log.info("migrating database from revision %s to %s", before or "(empty)", head)
        try:
            command.upgrade(_alembic_config(engine), "head")
        except Exception as error:
            raise DatabaseError(
                f"database migration from {before or '(empty)'} to {head} failed: {error}"
            ) from error
    return before, head


def require_current(engine: Engine) -> None:
    """Raise DatabaseError unless the schema is at the newest revision."""
    current = current_revision(engine)
    head = head_revision(engine)
    if current != head:
        raise DatabaseError(
            f"database schema is at revision {current or '(empty)'} but this version needs {head}; "
            "run `repe init` to migrate it"
        )
