"""The `rlm` command: parses flags, wires corpus → engine → renderers, and owns exit codes and messages.

Heavy modules (the engine, litellm, pypdf) are imported inside the commands that need them, so
`rlm --help`, `rlm trace` and `rlm config` start fast.
"""

from __future__ import annotations

import json
import signal
import sys
import traceback
from pathlib import Path
from typing import Annotated, Any

import typer

from rlm_cli import __version__
from rlm_cli.errors import EXIT_INTERRUPTED, EXIT_OK, InputError, RlmError, UsageError

app = typer.Typer(
    name="rlm",
    help="Answer questions about inputs far larger than a model's context window (Recursive Language Models).",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
trace_app = typer.Typer(help="List and replay saved run traces.", no_args_is_help=True)
config_app = typer.Typer(help="Show where settings come from.", no_args_is_help=True)
app.add_typer(trace_app, name="trace")
app.add_typer(config_app, name="config")

_debug = False


def _version(value: bool) -> None:
    if value:
        print(f"rlm {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    """rlm loads your input into an isolated Python REPL and lets a model explore it with code."""


Opt = typer.Option
SANDBOX = "Sandbox"
BUDGETS = "Budgets"
MODELS = "Models"
INPUT = "Input"
OUTPUT = "Output"


@app.command(no_args_is_help=True)
def ask(
    args: Annotated[
        list[str],
        typer.Argument(
            help="Inputs (files, directories, - for stdin), then the question.", metavar="[PATH]... QUESTION"
        ),
    ],
    model: Annotated[
        str | None, Opt("-m", "--model", help="Root model or alias [env: RLM_MODEL].", rich_help_panel=MODELS)
    ] = None,
    sub_model: Annotated[
        str | None, Opt(help="Sub-call model [env: RLM_SUB_MODEL; default: the model].", rich_help_panel=MODELS)
    ] = None,
    api_base: Annotated[
        str | None, Opt(help="OpenAI-compatible base URL [env: RLM_API_BASE].", rich_help_panel=MODELS)
    ] = None,
    sub_api_base: Annotated[
        str | None, Opt(help="Base URL for the sub-model [default: --api-base].", rich_help_panel=MODELS)
    ] = None,
    api_key: Annotated[
        str | None, Opt(help="API key [default: the provider's usual variable].", rich_help_panel=MODELS)
    ] = None,
    temperature: Annotated[
        float | None, Opt(help="Root model temperature [default: 0].", rich_help_panel=MODELS)
    ] = None,
    max_depth: Annotated[
        int | None, Opt(help="Recursion depth; 2+ makes llm_query a child RLM [default: 1].", rich_help_panel=BUDGETS)
    ] = None,
    max_iterations: Annotated[
        int | None, Opt(help="Root turns per RLM [default: 20].", rich_help_panel=BUDGETS)
    ] = None,
    max_subcalls: Annotated[int | None, Opt(help="Sub-calls in the whole run.", rich_help_panel=BUDGETS)] = None,
    max_tokens: Annotated[int | None, Opt(help="Input+output tokens over all calls.", rich_help_panel=BUDGETS)] = None,
    max_cost: Annotated[float | None, Opt(help="USD over all calls.", rich_help_panel=BUDGETS)] = None,
    timeout: Annotated[float | None, Opt(help="Wall seconds for the whole run.", rich_help_panel=BUDGETS)] = None,
    exec_timeout: Annotated[
        float | None, Opt(help="Seconds per code block [default: 60].", rich_help_panel=BUDGETS)
    ] = None,
    concurrency: Annotated[int | None, Opt(help="Parallel sub-calls [default: 8].", rich_help_panel=BUDGETS)] = None,
    output_limit: Annotated[
        int | None, Opt(help="REPL output characters shown to the model [default: 20000].", rich_help_panel=BUDGETS)
    ] = None,
    no_sandbox: Annotated[
        bool, Opt("--no-sandbox", help="Run the REPL without Landlock isolation.", rich_help_panel=SANDBOX)
    ] = False,
    memory_limit_mb: Annotated[
        int | None, Opt("--memory-limit", help="REPL memory limit in MiB.", rich_help_panel=SANDBOX)
    ] = None,
    include: Annotated[
        list[str] | None, Opt(help="Only load files matching this glob (repeatable).", rich_help_panel=INPUT)
    ] = None,
    exclude: Annotated[
        list[str] | None, Opt(help="Skip files matching this glob (repeatable).", rich_help_panel=INPUT)
    ] = None,
    hidden: Annotated[bool, Opt("--hidden", help="Load dotfiles and dot-directories.", rich_help_panel=INPUT)] = False,
    no_gitignore: Annotated[
        bool, Opt("--no-gitignore", help="Do not apply .gitignore files.", rich_help_panel=INPUT)
    ] = False,
    max_file_size: Annotated[
        int | None, Opt(help="Characters per file before truncation [default: 50M].", rich_help_panel=INPUT)
    ] = None,
    max_total_size: Annotated[int | None, Opt(help="Characters in all [default: 1G].", rich_help_panel=INPUT)] = None,
    dry_run: Annotated[
        bool, Opt("--dry-run", help="Show what would be loaded and exit.", rich_help_panel=INPUT)
    ] = False,
    as_json: Annotated[
        bool, Opt("--json", help="Print one JSON object (schema rlm.result/1).", rich_help_panel=OUTPUT)
    ] = False,
    quiet: Annotated[bool, Opt("-q", "--quiet", help="Print nothing but the answer.", rich_help_panel=OUTPUT)] = False,
    verbose: Annotated[
        bool, Opt("-v", "--verbose", help="Show full model replies and outputs.", rich_help_panel=OUTPUT)
    ] = False,
    trace_file: Annotated[Path | None, Opt(help="Also write the trace (JSONL) here.", rich_help_panel=OUTPUT)] = None,
    debug: Annotated[bool, Opt("--debug", help="Show tracebacks for errors.", rich_help_panel=OUTPUT)] = False,
) -> None:
    """Answer QUESTION about the given files, directories or stdin.

    Examples:  rlm ask ./logs/ "which services failed twice?"
               kubectl logs pod | rlm ask - "why did it crash?"
    """
    global _debug
    _debug = _debug or debug
    from rlm_cli import runner
    from rlm_cli.config import load_settings

    paths, question = _split_args(args)
    flags: dict[str, Any] = {
        "model": model,
        "sub_model": sub_model,
        "api_base": api_base,
        "sub_api_base": sub_api_base,
        "api_key": api_key,
        "temperature": temperature,
        "max_depth": max_depth,
        "max_iterations": max_iterations,
        "max_subcalls": max_subcalls,
        "max_tokens": max_tokens,
        "max_cost": max_cost,
        "timeout": timeout,
        "exec_timeout": exec_timeout,
        "concurrency": concurrency,
        "output_limit": output_limit,
        "sandbox": False if no_sandbox else None,
        "memory_limit_mb": memory_limit_mb,
        "include": include,
        "exclude": exclude,
        "hidden": True if hidden else None,
        "gitignore": False if no_gitignore else None,
        "max_file_size": max_file_size,
        "max_total_size": max_total_size,
    }
    options = runner.OutputOptions(as_json=as_json, quiet=quiet, verbose=verbose, trace_file=trace_file)
    runner.json_mode = as_json
    settings = load_settings(flags)
    code = runner.ask(paths, question, settings, options, dry_run=dry_run)
    raise typer.Exit(code)


def _split_args(args: list[str]) -> tuple[list[str], str]:
    if not args:
        raise UsageError("missing QUESTION")
    question = args[-1].strip()
    if not question:
        raise UsageError("the question is empty")
    paths = args[:-1]
    if not paths:
        if sys.stdin is None or sys.stdin.isatty():
            raise InputError("no input: give files or directories before the question, or pipe data on stdin")
        paths = ["-"]
    return paths, question


@trace_app.command("list")
def trace_list(limit: Annotated[int, Opt("-n", "--limit", help="How many to show.")] = 20) -> None:
    """List saved traces, newest first."""
    from rlm_cli.trace import list_traces

    for info in list_traces()[:limit]:
        print(f"{info.run_id}  {info.status:<16} {info.question}")


@trace_app.command("show")
def trace_show(
    ref: Annotated[str, typer.Argument(help="A run id, a unique prefix of one, or 'last'.")] = "last",
    verbose: Annotated[bool, Opt("-v", "--verbose", help="Full replies and outputs.")] = False,
) -> None:
    """Replay a saved trace as the live view showed it."""
    from rlm_cli.render import make_renderer
    from rlm_cli.trace import load_events, resolve_trace

    renderer = make_renderer(sys.stdout, verbose=verbose)
    for event in load_events(resolve_trace(ref)):
        renderer(event)
    renderer.close()


@trace_app.command("path")
def trace_path(ref: Annotated[str | None, typer.Argument(help="A run id or 'last'; none: the folder.")] = None) -> None:
    """Print where traces are saved (or the file of one trace)."""
    from rlm_cli.trace import resolve_trace, traces_dir

    print(resolve_trace(ref) if ref else traces_dir())


@config_app.command("path")
def config_path() -> None:
    """Print the user config file's path (and the project file in use, if any)."""
    from rlm_cli.config import find_project_file, user_config_path

    print(user_config_path())
    project = find_project_file(Path.cwd())
    if project is not None:
        print(project)


@config_app.command("show")
def config_show() -> None:
    """Print every setting with its value and where it came from."""
    from rlm_cli.config import load_settings

    settings = load_settings({})
    width = max(len(name) for name, _, _ in settings.shown())
    for name, value, source in settings.shown():
        print(f"{name:<{width}}  {value or '-':<28} ({source})")
    for alias in settings.aliases.values():
        print(f"alias {alias.name}: {alias.model}" + (f" @ {alias.api_base}" if alias.api_base else ""))


def _fail(exc: RlmError) -> int:
    from rlm_cli import runner

    if runner.json_mode:
        print(json.dumps(runner.error_result(exc)))
    print(f"rlm: error: {exc.message}", file=sys.stderr)
    return exc.exit_code


def main() -> None:
    """Entry point: every RlmError becomes one line on stderr and its exit code; tracebacks need --debug."""
    global _debug
    _debug = "--debug" in sys.argv[1:]
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    try:
        code = app(standalone_mode=False)
    except RlmError as exc:
        if _debug:
            traceback.print_exc()
        code = _fail(exc)
    except typer.Exit as exc:
        code = exc.exit_code
    except KeyboardInterrupt:
        print("rlm: interrupted", file=sys.stderr)
        code = EXIT_INTERRUPTED
    except Exception as exc:  # click's usage errors and anything unexpected
        code = _unexpected(exc)
    sys.stdout.flush()
    sys.exit(EXIT_OK if code is None else code)


def _unexpected(exc: Exception) -> int:
    import click

    if isinstance(exc, click.exceptions.ClickException):
        exc.show()
        return exc.exit_code
    if isinstance(exc, click.exceptions.Abort):
        print("rlm: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    if _debug:
        traceback.print_exc()
    hint = "" if _debug else " (run with --debug for the traceback)"
    print(f"rlm: internal error: {type(exc).__name__}: {exc}{hint}", file=sys.stderr)
    return 1
