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

Import ``wechaty`` only through :func:`import_wechaty` or after calling :func:`apply`.
"""

from __future__ import annotations

import logging
import sys
from types import ModuleType

log = logging.getLogger(__name__)

_applied = False


def apply() -> None:
    """Patch wechaty's dependencies so that ``import wechaty`` works; safe to call twice."""
    global _applied
    if _applied:
        return

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
