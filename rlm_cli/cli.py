"""The `rlm` command: flags and subcommands, and every error turned into one line and an exit code.

Only typer loads at start; the engine, litellm, rich and pypdf load inside the commands that need
them, so `rlm --help`, `rlm trace` and `rlm config` start fast.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import traceback
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer
from typer._click import exceptions as click_errors  # typer vendors click and raises these
from typer.core import TyperCommand, TyperGroup

from rlm_cli import __version__
from rlm_cli.cliparse import LightParams
from rlm_cli.config import SETTINGS
from rlm_cli.errors import EXIT_INTERRUPTED, EXIT_OK, InputError, RlmError, UsageError
from rlm_cli.local.commands import app as local_app  # typer only: each command imports its own needs


@dataclass
class _Mode:
    """How errors are reported; read from argv before parsing, so a bad flag is reported the same way."""

    debug: bool = False
    json: bool = False


_mode = _Mode()

MODELS = "Models"
BUDGETS = "Budgets"
INPUT = "Input"
OUTPUT = "Output"
SANDBOX = "Sandbox"


class RlmInterrupted(RlmError):
    """Ctrl-C before a run started (while loading the input, say): there is nothing to keep."""

    exit_code = EXIT_INTERRUPTED
    kind = "interrupted"

    def __init__(self) -> None:
        super().__init__("interrupted")


class _Group(LightParams, TyperGroup):
    """Turns Ctrl-C in any command into an RlmError, which typer would otherwise swallow as a silent exit 130."""

    def invoke(self, ctx: typer.Context) -> Any:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            raise RlmInterrupted() from None


class _SectionedCommand(LightParams, TyperCommand):
    """Plain help (no rich to load) with options grouped under their `rich_help_panel` headings."""

    def collect_usage_pieces(self, ctx: typer.Context) -> list[str]:
        """Arguments appear in the usage line exactly as their metavar says, e.g. `[PATH]... QUESTION`."""
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            is_named_argument = param.param_type_name == "argument" and param.metavar
            pieces.extend([param.metavar] if is_named_argument else param.get_usage_pieces(ctx))
        return pieces

    def format_options(self, ctx: typer.Context, formatter: Any) -> None:
        """Arguments are described in the docstring; options go under their section, the rest under Options."""
        sections: dict[str, list[tuple[str, str]]] = {}
        for param in self.get_params(ctx):
            record = None if param.param_type_name == "argument" else param.get_help_record(ctx)
            if record is not None:
                sections.setdefault(getattr(param, "rich_help_panel", None) or "Options", []).append(record)
        for heading, records in sections.items():
            with formatter.section(heading):
                formatter.write_dl(records)


app = typer.Typer(
    name="rlm",
    cls=_Group,
    no_args_is_help=True,
    rich_markup_mode=None,  # plain help: rich would cost start-up time on every --help
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
trace_app = typer.Typer(cls=_Group, rich_markup_mode=None)
config_app = typer.Typer(cls=_Group, rich_markup_mode=None)
app.add_typer(trace_app, name="trace", help="List (the default) and replay saved run traces.")
app.add_typer(config_app, name="config", help="Show the settings in effect and where each came from.")
app.add_typer(local_app, name="local", help="A local model on this machine: setup, start, stop, status.")


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"rlm {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    _version: Annotated[
        bool,
        typer.Option(
            "-V", "--version", callback=_show_version, is_eager=True, expose_value=False, help="Show the version."
        ),
    ] = False,
) -> None:
    """Answer questions about inputs far larger than a model's context window (Recursive Language Models).

    rlm loads your input into an isolated Python REPL and lets a model explore it with code.

    \b
    Examples:
      rlm ask ./logs/ "which services failed exactly twice?"
      rlm help ask
      rlm config
    """


Opt = typer.Option
_Guidance = Enum("_Guidance", {level: level for level in SETTINGS["guidance"].choices}, type=str)


def _checked(name: str, metavar: str, help: str, panel: str, *flags: str) -> Any:
    """An option read by its setting's own parser, so a flag, RLM_* and a config file accept the same
    values (sizes like 50M, durations like 2m) and reject the same ones with the same message."""
    value = SETTINGS[name].value
    assert value is not None, name

    def parse(text: str) -> int | float:
        try:
            return value.parse(text)
        except ValueError as exc:
            raise click_errors.BadParameter(str(exc)) from None  # typer adds "Invalid value for '--flag'"

    return Opt(*flags, parser=parse, metavar=metavar, help=help.format(range=value.describe()), rich_help_panel=panel)


@app.command(cls=_SectionedCommand)
def ask(
    ctx: typer.Context,
    args: Annotated[list[str] | None, typer.Argument(metavar="[PATH]... QUESTION", show_default=False)] = None,
    model: Annotated[
        str | None,
        Opt("-m", "--model", metavar="MODEL", help="Root model or alias [env: RLM_MODEL].", rich_help_panel=MODELS),
    ] = None,
    sub_model: Annotated[
        str | None,
        Opt(metavar="MODEL", help="Model for llm_query sub-calls [default: the model].", rich_help_panel=MODELS),
    ] = None,
    api_base: Annotated[
        str | None, Opt(metavar="URL", help="OpenAI-compatible base URL [env: RLM_API_BASE].", rich_help_panel=MODELS)
    ] = None,
    sub_api_base: Annotated[
        str | None, Opt(metavar="URL", help="Base URL for the sub-model [default: --api-base].", rich_help_panel=MODELS)
    ] = None,
    api_key: Annotated[
        str | None,
        Opt(
            metavar="KEY", help="API key [default: the provider's usual variable]. Never shown.", rich_help_panel=MODELS
        ),
    ] = None,
    temperature: Annotated[
        float | None, _checked("temperature", "T", "Root model temperature, {range} [default: 0].", MODELS)
    ] = None,
    max_iterations: Annotated[
        int | None, _checked("max_iterations", "N", "Root turns per RLM, {range} [default: 20].", BUDGETS)
    ] = None,
    max_subcalls: Annotated[
        int | None,
        _checked(
            "max_subcalls", "N", "llm_query calls in all; 0: the first ends the run [default: no limit].", BUDGETS
        ),
    ] = None,
    max_tokens: Annotated[
        int | None, _checked("max_tokens", "N", "Tokens in and out in all, e.g. 2M [default: no limit].", BUDGETS)
    ] = None,
    max_cost: Annotated[
        float | None, _checked("max_cost", "USD", "Dollars over all calls, {range} [default: no limit].", BUDGETS)
    ] = None,
    timeout: Annotated[
        float | None, _checked("timeout", "TIME", "Wall time for the run, e.g. 90 or 5m [default: no limit].", BUDGETS)
    ] = None,
    exec_timeout: Annotated[
        float | None, _checked("exec_timeout", "TIME", "Time per code block, e.g. 90s [default: 60s].", BUDGETS)
    ] = None,
    concurrency: Annotated[
        int | None, _checked("concurrency", "N", "Sub-calls in flight at once, {range} [default: 8].", BUDGETS)
    ] = None,
    max_depth: Annotated[
        int | None, _checked("max_depth", "N", "2+ makes llm_query a child RLM [default: 1].", BUDGETS)
    ] = None,
    output_limit: Annotated[
        int | None,
        _checked(
            "output_limit", "SIZE", "REPL output chars the model sees [default: 5K; 20K with --guidance off].", BUDGETS
        ),
    ] = None,
    include: Annotated[
        list[str] | None,
        Opt(metavar="GLOB", help="Only load files matching GLOB (repeatable).", rich_help_panel=INPUT),
    ] = None,
    exclude: Annotated[
        list[str] | None, Opt(metavar="GLOB", help="Skip files matching GLOB (repeatable).", rich_help_panel=INPUT)
    ] = None,
    hidden: Annotated[
        bool | None,
        Opt("--hidden/--no-hidden", help="Load dotfiles and dot-directories [default: no].", rich_help_panel=INPUT),
    ] = None,
    gitignore: Annotated[
        bool | None,
        Opt("--gitignore/--no-gitignore", help="Respect .gitignore files [default: yes].", rich_help_panel=INPUT),
    ] = None,
    max_file_size: Annotated[
        int | None, _checked("max_file_size", "SIZE", "Characters per file before truncation [default: 50M].", INPUT)
    ] = None,
    max_total_size: Annotated[
        int | None, _checked("max_total_size", "SIZE", "Characters in all [default: 1G].", INPUT)
    ] = None,
    follow_symlinks: Annotated[
        bool | None,
        Opt(
            "--follow-symlinks",
            help="Load symlinks that lead outside the given paths [default: skip them].",
            rich_help_panel=INPUT,
        ),
    ] = None,
    dry_run: Annotated[
        bool, Opt("--dry-run", help="Show what would be loaded, and exit.", show_default=False, rich_help_panel=INPUT)
    ] = False,
    as_json: Annotated[
        bool,
        Opt(
            "--json",
            help="Print one JSON object (schema rlm.result/1), errors too.",
            show_default=False,
            rich_help_panel=OUTPUT,
        ),
    ] = False,
    quiet: Annotated[
        bool,
        Opt(
            "-q",
            "--quiet",
            help="Print nothing but the answer (and errors).",
            show_default=False,
            rich_help_panel=OUTPUT,
        ),
    ] = False,
    verbose: Annotated[
        bool,
        Opt(
            "-v",
            "--verbose",
            help="Show full model replies, code outputs and sub-calls.",
            show_default=False,
            rich_help_panel=OUTPUT,
        ),
    ] = False,
    trace_file: Annotated[
        Path | None, Opt(dir_okay=False, metavar="FILE", help="Also write the trace here.", rich_help_panel=OUTPUT)
    ] = None,
    _debug: Annotated[
        bool | None,
        Opt("--debug", expose_value=False, help="Show tracebacks for errors.", rich_help_panel=OUTPUT),
    ] = None,  # main() reads it from argv, so errors while parsing get tracebacks too
    sandbox: Annotated[
        bool | None,
        Opt("--sandbox/--no-sandbox", help="Isolate the REPL with Landlock [default: yes].", rich_help_panel=SANDBOX),
    ] = None,
    memory_limit_mb: Annotated[
        int | None,
        _checked("memory_limit_mb", "SIZE", "REPL memory in MiB, or a size like 4G.", SANDBOX, "--memory-limit"),
    ] = None,
    guidance: Annotated[
        _Guidance | None,
        Opt(
            case_sensitive=False,
            help="Help for weak models: data description, checks, doubts; off runs the plain method [default: small].",
            rich_help_panel=MODELS,
        ),
    ] = None,
    trust_project_config: Annotated[
        bool,
        Opt(
            "--trust-project-config",
            help=(
                "Let a project .rlm.toml set sandbox, api_base, key variables and trace retention "
                "[env: RLM_TRUST_PROJECT_CONFIG]."
            ),
            show_default=False,
            rich_help_panel=SANDBOX,
        ),
    ] = False,
) -> int:
    """Answer QUESTION about the given files, directories or stdin.

    \b
    Examples:
      rlm ask ./logs/ "which services failed exactly twice?"
      kubectl logs deploy/api | rlm ask - "why did it crash?"
      rlm ask -m openai/gpt-4o-mini --json build.log "which test failed first?"
    """
    from rlm_cli import runner
    from rlm_cli.config import load_settings

    paths, question = _split_args(args or [], f"usage: {_usage_line(ctx)}")
    flags = {
        "model": model,
        "sub_model": sub_model,
        "api_base": api_base,
        "sub_api_base": sub_api_base,
        "api_key": api_key,
        "temperature": temperature,
        "max_iterations": max_iterations,
        "max_subcalls": max_subcalls,
        "max_tokens": max_tokens,
        "max_cost": max_cost,
        "timeout": timeout,
        "exec_timeout": exec_timeout,
        "concurrency": concurrency,
        "max_depth": max_depth,
        "output_limit": output_limit,
        "include": include or None,
        "exclude": exclude or None,
        "hidden": hidden,
        "gitignore": gitignore,
        "max_file_size": max_file_size,
        "max_total_size": max_total_size,
        "follow_symlinks": follow_symlinks,
        "sandbox": sandbox,
        "memory_limit_mb": memory_limit_mb,
        "guidance": guidance.value if guidance else None,
    }
    options = runner.OutputOptions(as_json=as_json, quiet=quiet, verbose=verbose, trace_file=trace_file)
    settings = load_settings(flags, trust_project=trust_project_config)
    _warn(settings.warnings)
    return runner.ask(paths, question, settings, options, dry_run=dry_run)


def _usage_line(ctx: typer.Context) -> str:
    """`rlm ask [OPTIONS] [PATH]... QUESTION`, from the command itself."""
    return " ".join([ctx.command_path, *ctx.command.collect_usage_pieces(ctx)])


def _is_input(arg: str) -> bool:
    return arg == "-" or os.path.lexists(arg)


def _split_args(args: list[str], usage: str) -> tuple[list[str], str]:
    """The last argument is the question; with no path, stdin is the input unless it is a terminal.

    A question written first still works when the last argument is an input and the first is not.
    """
    if not args:
        raise UsageError(f"missing QUESTION; {usage}")
    if len(args) == 1 and args[0] != "-" and _is_input(args[0]):
        raise UsageError(f"missing QUESTION after {args[0]}; {usage}")
    if len(args) > 1 and _is_input(args[-1]) and not _is_input(args[0]):
        typer.echo(f"rlm: note: took {args[0]!r} as the question (it goes last; {usage})", err=True)
        args = [*args[1:], args[0]]
    question = args[-1].strip()
    if not question:
        raise UsageError("the question is empty")
    paths = args[:-1]
    if paths and not _is_input(paths[0]):
        raise InputError(f"no such file or directory: {paths[0]} (if that is the question, it goes last; {usage})")
    if not paths:
        if sys.stdin is None or sys.stdin.isatty():
            raise InputError("no input: give files or directories before the question, or pipe data on stdin")
        paths = ["-"]
    return paths, question


def _complete_trace(incomplete: str) -> list[str]:
    """Run ids, newest first, after 'last', so Tab finds a trace without listing the folder."""
    from rlm_cli.trace import traces_dir

    directory = traces_dir()
    ids = sorted((p.stem for p in directory.glob("*.jsonl")), reverse=True) if directory.is_dir() else []
    return [name for name in ["last", *ids] if name.startswith(incomplete)]


@trace_app.callback(invoke_without_command=True)
def _trace_root(ctx: typer.Context) -> None:
    """`rlm trace` alone lists recent traces."""
    if ctx.invoked_subcommand is None:
        trace_list()


@trace_app.command("list", cls=_SectionedCommand)
def trace_list(limit: Annotated[int, Opt("-n", "--limit", min=0, metavar="N", help="How many to show.")] = 20) -> None:
    """List saved traces, newest first."""
    from rlm_cli.trace import list_traces, traces_dir

    traces = list_traces()
    if not traces:
        typer.echo(f"no saved traces in {traces_dir()}", err=True)
    for info in traces[:limit]:
        typer.echo(f"{info.run_id}  {info.status:<16} {info.question}")


@trace_app.command("show", cls=_SectionedCommand)
def trace_show(
    ref: Annotated[
        str, typer.Argument(metavar="[ID|last]", autocompletion=_complete_trace, show_default=False)
    ] = "last",
    verbose: Annotated[bool, Opt("-v", "--verbose", help="Full replies, outputs and sub-calls.")] = False,
) -> None:
    """Replay a saved trace (default: the last run) as the live view showed it, with its answer."""
    from rlm_cli.render import make_renderer
    from rlm_cli.trace import load_events, resolve_trace

    events = load_events(resolve_trace(ref))
    renderer = make_renderer(sys.stdout, verbose=verbose, replay=True)
    for event in events:
        renderer(event)
    renderer.close()


@trace_app.command("path", cls=_SectionedCommand)
def trace_path(
    ref: Annotated[str | None, typer.Argument(metavar="[ID|last]", autocompletion=_complete_trace)] = None,
) -> None:
    """Print the folder where traces are saved, or the file of one trace."""
    from rlm_cli.trace import resolve_trace, traces_dir

    typer.echo(str(resolve_trace(ref) if ref else traces_dir()))


@config_app.callback(invoke_without_command=True)
def _config_root(ctx: typer.Context) -> None:
    """`rlm config` alone shows the settings, as `rlm config show` does."""
    if ctx.invoked_subcommand is None:
        config_show()


@config_app.command("path", cls=_SectionedCommand)
def config_path() -> None:
    """Print the user config file's path, then the project file in use, if any."""
    from rlm_cli.config import find_project_file, user_config_path

    typer.echo(str(user_config_path()))
    project = find_project_file(Path.cwd())
    if project is not None:
        typer.echo(str(project))


