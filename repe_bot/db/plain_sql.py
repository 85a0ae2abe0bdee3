"""Plain SQL in the session's transaction, for the statements that run once per join or message.

Building, cache-keying and compiling a SQLAlchemy statement costs 10-20 times what SQLite needs
to run it. The hot paths therefore write their SQL by hand, with ``:name`` parameters. On SQLite
the text goes straight to the ``sqlite3`` connection underneath ``session.connection()``, which is
the connection of the session's open transaction, so the statements commit or roll back with
the rest of it. Other databases get the same text through ``sqlalchemy.text``. The SQL used here
(``RETURNING``, ``ON CONFLICT``) works on SQLite 3.35+ and PostgreSQL.

NOTE: the tests run on SQLite only, so the ``sqlalchemy.text`` branch has not been run.

The ORM does not see these writes. ``fetch`` and ``execute_many`` flush pending ORM changes
first, as ``session.execute`` does, and callers update loaded objects with ``set_loaded`` after
writing rows that the session may hold.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any, cast

from sqlalchemy import exc, text
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

# The columns are sqlmodel's UTCDateTime (sqlmodel 0.0.50): it binds an aware value converted to
# UTC, rejects naive values, and SQLAlchemy's SQLite DATETIME stores the UTC fields in this format.
SQLITE_DATETIME_FORMAT = "%Y-%m-%d %H:%M:%S.%f"

Params = Mapping[str, Any]


def _sqlite_text(value: datetime) -> str:
    # One message passes the same ``now`` to every statement, so the last result is kept.
    global _last_datetime
    last_value, last_text = _last_datetime
    if value is last_value:
        return last_text
    if value.utcoffset() is None:
        raise ValueError(f"datetime {value!r} has no timezone; pass an aware value such as utc_now()")
    formatted = value.astimezone(timezone.utc).strftime(SQLITE_DATETIME_FORMAT)
    _last_datetime = (value, formatted)
    return formatted


_last_datetime: tuple[datetime | None, str] = (None, "")


def read_datetime(value: datetime | str | None) -> datetime | None:
    """Return a datetime column value as the ORM returns it: aware, in UTC.

    SQLite returns the stored text, which is UTC without an offset.
    """
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.utcoffset() is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def _sqlite_params(params: Params) -> dict[str, Any]:
    return {
        name: _sqlite_text(value) if isinstance(value, datetime) else value
        for name, value in params.items()
    }


_DRIVER_KEY = "plain_sql.driver"


def _sqlite_driver(session: Session) -> sqlite3.Connection | None:
    """Return the ``sqlite3`` connection of the session's transaction, or None on other databases.

    ``session.connection()`` costs more than a simple SQLite statement, so the result is kept in
    ``session.info`` for as long as the same innermost transaction is open. Any other transaction
    goes through ``session.connection()`` again: it begins the transaction, and for a
    ``begin_nested()`` it emits the SAVEPOINT, which the session emits only on first use.
    """
    transaction = session.get_nested_transaction() or session.get_transaction()
    cached = session.info.get(_DRIVER_KEY)
    if transaction is not None and cached is not None and cached[0] is transaction:
        return cast("sqlite3.Connection | None", cached[1])
    connection = session.connection()
    driver = connection.connection.driver_connection if connection.dialect.name == "sqlite" else None
    session.info[_DRIVER_KEY] = (session.get_nested_transaction() or session.get_transaction(), driver)
    return cast("sqlite3.Connection | None", driver)


def fetch(session: Session, sql: str, params: Params) -> list[Any]:
    """Run one statement in the session's transaction and return its rows ([] without RETURNING).

    A database error is raised as the SQLAlchemy exception that ``session.execute`` would raise,
    for example ``sqlalchemy.exc.IntegrityError`` for a violated constraint.
    """
    session.flush()
    driver = _sqlite_driver(session)
    if driver is None:
        result = session.connection().execute(text(sql), dict(params))
        return list(result.all()) if result.returns_rows else []
    try:
        return driver.execute(sql, _sqlite_params(params)).fetchall()
    except sqlite3.Error as error:
        raise exc.DBAPIError.instance(sql, params, error, sqlite3.Error) from error


def execute_many(session: Session, sql: str, rows: Sequence[Params]) -> None:
    """Run one statement once per parameter set with the driver's ``executemany``."""
    if not rows:
        return
    session.flush()
    driver = _sqlite_driver(session)
    if driver is None:
        session.connection().execute(text(sql), [dict(row) for row in rows])
        return
    try:
        driver.executemany(sql, [_sqlite_params(row) for row in rows])
    except sqlite3.Error as error:
        raise exc.DBAPIError.instance(sql, list(rows), error, sqlite3.Error) from error


def set_loaded(session: Session, model: type, primary_key: Any, values: Mapping[str, Any]) -> None:
    """Copy ``values`` into the row's object if the identity map contains it, without marking it changed.

    This keeps objects loaded earlier in the transaction equal to the rows written with plain SQL,
    as the ORM's own UPDATE does with ``synchronize_session``.
    """
    if not session.identity_map:
        return
    loaded = session.identity_map.get(identity_key(model, primary_key))
    if loaded is None:
        return
    for name, value in values.items():
        set_committed_value(loaded, name, value)
