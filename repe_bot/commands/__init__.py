"""Member and admin chat commands, registered as MessageService handlers.

Each command is one handler. MessageService tries the handlers before passphrases, so a command
word always wins over an activity passphrase that happens to equal it. For that reason 口令红包 and
开始活动 reject command words as passphrases.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from repe_bot.command_config import CommandSettings
from repe_bot.commands.account import BalanceCommand, CheckInCommand, LeaderboardCommand
from repe_bot.commands.admin import (
    AddPointsCommand,
    DeductPointsCommand,
    EndActivityCommand,
    StartActivityCommand,
)
from repe_bot.commands.base import CommandHandler
from repe_bot.commands.help import HelpCommand
from repe_bot.commands.packets import PassphrasePacketCommand, RedPacketCommand
from repe_bot.commands.tips import TipCommand

if TYPE_CHECKING:
    from repe_bot.service import MessageService

# Order of registration and of the 帮助 listing.
COMMAND_CLASSES: tuple[type[CommandHandler], ...] = (
    HelpCommand,
    BalanceCommand,
    CheckInCommand,
    LeaderboardCommand,
    RedPacketCommand,
    PassphrasePacketCommand,
    TipCommand,
    StartActivityCommand,
    EndActivityCommand,
    AddPointsCommand,
    DeductPointsCommand,
)


def build_commands(service: MessageService, config: CommandSettings) -> list[CommandHandler]:
    """Create one handler per enabled command; 帮助 lists all of them."""
    handlers = [cls(service, config) for cls in COMMAND_CLASSES]
    enabled = [handler for handler in handlers if handler.spec.enabled]
    for handler in enabled:
        if isinstance(handler, HelpCommand):
            handler.catalogue = enabled
    return enabled


def register_commands(service: MessageService, config: CommandSettings | None = None) -> None:
    """Add every enabled command to ``service``, configured by ``config`` or ``service.settings.commands``."""
    for handler in build_commands(service, config or service.settings.commands):
        service.add_handler(handler)


__all__ = ["COMMAND_CLASSES", "CommandHandler", "build_commands", "register_commands"]