@config_app.command("show", cls=_SectionedCommand)
def config_show() -> None:
    """Print every setting with its value and where it came from; keys are never shown."""
    from rlm_cli.config import load_settings

    settings = load_settings({})
    _warn(settings.warnings)
    rows = settings.shown()
    width = max(len(name) for name, _, _ in rows)
    for name, value, source in rows:
        typer.echo(f"{name:<{width}}  {value or '-':<28} ({source})")
    for alias in settings.aliases.values():
        typer.echo(f"alias {alias.name}: {alias.describe()}")


@app.command("help", cls=_SectionedCommand)
def help_(
    ctx: typer.Context,
    command: Annotated[list[str] | None, typer.Argument(metavar="[COMMAND]...", show_default=False)] = None,
) -> None:
    """Show the help of rlm or of a command.

    \b
    Examples:
      rlm help ask
      rlm help trace show
    """
    assert ctx.parent is not None  # help is always a subcommand of rlm
    target = ctx.parent
    for name in command or []:
        sub = getattr(target.command, "commands", {}).get(name)
        if sub is None:
            raise UsageError(f"no command {' '.join([target.command_path, name])!r} (see 'rlm help')")
        target = typer.Context(sub, info_name=name, parent=target)
    typer.echo(target.get_help())


def _warn(warnings: list[str]) -> None:
    from rlm_cli.sanitize import for_terminal

    for warning in warnings:
        typer.echo(f"rlm: warning: {for_terminal(warning)}", err=True)


