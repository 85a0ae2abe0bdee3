"""帮助: the commands usable in this conversation and the open activities with their passphrases."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlmodel import col

from repe_bot.commands.base import CommandHandler, Invocation
from repe_bot.db.models import Activity


class HelpCommand(CommandHandler):
    key = "help"
    # The commands to list, in order. build_commands sets it to every enabled command.
    catalogue: Sequence[CommandHandler] = ()

    def execute(self, invocation: Invocation) -> str:
        t = self.templates
        passphrase = self.config.packet_passphrase
        lines = []
        for handler in self.catalogue:
            if not handler.spec.enabled:
                continue
            if handler.room_only and invocation.room is None:
                continue
            if handler.admin_only and not invocation.is_admin:
                continue
            lines.append(
                t.help_line.format(
                    usage=handler.spec.usage_text(passphrase),
                    description=handler.spec.description_text(passphrase),
                    word=handler.spec.words[0],
                ).rstrip()
            )

        text = t.help.format(commands="\n".join(lines), activities_text=self._activities_text(invocation))
        self.reply(invocation, text)
        return "help"

    def _activities_text(self, invocation: Invocation) -> str:
        t = self.templates
        room = invocation.room
        room_match = col(Activity.room_wxid).is_(None) if room is None else col(Activity.room_wxid) == room
        activities = (
            invocation.session.execute(
                select(Activity).where(col(Activity.status) == "open", room_match).order_by(col(Activity.id))
            )
            .scalars()
            .all()
        )
        if not activities:
            return t.help_no_activities
        day = self.service.activities.day
        lines = []
        for activity in activities:
            deadline_text = ""
            if activity.deadline_at is not None:
                deadline_text = t.help_deadline.format(
                    deadline=day.local(activity.deadline_at).strftime("%m-%d %H:%M")
                )
            lines.append(
                t.help_activity_line.format(
                    passphrase=activity.passphrase_display,
                    activity=activity.name,
                    deadline_text=deadline_text,
                )
            )
        return t.help_activities.format(lines="\n".join(lines))
