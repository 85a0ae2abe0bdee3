"""Drive the real ``Wechaty`` class and the bot runtime through the simulator puppet."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Engine

from repe_bot.adapter.runtime import BotRuntime
from repe_bot.adapter.simulator import SimulatorPuppet, forget_delivered_message_ids
from repe_bot.config import Settings
from tests.conftest import FakeClock, free_port, make_settings

BOT_ID = "wxid_bot"
BOT_NAME = "活动助手"
ROOM = "room1@chatroom"


def fast_settings(db_path: Any, **overrides: Any) -> Settings:
    """Settings that send immediately, so tests need not wait for pacing or coalescing windows."""
    sending = {"per_minute": 60000, "conversation_spacing_seconds": 0, "jitter_seconds": 0, "coalesce_seconds": 0}
    sending.update(overrides.pop("sending", {}))
    bot = {"plugin_port": free_port(), "name": BOT_NAME}
    bot.update(overrides.pop("bot", {}))
    return make_settings(db_path, sending=sending, bot=bot, **overrides)


def make_puppet(members: int = 5, room: str = ROOM, clock: FakeClock | None = None) -> SimulatorPuppet:
    puppet = SimulatorPuppet(BOT_ID, BOT_NAME, clock=clock)
    ids = []
    for index in range(1, members + 1):
        wxid = f"wxid_m{index:04d}"
        puppet.add_contact(wxid, f"成员{index}")
        ids.append(wxid)
    puppet.add_room(room, "测试群", [BOT_ID, *ids])
    return puppet


class BotHarness:
    """A started bot on a simulator puppet, with helpers to talk and to wait for replies."""

    def __init__(self, settings: Settings, engine: Engine, clock: FakeClock, puppet: SimulatorPuppet) -> None:
        self.settings = settings
        self.engine = engine
        self.clock = clock
        self.puppet = puppet
        self.runtime = BotRuntime(settings, puppet, engine=engine, clock=clock, rng=random.Random(11),
                                  show_progress=False)

    async def start(self, wait_sync: bool = True) -> BotHarness:
        forget_delivered_message_ids()
        await self.runtime.start(login_timeout=10)
        if wait_sync and self.runtime.sync_task is not None:
            await asyncio.wait_for(self.runtime.sync_task, timeout=30)
        return self

    async def stop(self) -> None:
        await self.runtime.stop()

    async def say(self, talker: str, text: str, room: str | None = ROOM, **kwargs: Any) -> str:
        message_id = await self.puppet.say(talker, text, room_id=room, **kwargs)
        await self.puppet.drain()
        return message_id

    async def settle(self, timeout: float = 10.0) -> None:
        """Run housekeeping and wait until every queued outbox row has been sent."""
        self.runtime.service.housekeeping()
        assert await self.runtime.wait_idle(timeout), "outbox did not drain"
        await self.puppet.drain()

    def sent_to(self, conversation: str) -> list[Any]:
        return [m for m in self.puppet.sent if m.conversation_id == conversation]

    def mentions(self, conversation: str = ROOM) -> list[str]:
        return [wxid for m in self.sent_to(conversation) for wxid in m.mention_ids]


def member_ids(count: int) -> Iterable[str]:
    return (f"wxid_m{index:04d}" for index in range(1, count + 1))