def _report(exc: RlmError) -> int:
    """One line on stderr, and the JSON object on stdout when --json was asked for."""
    from rlm_cli.runner import error_result
    from rlm_cli.sanitize import for_terminal

    if _mode.json:
        typer.echo(json.dumps(error_result(exc)))
    typer.echo(f"rlm: error: {for_terminal(exc.message)}", err=True)
    return exc.exit_code


def _usage(exc: click_errors.UsageError) -> int:
    """Typer's usage errors, as one line that says where the help is."""
    if isinstance(exc, click_errors.NoArgsIsHelpError):
        exc.show()  # a bare group (`rlm`, `rlm trace`): its help is the answer
        return exc.exit_code
    where = f"{exc.ctx.command_path if exc.ctx is not None else _command_path(sys.argv[1:])} --help"
    return _report(UsageError(f"{exc.format_message().rstrip('.')} (see '{where}')"))


def _command_path(argv: list[str]) -> str:
    """`rlm ask` for `rlm ask -m`: the command a usage error belongs to when click does not say."""
    command: Any = typer.main.get_command(app)
    path = ["rlm"]
    for word in argv:
        commands = getattr(command, "commands", None)
        if commands is None:
            break
        if word in commands:
            command = commands[word]
            path.append(word)
    return " ".join(path)


def main() -> None:
    """Entry point: every error becomes one line on stderr and its exit code; tracebacks need --debug."""
    argv = sys.argv[1:]
    flags = argv[: argv.index("--")] if "--" in argv else argv
    _mode.debug = "--debug" in flags
    _mode.json = argv[:1] == ["ask"] and "--json" in flags
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    try:
        code = typer.main.get_command(app).main(args=argv, prog_name="rlm", standalone_mode=False)
    except RlmError as exc:
        if _mode.debug:
            traceback.print_exc()
        code = _report(exc)
    except click_errors.UsageError as exc:
        code = _usage(exc)
    except click_errors.ClickException as exc:
        code = _report(RlmError(exc.format_message()))
    except (KeyboardInterrupt, typer.Abort):
        code = _report(RlmInterrupted())
    except Exception as exc:
        if _mode.debug:
            traceback.print_exc()
        hint = "" if _mode.debug else " (run with --debug for the traceback)"
        code = _report(RlmError(f"internal error: {type(exc).__name__}: {exc}{hint}"))
    sys.stdout.flush()
    sys.exit(EXIT_OK if code is None else code)
