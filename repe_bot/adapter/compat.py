"""Compatibility fixes that let python-wechaty 0.10.7 run on Python 3.10-3.13.

wechaty 0.10.7 (the last release, 2022) fails to import on Python 3.11 and later as shipped.
The fixes, all needed before the first ``import wechaty``:

- ``PuppetOptions`` is a dataclass with ``eq=True`` and no ``frozen``, so Python sets its
  ``__hash__`` to ``None``. ``WechatyOptions`` uses a ``PuppetOptions()`` instance as a field
  default, and Python 3.11 rejects unhashable defaults with "mutable default ... is not
  allowed", so wechaty's import raises ``ValueError``. Restoring ``object.__hash__`` makes
  the default acceptable again.
- ``pyee`` 12 removed ``AsyncIOEventEmitter`` from the package root, so pyproject pins
  ``pyee<12``.
- wechaty 0.10.7 and its gRPC stack were released against ``urllib3`` 1.x and break with
  2.x, so pyproject pins ``urllib3<2``.
- Python 3.13 removed ``telnetlib`` (PEP 594), which wechaty-puppet-service imports, so
  pyproject adds ``standard-telnetlib`` there.

Besides, wechaty's import creates a ``.wechaty`` cache folder in the working directory (its
``CACHE_DIR`` setting). :func:`apply` points ``CACHE_DIR`` at a folder under the system temporary
directory unless the environment already sets it, so running the CLI leaves no stray folders.

Import ``wechaty`` only through :func:`import_wechaty` or after calling :func:`apply`.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
from types import ModuleType

log = logging.getLogger(__name__)

_applied = False


def apply() -> None:
    """Patch wechaty's dependencies so that ``import wechaty`` works; safe to call twice."""
    global _applied
    if _applied:
        return

    os.environ.setdefault("CACHE_DIR", os.path.join(tempfile.gettempdir(), "repe-bot-wechaty"))

    if sys.version_info >= (3, 13):
        import telnetlib  # noqa: F401  (provided by standard-telnetlib)

    from wechaty_puppet.schemas.puppet import PuppetOptions

    PuppetOptions.__hash__ = object.__hash__  # type: ignore[assignment]
    _applied = True
    log.debug("wechaty compatibility fixes applied")


def import_wechaty() -> ModuleType:
    """Apply the fixes and return the ``wechaty`` module."""
    apply()
    import wechaty

    return wechaty


class _RedactSecrets(logging.Filter):
    """Replaces secrets (the puppet service token) in log records with ``***``."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self.secrets = [secret for secret in secrets if secret]

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if any(secret in message for secret in self.secrets):
            for secret in self.secrets:
                message = message.replace(secret, "***")
            record.msg, record.args = message, None
        return True


# wechaty 0.10.7 warns at every start that no web blueprint is registered, which is expected here
# because repe-bot does not use wechaty's plugin web server.
_EXPECTED_WARNINGS = ("there is not registed blueprint",)


class _DropExpected(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = str(record.msg)
        return not any(expected in message for expected in _EXPECTED_WARNINGS)


def configure_wechaty_logging(level: int = logging.WARNING, secrets: list[str] | None = None) -> None:
    """Quiet wechaty's own loggers and redact ``secrets`` from them.

    wechaty's ``get_logger`` gives each module a logger with its own stderr handler at INFO that
    does not propagate, and it logs every received message and, in wechaty-puppet-service 0.8.10,
    the service token. Those loggers are the non-propagating ones; the level set here applies
    unless the ``WECHATY_LOG`` environment variable chose one.
    """
    redact = _RedactSecrets(secrets or [])
    drop_expected = _DropExpected()
    for logger in list(logging.root.manager.loggerDict.values()):
        if not isinstance(logger, logging.Logger) or logger.propagate:
            continue
        if "WECHATY_LOG" not in os.environ:
            logger.setLevel(level)
        logger.addFilter(redact)
        logger.addFilter(drop_expected)
        for handler in logger.handlers:
            handler.addFilter(redact)


def clear_wechaty_object_pools(keep_puppet: object | None = None) -> int:
    """Drop wechaty's cached ``Contact``, ``Room`` and ``Tag`` objects; return how many went.

    wechaty 0.10.7 keeps one object pool per user class for the whole process, and a pooled object
    stays bound to the puppet that loaded it. A second ``Wechaty`` in the same process (after a
    reconnect, or in tests) would otherwise send through the first one's stopped puppet. Objects
    bound to ``keep_puppet`` stay.
    """
    apply()
    from wechaty.user import Contact, Room, Tag

    removed = 0
    for pool in (Contact._pool, Room._pool, Tag._pool):
        stale_ids = [
            object_id
            for object_id, obj in pool.items()
            if keep_puppet is None or getattr(obj, "_puppet", None) is not keep_puppet
        ]
        for object_id in stale_ids:
            del pool[object_id]
        removed += len(stale_ids)
    return removed
