"""The zh message catalogue against the messages the source code actually uses.

Messages are found by parsing every module of repe_bot/ and cli/ with ast and collecting the
literal first argument of each ``_()`` call (translated at once) and ``N_()`` call (help texts,
translated when the command line is parsed).
"""

from __future__ import annotations

import ast
import string
import sys
from collections.abc import Iterable
from pathlib import Path

import pytest

from repe_bot.i18n import _, catalogue, set_language

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

REPO = Path(__file__).resolve().parent.parent
SOURCE_ROOTS = (REPO / "repe_bot", REPO / "cli")
CATALOGUE_PATH = REPO / "repe_bot" / "i18n" / "zh.toml"
MARKERS = ("_", "N_")


def collect_messages(roots: Iterable[Path]) -> tuple[dict[str, list[str]], list[str]]:
    """Return {message: [file:line, ...]} and the places where a marker is called without a plain literal."""
    messages: dict[str, list[str]] = {}
    bad_calls: list[str] = []
    for root in roots:
        for path in sorted(root.rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            for node in ast.walk(tree):
                if not (
                    isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in MARKERS
                ):
                    continue
                where = f"{path.relative_to(root.parent)}:{node.lineno}"
                if len(node.args) != 1 or node.keywords:
                    bad_calls.append(f"{where}: {node.func.id}() takes exactly one argument")
                    continue
                argument = node.args[0]
                if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
                    messages.setdefault(argument.value, []).append(where)
                elif isinstance(argument, (ast.JoinedStr, ast.BinOp, ast.Call)):
                    # An f-string, a concatenation or an already formatted text never matches a
                    # catalogue key. A name (such as a label looked up from N_-marked constants) is fine.
                    bad_calls.append(
                        f"{where}: {node.func.id}() of a computed text; pass the literal source text"
                    )
    return messages, bad_calls


def placeholders(text: str) -> list[tuple[str, str | None, str | None]]:
    """Return the sorted ``{name!conversion:spec}`` fields of a format text; raise ValueError if malformed."""
    fields = [
        (name, conversion, spec)
        for _, name, spec, conversion in string.Formatter().parse(text)
        if name is not None
    ]
    return sorted(fields, key=lambda field: (field[0], field[1] or "", field[2] or ""))


def load_zh() -> dict[str, str]:
    with CATALOGUE_PATH.open("rb") as handle:
        return dict(tomllib.load(handle)["messages"])


def missing_translations(messages: dict[str, list[str]], translations: dict[str, str]) -> list[str]:
    return [
        f"{message!r} used at {', '.join(places)}"
        for message, places in messages.items()
        if message not in translations
    ]


def placeholder_mismatches(translations: dict[str, str]) -> list[str]:
    problems = []
    for source, translated in translations.items():
        try:
            expected = placeholders(source)
            actual = placeholders(translated)
        except ValueError as error:
            problems.append(f"{source!r}: malformed braces ({error})")
            continue
        if expected != actual:
            problems.append(f"{source!r}: source has {expected}, translation {translated!r} has {actual}")
    return problems


def test_every_message_has_zh_translation() -> None:
    messages, _bad = collect_messages(SOURCE_ROOTS)
    assert len(messages) > 100  # the scan reached the source tree
    assert missing_translations(messages, load_zh()) == []


def test_zh_translations_keep_placeholders() -> None:
    assert placeholder_mismatches(load_zh()) == []


def test_markers_take_literal_texts() -> None:
    _messages, bad_calls = collect_messages(SOURCE_ROOTS)
    assert bad_calls == []


def test_zh_has_no_unused_entries() -> None:
    messages, _bad = collect_messages(SOURCE_ROOTS)
    unused = sorted(set(load_zh()) - set(messages))
    assert unused == [], "remove these entries or the code that stopped using them"


def test_zh_values_are_translated_strings() -> None:
    for source, translated in load_zh().items():
        assert isinstance(translated, str)
        assert translated.strip(), f"empty translation of {source!r}"


def test_checks_catch_missing_and_mismatched(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "mod.py").write_text(
        "from repe_bot.i18n import _\n"
        'print(_("known {name}"))\n'
        'print(_("brand new text"))\n'
        'print(_(f"computed {1}"))\n'
        'print(N_("marked help"))\n',
        encoding="utf-8",
    )
    messages, bad_calls = collect_messages([package])

    assert set(messages) == {"known {name}", "brand new text", "marked help"}
    assert messages["brand new text"] == ["pkg/mod.py:3"]
    assert bad_calls == ["pkg/mod.py:4: _() of a computed text; pass the literal source text"]

    translations = {"known {name}": "已知 {name}", "marked help": "帮助"}
    assert missing_translations(messages, translations) == ["'brand new text' used at pkg/mod.py:3"]

    assert placeholder_mismatches({"hello {name}": "你好 {nmae}"}) != []
    assert placeholder_mismatches({"value {value!r}": "值 {value}"}) != []
    assert placeholder_mismatches({"n {count}": "n {count"}) != []
    assert placeholder_mismatches({"a {x} {y}": "{y} 和 {x}"}) == []


def test_language_switch_translates() -> None:
    message = "activity #{id} is already closed"
    set_language("zh")
    assert _(message) == catalogue("zh")[message]
    assert _(message).format(id=3) == "活动 #3 已经结束"
    set_language("en")
    assert _(message) == message
    assert _("a text with no entry") == "a text with no entry"


def test_unknown_language_rejected() -> None:
    with pytest.raises(ValueError, match="'fr'"):
        set_language("fr")
