"""Configuration: a TOML file validated into typed settings.

Every key has a default, so an empty file is a valid simulator setup. Unknown keys and bad values
raise ConfigError with the dotted key name, so a typo never passes silently.
"""

from __future__ import annotations

import os
import re
import sys
from datetime import time
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from repe_bot.command_config import CommandSettings
from repe_bot.i18n import _

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

DEFAULT_CONFIG_PATH = Path("repe.toml")
CONFIG_ENV = "REPE_CONFIG"
TOKEN_ENV = "WECHATY_PUPPET_SERVICE_TOKEN"
ENDPOINT_ENV = "WECHATY_PUPPET_SERVICE_ENDPOINT"

_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


class ConfigError(ValueError):
    """The configuration file is missing, unreadable or invalid."""


def parse_hhmm(value: str) -> time:
    """Parse a 24-hour ``HH:MM`` string, raising ValueError that shows the expected form."""
    match = _HHMM.match(value.strip())
    if not match:
        raise ValueError(_("invalid time {value!r}: use 24-hour HH:MM, for example 08:30").format(value=value))
    return time(int(match.group(1)), int(match.group(2)))


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ServiceSettings(_Section):
    token: str = ""
    endpoint: str = ""
    login_timeout_seconds: float = Field(default=60.0, gt=0)

    def resolved_token(self) -> str:
        return self.token or os.environ.get(TOKEN_ENV, "")

    def resolved_endpoint(self) -> str:
        return self.endpoint or os.environ.get(ENDPOINT_ENV, "")


class SimulatorSettings(_Section):
    scenario: str = ""
    speed: float = Field(default=1.0, ge=0)


class BotSettings(_Section):
    name: str = "repe-bot"
    puppet: Literal["simulator", "service"] = "simulator"
    admins: list[str] = Field(default_factory=list)
    plugin_host: str = "127.0.0.1"
    plugin_port: int = Field(default=5000, ge=1, le=65535)
    max_message_age_seconds: int = Field(default=600, ge=1)
    service: ServiceSettings = ServiceSettings()
    simulator: SimulatorSettings = SimulatorSettings()


class DatabaseSettings(_Section):
    url: str = "sqlite:///repe.db"
    busy_timeout_ms: int = Field(default=5000, ge=0)
    processed_retention_days: int = Field(default=7, ge=1)


class TimeSettings(_Section):
    zone: str = "Asia/Shanghai"
    day_reset: str = "00:00"

    @field_validator("zone")
    @classmethod
    def _check_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise ValueError(
                _("unknown time zone {value!r}: use an IANA name such as Asia/Shanghai").format(value=value)
            ) from error
        return value

    @field_validator("day_reset")
    @classmethod
    def _check_reset(cls, value: str) -> str:
        parse_hhmm(value)
        return value

    @property
    def tzinfo(self) -> ZoneInfo:
        return ZoneInfo(self.zone)

    @property
    def reset_time(self) -> time:
        return parse_hhmm(self.day_reset)


class SendingSettings(_Section):
    per_minute: int = Field(default=20, ge=1)
    conversation_spacing_seconds: float = Field(default=3.0, ge=0)
    jitter_seconds: float = Field(default=1.0, ge=0)
    coalesce_seconds: float = Field(default=2.0, ge=0)
    max_mentions: int = Field(default=50, ge=1)
    retry_base_seconds: float = Field(default=5.0, gt=0)
    retry_max_seconds: float = Field(default=300.0, gt=0)
    max_attempts: int = Field(default=8, ge=1)


class TaskSettings(_Section):
    grace_minutes: int = Field(default=10, ge=0)
    poll_seconds: float = Field(default=2.0, gt=0)


class SyncSettings(_Section):
    on_login: bool = True
    auto_accept_friends: bool = False
    auto_accept_room_invites: bool = False
    concurrency: int = Field(default=8, ge=1)
    batch_size: int = Field(default=500, ge=1)


class ReplySettings(_Section):
    rejections: bool = True


class Templates(_Section):
    """Bot reply texts, formatted with ``str.format``; the placeholders each one may use are listed."""

    join_ok: str = "报名成功：{name}{reward_text}"
    reward_text: str = "，获得 {reward} 积分"
    cost_text: str = "，扣除 {cost} 积分"
    join_ok_many: str = "「{activity}」报名成功 {count} 人：\n{lines}"
    join_line: str = "{seq}. {name}{reward_text}"
    already_joined: str = "你已经报名过「{activity}」了"
    full: str = "「{activity}」名额已满"
    not_enough_points: str = "积分不足：「{activity}」需要 {required} 积分，你现在有 {balance} 积分"
    closed: str = "「{activity}」已结束"
    announcement: str = "【{activity}】{announcement}\n发送口令「{passphrase}」参与{details}"
    summary: str = "「{activity}」已结束（{reason}），共 {count} 人参与{paid_text}\n{lines}"
    summary_line: str = "{seq}. {name}{reward_text}"
    summary_paid: str = "，发放 {paid} 积分"
    refund_notice: str = "「{activity}」结束，退回剩余 {refund} 积分"
    detail_capacity: str = "，限 {capacity} 人"
    detail_fixed: str = "，每人奖励 {amount} 积分"
    detail_pool_equal: str = "，奖池 {pool} 积分平分"
    detail_pool_random: str = "，奖池 {pool} 积分拼手气"
    detail_required: str = "，需持有至少 {required} 积分"
    detail_cost: str = "，报名消耗 {cost} 积分"
    detail_deadline: str = "，截止 {deadline}"
    detail_daily: str = "，每天可参与一次"
    reason_full: str = "名额已满"
    reason_deadline: str = "已到截止时间"
    reason_admin: str = "管理员结束"
    reason_budget: str = "奖励已发完"
    unnamed: str = "微信用户{suffix}"

    @model_validator(mode="after")
    def _check_placeholders(self) -> Templates:
        for key, allowed in TEMPLATE_FIELDS.items():
            check_template(f"templates.{key}", getattr(self, key), allowed)
        return self


