"""Entry point of the `repe` command line: global --config, `init`, `bot run`, `simulate` and the groups."""

import sys
from pathlib import Path
from typing import Annotated

import typer

from cli.activity import activity_app
from cli.checkin import checkin_app
from cli.common import (
    N_,
    ReportingGroup,
    config_path_from_args,
    get_settings,
    print_message,
    print_success,
    state,
    translate_help,
)
from cli.config_template import EXAMPLE_CONFIG
from cli.directory import contact_app, room_app
from cli.outbox import outbox_app
from cli.points import points_app
from cli.task import task_app
from repe_bot.activities import UsageError
from repe_bot.admin import init_database
from repe_bot.config import CONFIG_ENV, DEFAULT_CONFIG_PATH, ConfigError, load_settings
from repe_bot.i18n import _, set_language

app = typer.Typer(
    cls=ReportingGroup,
    help=N_("repe-bot: WeChat group activities, points and scheduled messages."),
    no_args_is_help=True,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
bot_app = typer.Typer(help=N_("Run the bot."), no_args_is_help=True)

app.add_typer(activity_app, name="activity")
app.add_typer(task_app, name="task")
app.add_typer(contact_app, name="contact")
app.add_typer(room_app, name="room")
app.add_typer(points_app, name="points")
app.add_typer(bot_app, name="bot")
app.add_typer(checkin_app, name="checkin")
app.add_typer(outbox_app, name="outbox")


@app.callback()
def root(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            envvar=CONFIG_ENV,
            dir_okay=False,
            help=N_("Config file; by default $REPE_CONFIG, else ./repe.toml."),
        ),
    ] = None,
) -> None:
    cli_state = state(ctx)
    cli_state.config_path = config
    cli_state.apply_language()
    translate_help(ctx.command)


@app.command(
    "init", help=N_("Write a default config file unless it exists, then create or migrate the database.")
)
def init(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config", dir_okay=False, help=N_("Config file to write; by default the global --config.")
        ),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help=N_("Overwrite an existing config file."))] = False,
) -> None:
    path = config or state(ctx).config_path or DEFAULT_CONFIG_PATH
    if path.exists() and not force:
        print_message(_("Config {path} exists; kept it (use --force to overwrite).").format(path=path))
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(EXAMPLE_CONFIG, encoding="utf-8")
        print_success(_("Wrote config {path}.").format(path=path))

    settings = load_settings(path)
    set_language(settings.language)
    before, after = init_database(settings)
    url = settings.database_url()
    if before == after:
        print_message(
            _("Database {url} is up to date (revision {revision}).").format(url=url, revision=after)
        )
    elif before is None:
        print_success(_("Created database {url} (revision {revision}).").format(url=url, revision=after))
    else:
        print_success(
            _("Migrated database {url} from revision {before} to {after}.").format(
                url=url, before=before, after=after
            )
        )


@bot_app.command("run", help=N_("Connect to WeChat and run the bot until it is stopped."))
def bot_run(ctx: typer.Context) -> None:
    from repe_bot.adapter.runtime import run_bot

    raise typer.Exit(run_bot(get_settings(ctx)))


@app.command("simulate", help=N_("Chat with the bot in a local console, without WeChat."))
def simulate(
    ctx: typer.Context,
    scenario: Annotated[
        Path | None,
        typer.Option(
            "--scenario", exists=True, dir_okay=False, help=N_("Scenario file to load into the simulator.")
        ),
    ] = None,
    as_member: Annotated[str | None, typer.Option("--as", help=N_("Member wxid you type as."))] = None,
    room: Annotated[
        str | None,
        typer.Option("--room", help=N_("Room wxid or topic you type in; by default the scenario's first room.")),
    ] = None,
) -> None:
    from repe_bot.adapter.console import run_console

    raise typer.Exit(run_console(get_settings(ctx), scenario, as_member, room))


@app.command(
    "demo", help=N_("Run the bundled demo scenario on a fresh database and print the conversation and tables.")
)
def demo(
    ctx: typer.Context,
    database: Annotated[
        Path, typer.Option("--db", dir_okay=False, help=N_("SQLite file for the demo; it is recreated on each run."))
    ] = Path(".demo/repe-demo.db"),
    speed: Annotated[
        float, typer.Option("--speed", min=0, help=N_("Playback speed of the scenario; 0 plays without pauses."))
    ] = 4.0,
) -> None:
    from repe_bot.adapter.demo import demo_settings, run_scenario
    from repe_bot.adapter.runtime import prepare_database

    # The demo recreates its database, so it only ever deletes a file under a ".demo" folder.
    if database.exists() and database.resolve().parent.name != ".demo":
        raise UsageError(
            _("{path} exists and the demo would erase it; give a new file or one in a .demo folder").format(
                path=database
            )
        )
    if database.resolve().parent.name != ".demo" and not database.resolve().parent.is_dir():
        raise UsageError(_("folder {path} not found; create it or give another --db").format(path=database.parent))
    for suffix in ("", "-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    settings = demo_settings(get_settings(ctx), database, speed)
    engine = prepare_database(settings)
    raise typer.Exit(run_scenario(settings, engine=engine, exit_when_done=True))


def _apply_language_early(args: list[str]) -> None:
    """Switch to the configured language before the top-level help is printed; errors wait for the command."""
    try:
        settings = load_settings(config_path_from_args(args))
    except ConfigError:
        return
    set_language(settings.language)


def main() -> None:
    args = sys.argv[1:]
    _apply_language_early(args)
    command = typer.main.get_command(app)
    translate_help(command)
    command.main(args=args, prog_name="repe")


if __name__ == "__main__":
    main()
