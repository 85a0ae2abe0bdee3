"""The checks MessageService runs before opening a session: ParsedText and command prefilters."""

from __future__ import annotations

import pytest

from repe_bot.service import MessageService, ParsedText
from repe_bot.text import normalize

BOT = "活动助手"

MESSAGES = [
    "签到",
    "签到！！",
    "@活动助手 签到",
    "@活动助手签到",
    "Ｂalance please",
    "STRASSE ß x",
    "打赏 10 @小王 @小李",
    "  余额\u3000",
    "@someone 今天下午谁去图书馆？",
    "<b> 签到",
    "帮助 ~",
]


@pytest.mark.parametrize("text", MESSAGES)
def test_command_word_prefixes_normalized(text: str) -> None:
    parsed = ParsedText(normalize(text, (BOT,)), text, (BOT,))

    assert parsed.normalized.startswith(parsed.command_word)


@pytest.mark.parametrize("text", MESSAGES)
def test_prefilter_agrees_with_full_match(service: MessageService, text: str) -> None:
    from repe_bot.commands import register_commands
    from repe_bot.service import IncomingMessage

    register_commands(service)
    message = IncomingMessage(id="m1", talker_id="wxid_a", text=text, room_id="r@chatroom")
    for handler in service.handlers:
        parsed = ParsedText(normalize(text, (BOT,)), text, (BOT,))
        full_match = parsed.words and parsed.command_word in handler.words  # type: ignore[attr-defined]
        if full_match and not handler.takes_arguments:  # type: ignore[attr-defined]
            full_match = parsed.normalized == parsed.command_word

        assert handler.may_match(message, parsed) == bool(full_match)  # type: ignore[attr-defined]


def test_prefilter_passes_commands(service: MessageService) -> None:
    from repe_bot.commands import register_commands
    from repe_bot.service import IncomingMessage

    register_commands(service)
    for text in ("签到", "签到！！", "@活动助手 签到", "  余额\u3000", "打赏 10 @小王 @小李"):
        message = IncomingMessage(id="m1", talker_id="wxid_a", text=text, room_id="r@chatroom")
        parsed = ParsedText(normalize(text, (BOT,)), text, (BOT,))
        passed = [handler for handler in service.handlers if handler.may_match(message, parsed)]  # type: ignore[attr-defined]

        assert len(passed) == 1, text
