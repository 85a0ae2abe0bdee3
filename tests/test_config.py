"""Config loading: every bad key or value names the key and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from repe_bot.config import ConfigError, load_settings, settings_from_dict


@pytest.mark.parametrize(
    ("data", "fragments"),
    [
        ({"time": {"day_reset": "25:61"}}, ["time.day_reset", "25:61", "HH:MM"]),
        ({"time": {"zone": "Mars/Base"}}, ["time.zone", "Mars/Base"]),
        ({"bot": {"tokn": "x"}}, ["bot.tokn", "unknown key"]),
        ({"templates": {"full": "{oops}"}}, ["templates.full", "{oops}"]),
        ({"templates": {"join_ok": "ok {name!r:>{x}}"}}, ["templates.join_ok", "{x}"]),
        ({"templates": {"join_ok": "ok {name"}}, ["templates.join_ok"]),
        ({"templates": {"join_ok": "ok {}"}}, ["templates.join_ok"]),
        ({"sending": {"per_minute": 0}}, ["sending.per_minute"]),
    ],
)
def test_invalid_config_names_key(data: dict[str, object], fragments: list[str]) -> None:
    with pytest.raises(ConfigError) as raised:
        settings_from_dict(data)
    for fragment in fragments:
        assert fragment in str(raised.value)


def test_non_utf8_config_rejected(tmp_path: Path) -> None:
    path = tmp_path / "repe.toml"
    path.write_bytes(b"\xff\xfe[bot]\n")
    with pytest.raises(ConfigError, match="UTF-8"):
        load_settings(path)


def test_missing_explicit_config(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="repe init"):
        load_settings(tmp_path / "absent.toml")


def test_relative_database_follows_config(tmp_path: Path) -> None:
    path = tmp_path / "conf" / "repe.toml"
    path.parent.mkdir()
    path.write_text('[database]\nurl = "sqlite:///data/bot.db"\n', encoding="utf-8")
    assert load_settings(path).database_url() == f"sqlite:///{tmp_path / 'conf' / 'data' / 'bot.db'}"