def check_template(key: str, value: str, allowed: set[str]) -> None:
    """Raise ValueError naming ``key`` unless ``value`` formats with exactly the ``allowed`` fields.

    The template is formatted once with sample values, so placeholders nested in a format spec,
    positional ``{}`` fields and unbalanced braces are caught at load time, not at the first reply.
    """
    names = ", ".join("{" + name + "}" for name in sorted(allowed)) or "none"
    try:
        value.format(**{name: 1 for name in allowed})
    except KeyError as error:
        raise ValueError(
            _("{key} uses unknown placeholder {placeholder}; allowed: {names}").format(
                key=key, placeholder="{" + str(error.args[0]) + "}", names=names
            )
        ) from None
    except (IndexError, ValueError, AttributeError, TypeError) as error:
        raise ValueError(
            _("{key} is not a valid template ({error}); allowed placeholders: {names}").format(
                key=key, error=error, names=names
            )
        ) from None


TEMPLATE_FIELDS: dict[str, set[str]] = {
    "join_ok": {"name", "activity", "reward_text", "cost_text", "seq", "reward", "cost"},
    "reward_text": {"reward"},
    "cost_text": {"cost"},
    "join_ok_many": {"activity", "count", "lines"},
    "join_line": {"seq", "name", "reward_text", "cost_text", "reward", "cost"},
    "already_joined": {"activity", "name"},
    "full": {"activity", "name", "capacity"},
    "not_enough_points": {"activity", "name", "required", "balance"},
    "closed": {"activity", "name"},
    "announcement": {"activity", "announcement", "passphrase", "details"},
    "summary": {"activity", "reason", "count", "paid_text", "lines", "paid"},
    "summary_line": {"seq", "name", "reward_text", "reward"},
    "summary_paid": {"paid"},
    "refund_notice": {"activity", "refund"},
    "detail_capacity": {"capacity"},
    "detail_fixed": {"amount"},
    "detail_pool_equal": {"pool", "capacity"},
    "detail_pool_random": {"pool", "capacity"},
    "detail_required": {"required"},
    "detail_cost": {"cost"},
    "detail_deadline": {"deadline"},
    "detail_daily": set(),
    "reason_full": set(),
    "reason_deadline": set(),
    "reason_admin": set(),
    "reason_budget": set(),
    "unnamed": {"suffix"},
}


class Settings(_Section):
    language: Literal["zh", "en"] = "zh"
    bot: BotSettings = BotSettings()
    database: DatabaseSettings = DatabaseSettings()
    time: TimeSettings = TimeSettings()
    sending: SendingSettings = SendingSettings()
    tasks: TaskSettings = TaskSettings()
    sync: SyncSettings = SyncSettings()
    replies: ReplySettings = ReplySettings()
    templates: Templates = Templates()
    commands: CommandSettings = CommandSettings()

    # Directory of the config file, used to resolve relative paths in it.
    base_dir: Path = Field(default=Path("."), exclude=True)

    def resolve_path(self, value: str) -> Path:
        path = Path(value).expanduser()
        return path if path.is_absolute() else self.base_dir / path

    def database_url(self) -> str:
        """Return the database URL, with a relative SQLite path resolved against the config's folder."""
        url = self.database.url
        prefix = "sqlite:///"
        if url.startswith(prefix) and not url.startswith(prefix + "/") and ":memory:" not in url:
            return prefix + str(self.resolve_path(url[len(prefix):]))
        return url


def _format_validation_error(error: ValidationError, source: str) -> str:
    lines = [_("invalid configuration in {source}:").format(source=source)]
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"]) or "(top level)"
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = _("unknown key; check the spelling against config.example.toml")
        lines.append(f"  {key}: {message}")
    return "\n".join(lines)


def settings_from_dict(data: dict[str, Any], source: str = "<config>", base_dir: Path | None = None) -> Settings:
    """Validate a parsed TOML document, raising ConfigError that names each bad key."""
    try:
        settings = Settings.model_validate(data)
    except ValidationError as error:
        raise ConfigError(_format_validation_error(error, source)) from None
    if base_dir is not None:
        settings = settings.model_copy(update={"base_dir": base_dir})
    return settings


def load_settings(path: Path | None = None) -> Settings:
    """Load the config from ``path``, ``$REPE_CONFIG`` or ``./repe.toml``; a missing default file means defaults."""
    explicit = path is not None or CONFIG_ENV in os.environ
    config_path = Path(path or os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG_PATH)

    if not config_path.exists():
        if explicit:
            raise ConfigError(
                _("config file {path} not found; create it with `repe init --config {path}`").format(path=config_path)
            )
        return Settings(base_dir=Path.cwd())

    try:
        data = tomllib.loads(config_path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(
            _("config file {path} is not valid TOML: {error}").format(path=config_path, error=error)
        ) from None
    except UnicodeDecodeError:
        raise ConfigError(
            _("config file {path} is not valid UTF-8; save it as UTF-8").format(path=config_path)
        ) from None
    except OSError as error:
        raise ConfigError(_("cannot read config file {path}: {error}").format(path=config_path, error=error)) from None

    return settings_from_dict(data, str(config_path), config_path.resolve().parent)
