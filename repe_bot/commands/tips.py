"""打赏 <points> @member …: move points from the sender to each mentioned member, all or none."""

from __future__ import annotations

import logging

from repe_bot import ledger
from repe_bot.commands.base import CommandHandler, Invocation, Rejected
from repe_bot.ledger import InsufficientBalance

log = logging.getLogger(__name__)


class TipCommand(CommandHandler):
    key = "tip"
    takes_arguments = True
    room_only = True

    def execute(self, invocation: Invocation) -> str:
        t = self.templates
        if not invocation.args:
            raise self.usage_rejection(invocation)
        points = self.parse_points(invocation, invocation.args[0])
        targets = self.mentioned_targets(invocation)
        if invocation.talker in targets:
            raise Rejected("tip_self", t.tip_self.format(name=invocation.name))

        total = points * len(targets)
        balance_before = self.require_balance(invocation, total)
        memo = " ".join(invocation.args[1:])[:100]
        sender = ledger.member_key(invocation.talker)
        try:
            for target in targets:
                ledger.transfer(
                    invocation.session,
                    from_key=sender,
                    to_key=ledger.member_key(target),
                    amount=points,
                    reason="tip",
                    idempotency_key=f"tip:{invocation.message.id}:{target}",
                    now=invocation.now,
                    memo=memo,
                )
        except InsufficientBalance as error:
            # Rejected rolls back the transfers already made for earlier targets.
            raise Rejected(
                "insufficient",
                t.insufficient.format(name=invocation.name, required=total, balance=balance_before),
            ) from error

        balance = ledger.balance(invocation.session, sender)
        names = self.joined_names(invocation.session, targets, invocation.room)
        text = t.tip_ok.format(name=invocation.name, names=names, points=points, total=total, balance=balance)
        self.reply(invocation, text, mention_ids=targets)
        log.info("tip: %s gave %d points each to %s", invocation.talker, points, ", ".join(targets))
        return "tipped"
