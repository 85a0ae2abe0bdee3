"""Settings of the member and admin chat commands: command words, limits, cooldowns and reply texts.

This module must not import ``repe_bot.config``, because ``Settings`` there embeds
``CommandSettings`` as its ``commands`` section. Every default is Chinese, because members read
these texts in WeChat.
"""

from __future__ import annotations

import string
import unicodedata
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from repe_bot.text import normalize


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _placeholders(template: str) -> list[str]:
    return [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]


def _check_template(key: str, template: str, allowed: set[str]) -> None:
    try:
        names = _placeholders(template)
    except ValueError as error:
        raise ValueError(
            f"{key} is not a valid str.format text ({error}); write a literal brace as {{{{ or }}}}"
        ) from None
    for name in names:
        if name not in allowed:
            choices = ", ".join("{" + item + "}" for item in sorted(allowed)) or "none"
            raise ValueError(f"{key} uses unknown placeholder {{{name}}}; allowed: {choices}")


class CommandSpec(_Section):
    """One chat command: the words that start it, its usage line and description for 帮助, its cooldown."""

    words: list[str]
    usage: str = "{word}"
    description: str = ""
    cooldown_seconds: float = Field(default=5.0, ge=0)

    @field_validator("words")
    @classmethod
    def _check_words(cls, value: list[str]) -> list[str]:
        for word in value:
            if not word.strip() or any(char.isspace() for char in word.strip()):
                raise ValueError(
                    f"invalid command word {word!r}: use one word without spaces, or [] to disable"
                )
            if word.strip().startswith("@") or unicodedata.category(word.strip()[-1]).startswith("P"):
                raise ValueError(
                    f"invalid command word {word!r}: it must not start with @ or end with punctuation"
                )
        return [word.strip() for word in value]

    @model_validator(mode="after")
    def _check_texts(self) -> CommandSpec:
        _check_template("usage", self.usage, USAGE_FIELDS)
        _check_template("description", self.description, USAGE_FIELDS)
        return self

    @property
    def enabled(self) -> bool:
        return bool(self.words)

    def usage_text(self, packet_passphrase: str, word: str | None = None) -> str:
        """Return the usage line with ``word`` (default: the first command word) filled in."""
        word = word or (self.words[0] if self.words else "")
        return self.usage.format(word=word, packet_passphrase=packet_passphrase)

    def description_text(self, packet_passphrase: str) -> str:
        word = self.words[0] if self.words else ""
        return self.description.format(word=word, packet_passphrase=packet_passphrase)


USAGE_FIELDS = {"word", "packet_passphrase"}


