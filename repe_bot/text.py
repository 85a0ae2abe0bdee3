"""Normalisation of member messages before they are compared with passphrases and command words."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

# Characters that may trail a passphrase without changing it ("报名!", "报名。。", "报名~").
_TRAILING_SYMBOLS = set("~～")
_XML_MARKERS = ("<?xml", "<msg", "<appmsg", "<sysmsg", "<refermsg", "</")


def is_xml(text: str) -> bool:
    """Return True for XML bodies: quotes, app messages and system messages never match anything."""
    stripped = text.strip()
    if not stripped.startswith("<"):
        return False
    lowered = stripped[:200].lower()
    return stripped.endswith(">") or any(marker in lowered for marker in _XML_MARKERS)


def _drop_format_characters(text: str) -> str:
    # Zero-width spaces and joiners (Unicode category Cf) are invisible in WeChat, so they never
    # make two passphrases differ.
    return "".join(char for char in text if unicodedata.category(char) != "Cf")


def _unify_spaces(text: str) -> str:
    # str.split() with no argument splits on every Unicode whitespace character,
    # including U+3000, U+2005 (the separator WeChat puts after an @mention) and U+00A0.
    return " ".join(text.split())


def _strip_known_mention(text: str, names: list[str], leading: bool) -> str | None:
    for name in names:
        token = "@" + name
        if leading and text.startswith(token):
            return text[len(token):].lstrip()
        if not leading and text.endswith(token):
            return text[: -len(token)].rstrip()
    return None


def strip_mentions(text: str, mention_names: Iterable[str] = ()) -> str:
    """Remove @mentions at the start and end of ``text``.

    A mention of a known name (the bot, or a contact in the message's mention ids) is removed even
    when no space follows it. Any other ``@word`` is removed up to the next space, which covers
    mentions that the puppet did not report in the mention ids.
    """
    names = sorted({_unify_spaces(unicodedata.normalize("NFKC", n)) for n in mention_names if n}, key=len, reverse=True)
    text = text.strip()

    while text.startswith("@"):
        known = _strip_known_mention(text, names, leading=True)
        if known is not None:
            text = known
            continue
        head, _, rest = text.partition(" ")
        if not rest and head == text:
            return ""
        text = rest.lstrip()

    while True:
        known = _strip_known_mention(text, names, leading=False)
        if known is not None:
            text = known
            continue
        head, space, last = text.rpartition(" ")
        if space and last.startswith("@"):
            text = head.rstrip()
            continue
        break

    return text


def _strip_trailing_punctuation(text: str) -> str:
    end = len(text)
    while end > 0:
        char = text[end - 1]
        if unicodedata.category(char).startswith("P") or char in _TRAILING_SYMBOLS:
            end -= 1
            continue
        break
    return text[:end]


def normalize(text: str, mention_names: Iterable[str] = ()) -> str:
    """Return the comparable form of a message or passphrase.

    Steps: NFKC, drop zero-width format characters, unify all Unicode whitespace, strip leading and
    trailing @mentions, drop the remaining whitespace, strip trailing punctuation, and case-fold.
    XML bodies normalise to "".
    """
    if is_xml(text):
        return ""
    text = _unify_spaces(_drop_format_characters(unicodedata.normalize("NFKC", text)))
    text = strip_mentions(text, mention_names)
    text = re.sub(r"\s+", "", text)
    text = _strip_trailing_punctuation(text)
    return text.casefold()


def tokens(text: str, mention_names: Iterable[str] = ()) -> list[str]:
    """Split a command message into words after NFKC, space unification and mention stripping."""
    if is_xml(text):
        return []
    text = _unify_spaces(unicodedata.normalize("NFKC", text))
    text = strip_mentions(text, mention_names)
    words = text.split(" ")
    return [word for word in words if word and not word.startswith("@")]
