"""Message catalogue for CLI screens, table headers and error messages.

Source strings are English and wrapped in ``_()``; each language other than English has a TOML file
beside this module that maps the English text to the translation. ``str.format`` placeholders stay
in the translated text, so call ``_("... {name}").format(name=...)``. Bot replies in chat do not use
this catalogue; they come from the configurable templates.
"""

from __future__ import annotations

import sys
from functools import cache
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

LANGUAGES = ("zh", "en")
DEFAULT_LANGUAGE = "zh"

_current = DEFAULT_LANGUAGE


@cache
def catalogue(language: str) -> dict[str, str]:
    """Return the translations of one language; English has none because it is the source."""
    if language == "en":
        return {}
    path = Path(__file__).with_name(f"{language}.toml")
    with path.open("rb") as handle:
        return dict(tomllib.load(handle)["messages"])


def set_language(language: str) -> None:
    if language not in LANGUAGES:
        raise ValueError(f"unsupported language {language!r}: use one of {', '.join(LANGUAGES)}")
    global _current
    _current = language


def current_language() -> str:
    return _current


def _(message: str) -> str:
    """Translate ``message`` into the current language, or return it unchanged when no translation exists."""
    return catalogue(_current).get(message, message)
