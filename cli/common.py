"""Shared parts of the command line: per-run state, output helpers, help translation and error reporting."""

import json
import os
from dataclasses import asdict, is_dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine
from sqlalchemy import exc as sa_exc
from typer.core import TyperGroup

from repe_bot.activities import UsageError
from repe_bot.admin import Admin, open_engine
from repe_bot.config import CONFIG_ENV, ConfigError, Settings, load_settings
from repe_bot.db.database import DatabaseError
from repe_bot.i18n import _, set_language

# Exit codes: 1 for a failed check or an unexpected database failure, 2 for input the user must fix.
EXIT_CHECK_FAILED = 1
EXIT_USAGE = 2

TIME_FORMAT = "%Y-%m-%d %H:%M"


def N_(message: str) -> str:
    """Mark ``message`` for the catalogue without translating it now.

    Help texts are written at import time, before the config (and so the language) is known;
    ``translate_help`` translates them when a command line is parsed.
    """
    return message


# Stored codes shown in tables, and their labels; JSON output keeps the codes.
LABELS = {
    "open": N_("open"),
    "closed": N_("closed"),
    "once": N_("once"),
    "daily": N_("daily"),
    "long": N_("long-running"),
    "none": N_("none"),
    "fixed": N_("fixed"),
    "equal": N_("equal split"),
    "random": N_("random split"),
    "now": N_("now"),
    "cron": N_("cron"),
    "active": N_("active"),
    "done": N_("done"),
    "cancelled": N_("cancelled"),
    "room": N_("room"),
    "contact": N_("contact"),
    "full": N_("capacity reached"),
    "deadline": N_("deadline passed"),
    "admin": N_("closed by admin"),
    "budget": N_("budget used up"),
    # Ledger entry reasons.
    "admin_grant": N_("granted by admin"),
    "admin_revoke": N_("revoked by admin"),
    "activity_fund": N_("activity funding"),
    "activity_refund": N_("activity refund"),
    "join_cost": N_("joining cost"),
    "join_reward": N_("joining reward"),
}


def parse_whole_number(value: str | int) -> int:
    """Parse an integer option or argument; the error names the value in the configured language."""
    if isinstance(value, int):
        return value
    try:
        return int(value.strip())
    except ValueError:
        raise typer.BadParameter(_("{value!r} is not a whole number").format(value=value)) from None


def label(code: str) -> str:
    return _(LABELS[code]) if code in LABELS else code


class CliState:
    """Settings and the admin of one command-line run, loaded on first use."""

    def __init__(self, config_path: Path | None) -> None:
        self.config_path = config_path
        self._settings: Settings | None = None
        self._engine: Engine | None = None
        self._admin: Admin | None = None

    def settings(self) -> Settings:
        """Load the config once and switch the message language to the configured one."""
        if self._settings is None:
            self._settings = load_settings(self.config_path)
            set_language(self._settings.language)
        return self._settings

    def apply_language(self) -> None:
        """Switch to the configured language if the config loads; the command reports a broken config."""
        try:
            self.settings()
        except ConfigError:
            pass

    def admin(self) -> Admin:
        if self._admin is None:
            settings = self.settings()
            self._engine = open_engine(settings)
            self._admin = Admin(self._engine, settings)
        return self._admin

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None
            self._admin = None


def state(ctx: typer.Context) -> CliState:
    root = ctx.find_root()
    if not isinstance(root.obj, CliState):
        root.obj = CliState(None)
        root.call_on_close(root.obj.close)
    return root.obj


def get_admin(ctx: typer.Context) -> Admin:
    return state(ctx).admin()


def get_settings(ctx: typer.Context) -> Settings:
    return state(ctx).settings()


# -- output ---------------------------------------------------------------------------------------


# Markup is off, so names and topics that contain square brackets print as they are.
def console() -> Console:
    return Console(highlight=False, markup=False)


def error_console() -> Console:
    return Console(stderr=True, highlight=False, markup=False)


def print_message(message: str, style: str | None = None) -> None:
    """Print one message unwrapped, so paths and values stay on one line for scripts to match."""
    console().print(message, style=style, soft_wrap=True)


def print_success(message: str) -> None:
    print_message(message, "green")


def print_warning(message: str) -> None:
    print_message(message, "yellow")


def report_error(message: str) -> None:
    error_console().print(_("Error: {message}").format(message=message), style="red", soft_wrap=True)


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


def print_json(data: Any) -> None:
    """Print dataclasses, lists of them or plain values as JSON on stdout, without colour."""
    if is_dataclass(data) and not isinstance(data, type):
        data = asdict(data)
    elif isinstance(data, list):
        data = [asdict(item) if is_dataclass(item) and not isinstance(item, type) else item for item in data]
    typer.echo(json.dumps(data, default=_json_default, ensure_ascii=False, indent=2))


def format_time(value: datetime | None) -> str:
    return value.strftime(TIME_FORMAT) if value is not None else ""


def new_table(*headers: str, title: str | None = None, caption: str | None = None) -> Table:
    table = Table(title=title, caption=caption, show_lines=False)
    for header in headers:
        table.add_column(header)
    return table


def details_table(rows: list[tuple[str, Any]], title: str | None = None) -> Table:
    """Return a two-column field/value table for a ``show`` screen."""
    table = Table(title=title, show_header=True)
    table.add_column(_("Field"), style="bold")
    table.add_column(_("Value"))
    for name, value in rows:
        table.add_row(name, str(value) if value is not None else "")
    return table


def zone_caption(settings: Settings) -> str:
    return _("Times are in {zone}.").format(zone=settings.time.zone)


# -- help translation -----------------------------------------------------------------------------


def translate_help(command: Any) -> None:
    """Translate the help texts of ``command``, its parameters and its subcommands in place.

    The English text is kept on each object, so translating twice (or into another language) starts
    from the source text again.
    """
    for item in (command, *getattr(command, "params", ())):
        source = getattr(item, "_repe_help_msgid", None) or getattr(item, "help", None)
        if source:
            item._repe_help_msgid = source
            item.help = _(source)
    for subcommand in getattr(command, "commands", {}).values():
        translate_help(subcommand)


def config_path_from_args(args: list[str]) -> Path | None:
    """Return the ``--config`` value of a raw argument list, else ``$REPE_CONFIG``, else None."""
    for index, arg in enumerate(args):
        if arg == "--config" and index + 1 < len(args):
            return Path(args[index + 1])
        if arg.startswith("--config="):
            return Path(arg.split("=", 1)[1])
    env = os.environ.get(CONFIG_ENV)
    return Path(env) if env else None


# -- error reporting ------------------------------------------------------------------------------


class ReportingGroup(TyperGroup):
    """Root command group that turns expected errors into a message and an exit code, not a traceback."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except (UsageError, ConfigError, DatabaseError) as error:
            report_error(str(error))
            raise typer.Exit(EXIT_USAGE) from None
        except sa_exc.OperationalError as error:
            report_error(
                _(
                    "database operation failed: {error}; "
                    "if the bot holds the database lock, run the command again"
                ).format(error=error.orig if error.orig is not None else error)
            )
            raise typer.Exit(EXIT_CHECK_FAILED) from None
        except sa_exc.DatabaseError as error:
            report_error(
                _("database operation failed: {error}").format(
                    error=error.orig if error.orig is not None else error
                )
            )
            raise typer.Exit(EXIT_CHECK_FAILED) from None