class CommandTemplates(_Section):
    """Reply texts of the commands, formatted with ``str.format``.

    COMMAND_TEMPLATE_FIELDS lists the placeholders each text may use.

    Room replies also mention the member through the outbox, so no text writes "@name" itself.
    """

    usage: str = "{name}，格式不对。正确格式：{usage}"
    not_in_room: str = "{name}，「{word}」只能在群里使用"
    admin_only: str = "{name}，只有管理员可以使用「{word}」"
    cooldown: str = "{name}，操作太频繁，请 {seconds} 秒后再试"
    amount_too_large: str = "{name}，积分数不能超过 {max_points}"
    insufficient: str = "{name}，积分不足：需要 {required} 积分，你现在有 {balance} 积分"

    balance: str = "{name} 的积分：{balance}{rank_text}{history_text}"
    balance_rank: str = "，群内排名第 {rank}/{total}"
    balance_history: str = "\n最近变动：\n{lines}"
    balance_history_line: str = "{time} {reason} {delta}"

    help: str = "可用命令：\n{commands}{activities_text}"
    help_line: str = "{usage}  {description}"
    help_activities: str = "\n进行中的活动：\n{lines}"
    help_activity_line: str = "发送「{passphrase}」参与「{activity}」{deadline_text}"
    help_deadline: str = "，截止 {deadline}"
    help_no_activities: str = "\n当前没有进行中的活动"

    checkin_ok: str = (
        "签到成功：{name} 获得 {points} 积分{bonus_text}，已连续签到 {streak} 天，现有 {balance} 积分"
    )
    checkin_bonus: str = "，连续签到 {streak} 天奖励 {bonus} 积分"
    checkin_already: str = "{name}，今天已经签到过了，已连续签到 {streak} 天"

    leaderboard: str = "{title}\n{lines}"
    leaderboard_title_balance: str = "积分排行榜"
    leaderboard_title_week: str = "本周积分榜"
    leaderboard_line: str = "{rank}. {name} {points}"
    leaderboard_empty: str = "{title}\n暂无数据"

    packet_name: str = "{name}的红包"
    packet_announcement: str = "{name} 发了 {points} 积分的红包，共 {count} 个"
    packet_count: str = "{name}，红包个数要在 1 到 {max_count} 之间"
    packet_too_small: str = "{name}，{count} 个红包至少要 {count} 积分，每个至少 1 积分"
    packet_open_limit: str = "{name}，你还有 {open} 个红包没被领完，最多同时发 {limit} 个"
    packet_daily_limit: str = "{name}，今天已发红包 {used} 积分，每天最多 {limit} 积分"
    packet_busy: str = "{name}，本群的「{passphrase}」红包还没领完，请等它结束，或发口令红包：{usage}"
    passphrase_taken: str = "{name}，口令「{passphrase}」正被本群进行中的活动使用，请换一个口令"
    passphrase_reserved: str = "{name}，「{passphrase}」是命令词，不能用作口令"
    passphrase_invalid: str = "{name}，口令「{passphrase}」无效：口令要包含文字或数字"

    tip_ok: str = "{name} 打赏给 {names} 每人 {points} 积分"
    tip_self: str = "{name}，不能打赏自己"
    target_bot: str = "{name}，不能对机器人使用「{word}」"
    too_many_targets: str = "{name}，一次最多 @{limit} 人"
    mention_unresolved: str = "{name}，没能识别你 @ 的成员，请在群里长按对方头像 @ 后重试"

    activity_name: str = "{passphrase}"
    activity_pool_capacity: str = "{name}，奖池活动需要至少 1 个名额"
    activity_pool_small: str = "{name}，奖池 {pool} 积分不够分给 {capacity} 人，每人至少 1 积分"
    activity_not_found: str = "{name}，没有找到进行中的活动「{target}」"
    activity_ended: str = "{name}，已结束活动 #{id}「{activity}」，退回 {refund} 积分"
    activity_deadline_invalid: str = "{name}，截止时间「{value}」无效：写 30分钟、2小时、1天 或 21:00"

    points_added: str = "{name} 给 {names} 每人加 {points} 积分（{reason}）"
    points_deducted: str = "{name} 给 {names} 每人扣 {points} 积分（{reason}）"
    deduct_insufficient: str = "{name}，{names} 的积分不足 {points}，这次没有扣分"
    add_reason_default: str = "管理员加分"
    deduct_reason_default: str = "管理员扣分"

    @model_validator(mode="after")
    def _check_placeholders(self) -> CommandTemplates:
        for key, allowed in COMMAND_TEMPLATE_FIELDS.items():
            _check_template(f"commands.templates.{key}", getattr(self, key), allowed)
        return self


COMMAND_TEMPLATE_FIELDS: dict[str, set[str]] = {
    "usage": {"name", "usage", "word"},
    "not_in_room": {"name", "word"},
    "admin_only": {"name", "word"},
    "cooldown": {"name", "word", "seconds"},
    "amount_too_large": {"name", "max_points"},
    "insufficient": {"name", "required", "balance"},
    "balance": {"name", "balance", "rank_text", "history_text"},
    "balance_rank": {"rank", "total"},
    "balance_history": {"lines"},
    "balance_history_line": {"time", "reason", "delta", "balance"},
    "help": {"commands", "activities_text"},
    "help_line": {"usage", "description", "word"},
    "help_activities": {"lines"},
    "help_activity_line": {"passphrase", "activity", "deadline_text"},
    "help_deadline": {"deadline"},
    "help_no_activities": set(),
    "checkin_ok": {"name", "points", "bonus_text", "streak", "balance", "bonus"},
    "checkin_bonus": {"bonus", "streak"},
    "checkin_already": {"name", "streak"},
    "leaderboard": {"title", "lines"},
    "leaderboard_title_balance": set(),
    "leaderboard_title_week": set(),
    "leaderboard_line": {"rank", "name", "points"},
    "leaderboard_empty": {"title"},
    "packet_name": {"name", "points", "count"},
    "packet_announcement": {"name", "points", "count"},
    "packet_count": {"name", "max_count", "count"},
    "packet_too_small": {"name", "points", "count"},
    "packet_open_limit": {"name", "open", "limit"},
    "packet_daily_limit": {"name", "used", "limit", "points"},
    "packet_busy": {"name", "passphrase", "usage"},
    "passphrase_taken": {"name", "passphrase"},
    "passphrase_reserved": {"name", "passphrase"},
    "passphrase_invalid": {"name", "passphrase"},
    "tip_ok": {"name", "names", "points", "total", "balance"},
    "tip_self": {"name"},
    "target_bot": {"name", "word"},
    "too_many_targets": {"name", "limit"},
    "mention_unresolved": {"name"},
    "activity_name": {"passphrase"},
    "activity_pool_capacity": {"name"},
    "activity_pool_small": {"name", "pool", "capacity"},
    "activity_not_found": {"name", "target"},
    "activity_ended": {"name", "id", "activity", "refund"},
    "activity_deadline_invalid": {"name", "value"},
    "points_added": {"name", "names", "points", "reason"},
    "points_deducted": {"name", "names", "points", "reason"},
    "deduct_insufficient": {"name", "names", "points"},
    "add_reason_default": set(),
    "deduct_reason_default": set(),
}

