"""The `rlm` command: flags and subcommands, and every error turned into one line and an exit code.

Only click loads at start; the engine, litellm, rich and pypdf load inside the commands that need
them, so `rlm --help`, `rlm trace` and `rlm config` start fast.
"""

from __future__ import annotations

import json
import signal
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
from click.shell_completion import CompletionItem

from rlm_cli import __version__
from rlm_cli.errors import EXIT_INTERRUPTED, EXIT_OK, InputError, RlmError, UsageError


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


class _Option(click.Option):
    """An option that knows its help section."""

    def __init__(self, *args: Any, section: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.section = section

    def get_help_extra(self, ctx: click.Context) -> Any:
        extra = super().get_help_extra(ctx)
        extra.pop("range", None)  # "[x>=0]" on every number is noise; a bad value still gets a clear error
        return extra


class _SectionedCommand(click.Command):
    """Help that groups options under headings, so the many flags of `rlm ask` stay readable."""

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        sections: dict[str, list[tuple[str, str]]] = {}
        for param in self.get_params(ctx):
            record = None if isinstance(param, click.Argument) else param.get_help_record(ctx)
            if record is not None:
                sections.setdefault(getattr(param, "section", "Help"), []).append(record)
        for heading, records in sections.items():
            with formatter.section(heading):
                formatter.write_dl(records)


def _opt(section: str, *decls: str, **kwargs: Any) -> Any:
    return click.option(*decls, cls=_Option, section=section, **kwargs)


def _show_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value and not ctx.resilient_parsing:
        click.echo(f"rlm {__version__}")
        ctx.exit()


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option(
    "--version", is_flag=True, expose_value=False, is_eager=True, callback=_show_version, help="Show the version."
)
def cli() -> None:
    """Answer questions about inputs far larger than a model's context window (Recursive Language Models).

    rlm loads your input into an isolated Python REPL and lets a model explore it with code.
    """


POSITIVE = click.IntRange(min=1)
COUNT = click.IntRange(min=0)
AMOUNT = click.FloatRange(min=0)


@cli.command(cls=_SectionedCommand)
@click.argument("args", nargs=-1, metavar="[PATH]... QUESTION", type=click.Path())
@_opt(MODELS, "-m", "--model", metavar="MODEL", help="Root model or alias [env: RLM_MODEL].")
@_opt(MODELS, "--sub-model", metavar="MODEL", help="Model for llm_query sub-calls [default: the model].")
@_opt(MODELS, "--api-base", metavar="URL", help="OpenAI-compatible base URL [env: RLM_API_BASE].")
@_opt(MODELS, "--sub-api-base", metavar="URL", help="Base URL for the sub-model [default: --api-base].")
@_opt(MODELS, "--api-key", metavar="KEY", help="API key [default: the provider's usual variable]. Never shown.")
@_opt(MODELS, "--temperature", type=AMOUNT, metavar="T", help="Root model temperature [default: 0].")
@_opt(BUDGETS, "--max-iterations", type=POSITIVE, metavar="N", help="Root turns per RLM [default: 20].")
@_opt(BUDGETS, "--max-subcalls", type=COUNT, metavar="N", help="llm_query calls in the whole run.")
@_opt(BUDGETS, "--max-tokens", type=COUNT, metavar="N", help="Input + output tokens over all calls.")
@_opt(BUDGETS, "--max-cost", type=AMOUNT, metavar="USD", help="Dollars over all calls.")
@_opt(BUDGETS, "--timeout", type=AMOUNT, metavar="S", help="Wall seconds for the whole run.")
@_opt(BUDGETS, "--exec-timeout", type=AMOUNT, metavar="S", help="Seconds per code block [default: 60].")
@_opt(BUDGETS, "--concurrency", type=POSITIVE, metavar="N", help="Sub-calls in flight at once [default: 8].")
@_opt(BUDGETS, "--max-depth", type=POSITIVE, metavar="N", help="2+ makes llm_query a child RLM [default: 1].")
@_opt(BUDGETS, "--output-limit", type=COUNT, metavar="N", help="REPL output chars the model sees [default: 20000].")
@_opt(INPUT, "--include", multiple=True, metavar="GLOB", help="Only load files matching GLOB (repeatable).")
@_opt(INPUT, "--exclude", multiple=True, metavar="GLOB", help="Skip files matching GLOB (repeatable).")
@_opt(INPUT, "--hidden/--no-hidden", default=None, help="Load dotfiles and dot-directories [default: no].")
@_opt(INPUT, "--gitignore/--no-gitignore", default=None, help="Respect .gitignore files [default: yes].")
@_opt(INPUT, "--max-file-size", type=COUNT, metavar="N", help="Characters per file before truncation [default: 50M].")
@_opt(INPUT, "--max-total-size", type=COUNT, metavar="N", help="Characters in all [default: 1G].")
@_opt(INPUT, "--dry-run", is_flag=True, help="Show what would be loaded, and exit.")
@_opt(OUTPUT, "--json", "as_json", is_flag=True, help="Print one JSON object (schema rlm.result/1), errors too.")
@_opt(OUTPUT, "-q", "--quiet", is_flag=True, help="Print nothing but the answer (and errors).")
@_opt(OUTPUT, "-v", "--verbose", is_flag=True, help="Show full model replies, code outputs and sub-calls.")
@_opt(OUTPUT, "--trace-file", type=click.Path(dir_okay=False, path_type=Path), help="Also write the trace here.")
@_opt(OUTPUT, "--debug", is_flag=True, expose_value=False, help="Show tracebacks for errors.")  # main() reads it
@_opt(SANDBOX, "--sandbox/--no-sandbox", default=None, help="Isolate the REPL with Landlock [default: yes].")
@_opt(SANDBOX, "--memory-limit", "memory_limit_mb", type=POSITIVE, metavar="MIB", help="REPL memory limit.")
def ask(
    args: tuple[str, ...],
    dry_run: bool,
    as_json: bool,
    quiet: bool,
    verbose: bool,
    trace_file: Path | None,
    **flags: Any,
) -> int:
    """Answer QUESTION about the given files, directories or stdin.

    \b
    Examples:
      rlm ask ./logs/ "which services failed exactly twice?"
      kubectl logs deploy/api | rlm ask - "why did it crash?"
      rlm ask -m local --json build.log "which test failed first?"
    """
    from rlm_cli import runner
    from rlm_cli.config import load_settings

    paths, question = _split_args(list(args))
    flags["include"] = list(flags["include"]) or None
    flags["exclude"] = list(flags["exclude"]) or None
    options = runner.OutputOptions(as_json=as_json, quiet=quiet, verbose=verbose, trace_file=trace_file)
    return runner.ask(paths, question, load_settings(flags), options, dry_run=dry_run)


def _split_args(args: list[str]) -> tuple[list[str], str]:
    """The last argument is the question; with no path, stdin is the input unless it is a terminal."""
    if not args:
        raise UsageError("missing QUESTION: rlm ask [PATH]... QUESTION (see 'rlm ask --help')")
    question = args[-1].strip()
    if not question:
        raise UsageError("the question is empty")
    paths = args[:-1]
    if not paths:
        if sys.stdin is None or sys.stdin.isatty():
            raise InputError("no input: give files or directories before the question, or pipe data on stdin")
        paths = ["-"]
    return paths, question


@cli.group(name="trace")
def trace_group() -> None:
    """List and replay saved run traces."""


def _complete_trace(_ctx: click.Context, _param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    from rlm_cli.trace import traces_dir

    directory = traces_dir()
    ids = sorted((p.stem for p in directory.glob("*.jsonl")), reverse=True) if directory.is_dir() else []
    return [CompletionItem(name) for name in ["last", *ids] if name.startswith(incomplete)]


TRACE_REF = {"metavar": "[ID|last]", "shell_complete": _complete_trace}


@trace_group.command("list")
@click.option("-n", "--limit", type=COUNT, default=20, show_default=True, help="How many to show.")
def trace_list(limit: int) -> None:
    """List saved traces, newest first."""
    from rlm_cli.trace import list_traces, traces_dir

    traces = list_traces()
    if not traces:
        click.echo(f"no saved traces in {traces_dir()}", err=True)
    for info in traces[:limit]:
        click.echo(f"{info.run_id}  {info.status:<16} {info.question}")


@trace_group.command("show")
@click.argument("ref", default="last", **TRACE_REF)
@click.option("-v", "--verbose", is_flag=True, help="Full replies, outputs and sub-calls.")
def trace_show(ref: str, verbose: bool) -> None:
    """Replay a saved trace (default: the last run) as the live view showed it, with its answer."""
    from rlm_cli.render import make_renderer
    from rlm_cli.trace import load_events, resolve_trace

    events = load_events(resolve_trace(ref))
    renderer = make_renderer(sys.stdout, verbose=verbose, replay=True)
    for event in events:
        renderer(event)
    renderer.close()


@trace_group.command("path")
@click.argument("ref", required=False, **TRACE_REF)
def trace_path(ref: str | None) -> None:
    """Print the folder where traces are saved, or the file of one trace."""
    from rlm_cli.trace import resolve_trace, traces_dir

    click.echo(str(resolve_trace(ref) if ref else traces_dir()))


@cli.group(name="config")
def config_group() -> None:
    """Show where settings come from."""


@config_group.command("path")
def config_path() -> None:
    """Print the user config file's path, then the project file in use, if any."""
    from rlm_cli.config import find_project_file, user_config_path

    click.echo(str(user_config_path()))
    project = find_project_file(Path.cwd())
    if project is not None:
        click.echo(str(project))


@config_group.command("show")
def config_show() -> None:
    """Print every setting with its value and where it came from; keys are never shown."""
    from rlm_cli.config import load_settings

    settings = load_settings({})
    rows = settings.shown()
    width = max(len(name) for name, _, _ in rows)
    for name, value, source in rows:
        click.echo(f"{name:<{width}}  {value or '-':<28} ({source})")
    for alias in settings.aliases.values():
        click.echo(f"alias {alias.name}: {alias.describe()}")


class RlmInterrupted(RlmError):
    """Ctrl-C before a run started (while loading the input, say): there is nothing to keep."""

    exit_code = EXIT_INTERRUPTED
    kind = "interrupted"

    def __init__(self) -> None:
        super().__init__("interrupted")


def _report(exc: RlmError) -> int:
    """One line on stderr, and the JSON object on stdout when --json was asked for."""
    from rlm_cli.runner import error_result

    if _mode.json:
        click.echo(json.dumps(error_result(exc)))
    click.echo(f"rlm: error: {exc.message}", err=True)
    return exc.exit_code


def _usage(exc: click.UsageError) -> int:
    """click's usage errors, as one line that says where the help is."""
    if isinstance(exc, click.exceptions.NoArgsIsHelpError):
        exc.show()  # a bare group (`rlm`, `rlm trace`): its help is the answer
        return exc.exit_code
    where = f"{exc.ctx.command_path} --help" if exc.ctx is not None else "rlm --help"
    return _report(UsageError(f"{exc.format_message().rstrip('.')} (see '{where}')"))


def main() -> None:
    """Entry point: every error becomes one line on stderr and its exit code; tracebacks need --debug."""
    argv = sys.argv[1:]
    flags = argv[: argv.index("--")] if "--" in argv else argv
    _mode.debug = "--debug" in flags
    _mode.json = argv[:1] == ["ask"] and "--json" in flags
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    try:
        code = cli.main(args=argv, prog_name="rlm", standalone_mode=False)
    except RlmError as exc:
        if _mode.debug:
            traceback.print_exc()
        code = _report(exc)
    except click.UsageError as exc:
        code = _usage(exc)
    except click.ClickException as exc:
        code = _report(RlmError(exc.format_message()))
    except (KeyboardInterrupt, click.Abort):
        code = _report(RlmInterrupted())
    except Exception as exc:
        if _mode.debug:
            traceback.print_exc()
        hint = "" if _mode.debug else " (run with --debug for the traceback)"
        code = _report(RlmError(f"internal error: {type(exc).__name__}: {exc}{hint}"))
    sys.stdout.flush()
    sys.exit(EXIT_OK if code is None else code)