# Labels of ledger reasons in the 余额 history. A reason missing here is shown as stored.
DEFAULT_REASON_LABELS: dict[str, str] = {
    "grant": "发放",
    "checkin": "签到",
    "checkin_bonus": "连续签到奖励",
    "tip": "打赏",
    "admin_add": "管理员加分",
    "admin_deduct": "管理员扣分",
    "admin_grant": "后台发放",
    "admin_revoke": "后台扣除",
    "activity_fund": "活动/红包出资",
    "activity_refund": "活动/红包退回",
    "join_cost": "报名消耗",
    "join_reward": "活动奖励",
}


class CommandSettings(_Section):
    """The ``[commands]`` section. Set a command's ``words = []`` to disable it.

    A command table in the config replaces only the keys it names, and the others keep their defaults.
    """

    balance: CommandSpec = CommandSpec(
        words=["余额", "积分"], description="查看自己的积分、群内排名和最近变动", cooldown_seconds=5
    )
    help: CommandSpec = CommandSpec(
        words=["帮助"], description="查看可用命令和进行中的活动", cooldown_seconds=10
    )
    checkin: CommandSpec = CommandSpec(
        words=["签到"], description="每天签到领积分，连续签到有奖励", cooldown_seconds=5
    )
    leaderboard: CommandSpec = CommandSpec(
        words=["排行榜"], description="查看本群积分排行", cooldown_seconds=10
    )
    red_packet: CommandSpec = CommandSpec(
        words=["发红包"],
        usage="{word} <积分> <个数>",
        description="用自己的积分发拼手气红包，群友发送「{packet_passphrase}」领取",
        cooldown_seconds=3,
    )
    passphrase_packet: CommandSpec = CommandSpec(
        words=["口令红包"],
        usage="{word} <口令> <积分> <个数>",
        description="发口令红包，群友发送口令领取",
        cooldown_seconds=3,
    )
    tip: CommandSpec = CommandSpec(
        words=["打赏"],
        usage="{word} <积分> @成员",
        description="把积分打赏给被 @ 的成员，每人各得这么多",
        cooldown_seconds=3,
    )
    start_activity: CommandSpec = CommandSpec(
        words=["开始活动"],
        usage="{word} <口令> <名额> <奖励> [时长] [名称]",
        description="（管理员）名额 0 为不限；奖励写 5 为每人 5 积分，写 0 为无奖励，"
        "平分100 或 随机100 为奖池；时长如 30分钟、2小时、1天 或截止时刻 21:00",
        cooldown_seconds=0,
    )
    end_activity: CommandSpec = CommandSpec(
        words=["结束活动"],
        usage="{word} <口令或#编号>",
        description="（管理员）提前结束进行中的活动",
        cooldown_seconds=0,
    )
    add_points: CommandSpec = CommandSpec(
        words=["加分"],
        usage="{word} <积分> @成员 [原因]",
        description="（管理员）给被 @ 的成员加分",
        cooldown_seconds=0,
    )
    deduct_points: CommandSpec = CommandSpec(
        words=["扣分"],
        usage="{word} <积分> @成员 [原因]",
        description="（管理员）给被 @ 的成员扣分",
        cooldown_seconds=0,
    )

    # Admins listed in bot.admins skip the per-member cooldowns.
    admins_skip_cooldown: bool = True
    # Immediate command replies per room in any 60 seconds. Later ones are delayed and merged, never dropped.
    room_replies_per_minute: int = Field(default=10, ge=1)
    # Largest point amount accepted in one command argument.
    max_points: int = Field(default=1_000_000, ge=1)

    checkin_points: int = Field(default=5, ge=0)
    # Every streak_days consecutive check-ins add streak_bonus points. A 0 in either disables the bonus.
    streak_days: int = Field(default=7, ge=0)
    streak_bonus: int = Field(default=20, ge=0)

    balance_reply: Literal["room", "private"] = "room"
    balance_history_size: int = Field(default=3, ge=0)
    leaderboard_size: int = Field(default=10, ge=1)
    # "balance" ranks by current balance. "week" ranks by points received since Monday's day reset,
    # not counting refunds.
    leaderboard_by: Literal["balance", "week"] = "balance"

    packet_passphrase: str = "抢红包"
    packet_deadline_minutes: int = Field(default=1440, ge=1)
    packet_max_count: int = Field(default=100, ge=1)
    # Open red packets one member may have at a time, and points one member may put into red
    # packets per activity day. 0 means no limit.
    packet_max_open: int = Field(default=3, ge=0)
    packet_daily_points: int = Field(default=1000, ge=0)

    max_targets: int = Field(default=20, ge=1)

    # Reward forms of 开始活动: "平分100" is a pool split equally, "随机100" a random pool.
    pool_equal_prefix: str = "平分"
    pool_random_prefix: str = "随机"
    # Deadline of 开始活动 when none is given, in minutes. 0 means no deadline.
    activity_deadline_minutes: int = Field(default=0, ge=0)

    reason_labels: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_REASON_LABELS))
    templates: CommandTemplates = CommandTemplates()

    @model_validator(mode="before")
    @classmethod
    def _merge_defaults(cls, data: Any) -> Any:
        """Fill the keys a config leaves out of a command or of reason_labels from their defaults.

        Without this, ``[commands.help] words = ["菜单"]`` would also reset that command's usage,
        description and cooldown to the generic CommandSpec defaults.
        """
        if not isinstance(data, dict):
            return data
        merged = dict(data)
        for key in COMMAND_KEYS:
            value = merged.get(key)
            if isinstance(value, dict):
                default = cls.model_fields[key].default
                merged[key] = {**default.model_dump(), **value}
        labels = merged.get("reason_labels")
        if isinstance(labels, dict):
            merged["reason_labels"] = {**DEFAULT_REASON_LABELS, **labels}
        return merged

    def normalized_words(self) -> set[str]:
        """Return the normalised words of every enabled command; passphrases must avoid them."""
        return {normalize(word) for key in COMMAND_KEYS for word in getattr(self, key).words}

    @model_validator(mode="after")
    def _check_words(self) -> CommandSettings:
        seen: dict[str, str] = {}
        for key in COMMAND_KEYS:
            for word in getattr(self, key).words:
                form = normalize(word)
                if form in seen:
                    raise ValueError(
                        f"command word {word!r} is used by both commands.{seen[form]} and commands.{key}; "
                        "give each command its own words"
                    )
                seen[form] = key
        if not self.packet_passphrase.strip() or any(
            char.isspace() for char in self.packet_passphrase.strip()
        ):
            raise ValueError(
                f"invalid packet_passphrase {self.packet_passphrase!r}: use one word without spaces"
            )
        if normalize(self.packet_passphrase) in seen:
            raise ValueError(
                f"packet_passphrase {self.packet_passphrase!r} is the command word of "
                f"commands.{seen[normalize(self.packet_passphrase)]}; choose another passphrase"
            )
        if not self.pool_equal_prefix or not self.pool_random_prefix:
            raise ValueError("pool_equal_prefix and pool_random_prefix must not be empty")
        if self.pool_equal_prefix.startswith(self.pool_random_prefix) or self.pool_random_prefix.startswith(
            self.pool_equal_prefix
        ):
            raise ValueError(
                f"pool_equal_prefix {self.pool_equal_prefix!r} and "
                f"pool_random_prefix {self.pool_random_prefix!r} must not start with each other"
            )
        return self

    def command_words(self) -> set[str]:
        """Return the comparable form of every enabled command word."""
        return {normalize(word) for key in COMMAND_KEYS for word in getattr(self, key).words}


COMMAND_KEYS = (
    "balance",
    "help",
    "checkin",
    "leaderboard",
    "red_packet",
    "passphrase_packet",
    "tip",
    "start_activity",
    "end_activity",
    "add_points",
    "deduct_points",
)
