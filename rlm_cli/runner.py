"""One `rlm ask`: load the corpus, run the engine with a renderer and a trace, and report the result."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rlm_cli import redaction
from rlm_cli.config import ResolvedModel, Settings, resolve_model
from rlm_cli.engine import events as ev
from rlm_cli.errors import (
    EXIT_BUDGET,
    EXIT_INTERRUPTED,
    EXIT_OK,
    BudgetExhausted,
    ConfigError,
    InputError,
    RlmError,
)
from rlm_cli.sanitize import encodable, for_terminal

SCHEMA = "rlm.result/1"

# A provider key found in the environment, and a model that uses it, for the first-run help.
_KEY_EXAMPLES = (
    ("OPENAI_API_KEY", "openai/gpt-4o-mini"),
    ("ANTHROPIC_API_KEY", "anthropic/claude-sonnet-4-5"),
    ("GEMINI_API_KEY", "gemini/gemini-2.5-flash"),
)


def setup_help(local_missing: bool = False) -> str:
    """What to do when no model is configured: the local model, a cloud key or another local server."""
    from rlm_cli.config import user_config_path
    from rlm_cli.local import DEFAULT_MODEL, SETUP_COMMAND

    found = [(var, model) for var, model in _KEY_EXAMPLES if os.environ.get(var)]
    if local_missing:
        lines = [
            f"no model configured and the local model is not set up: run '{SETUP_COMMAND}' "
            f"(downloads {DEFAULT_MODEL.size_text} once), or choose a model:"
        ]
    else:
        lines = [
            "no model configured. Choose one:",
            f'  the local model: {SETUP_COMMAND}, then  rlm ask -m local FILE "question"   (no key needed)',
        ]
    if found:
        var, model = found[0]
        lines.insert(1, f'  {var} is set, so you can run:  rlm ask -m {model} FILE "question"')
    lines += [
        "  a cloud model:   export OPENAI_API_KEY=sk-...   (or ANTHROPIC_API_KEY, GEMINI_API_KEY, ...)",
        '                   rlm ask -m openai/gpt-4o-mini FILE "question"',
        "  a local server:  llama.cpp, Ollama, vLLM... (rlm local status lists those it finds), then",
        '                   rlm ask -m openai/MODEL --api-base http://127.0.0.1:8080/v1 FILE "question"',
        "  to skip -m next time: export RLM_MODEL=openai/gpt-4o-mini, or add the line",
        f'                   model = "openai/gpt-4o-mini"   to {user_config_path()}',
    ]
    return "\n".join(lines)


def _default_model() -> str:
    """No model configured: the local model, unless a provider key says the user means a cloud model."""
    if any(os.environ.get(var) for var, _ in _KEY_EXAMPLES):
        raise ConfigError(setup_help())
    return "local"


# A CPU can take many minutes to read one long prompt, and a retry after a timeout only starts it over.
_LOCAL_REQUEST_TIMEOUT = 3600.0


def _local_api_base(settings: Settings, by_default: bool) -> str:
    """The running local server's address, started first (saying so) when the model is set up."""
    from rlm_cli.local import local_paths
    from rlm_cli.local.server import ensure_running
    from rlm_cli.local.setup import is_ready

    paths = local_paths()
    if by_default and not is_ready(paths):
        raise ConfigError(setup_help(local_missing=True))
    if settings.sources["request_timeout"] == "default":
        settings.values["request_timeout"] = _LOCAL_REQUEST_TIMEOUT
    return ensure_running(paths, say=lambda text: print(f"rlm: {text}", file=sys.stderr, flush=True)).url


def _check_key(model: ResolvedModel) -> None:
    """An openai/ model for the cloud needs OPENAI_API_KEY: say so now, not after five retries.

    With an api_base it is a local server, which needs no key (then none is sent).
    """
    if model.api_key or not model.model.startswith("openai/") or os.environ.get("OPENAI_API_KEY"):
        return
    if model.api_base or os.environ.get("OPENAI_API_BASE") or os.environ.get("OPENAI_BASE_URL"):
        return
    raise ConfigError(
        f"{model.model} needs an API key: export OPENAI_API_KEY=sk-... (or pass --api-key KEY).\n"
        f"  For a local OpenAI-compatible server instead: rlm ask -m {model.model} --api-base URL ..."
    )


@dataclass
class OutputOptions:
    as_json: bool = False
    quiet: bool = False
    verbose: bool = False
    trace_file: Path | None = None


def result_object(
    status: str,
    *,
    model: str | None = None,
    answer: str | None = None,
    final: bool = False,
    iterations: int = 0,
    subcalls: int = 0,
    usage: dict[str, Any] | None = None,
    cost_usd: float | None = None,
    elapsed_s: float = 0.0,
    trace: str | None = None,
    warnings: list[str] | None = None,
    error: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The one shape of `--json` output (schema rlm.result/1), for runs and for early failures alike."""
    usage = usage or {}
    return {
        "schema": SCHEMA,
        "status": status,
        "model": model,
        "answer": answer,
        "final": final,
        "iterations": iterations,
        "subcalls": subcalls,
        "usage": {
            "input_tokens": usage.get("input_tokens", 0),
            "output_tokens": usage.get("output_tokens", 0),
            "by_model": usage.get("by_model", {}),
        },
        "cost_usd": cost_usd,
        "elapsed_s": elapsed_s,
        "trace": trace,
        "warnings": warnings or [],
        "error": error,
    }


def error_result(exc: RlmError) -> dict[str, Any]:
    """The JSON object for a run that failed before it produced anything."""
    status = "interrupted" if exc.kind == "interrupted" else "error"
    return result_object(status, error={"type": exc.kind, "message": exc.message})


def _corpus_options(settings: Settings) -> Any:
    from rlm_cli.inputs.corpus import CorpusOptions

    return CorpusOptions(
        include=list(settings["include"]),
        exclude=list(settings["exclude"]),
        hidden=settings["hidden"],
        gitignore=settings["gitignore"],
        max_file_size=settings["max_file_size"],
        max_total_size=settings["max_total_size"],
        follow_symlinks=settings["follow_symlinks"],
    )


def _engine_config(settings: Settings) -> Any:
    from rlm_cli import guidance
    from rlm_cli.engine.budget import Limits
    from rlm_cli.engine.loop import EngineConfig
    from rlm_cli.engine.model import ModelSpec

    name = settings["model"] or _default_model()
    explicit_base = settings["api_base"] if settings.sources["api_base"] in ("flag", "env") else None
    root = resolve_model(settings, name, explicit_base or None, settings["temperature"])
    if root.local_server and root.api_base is None:
        root.api_base = _local_api_base(settings, by_default=not settings["model"])
    if root.api_base is None:
        root.api_base = settings["api_base"]
    sub_name = settings["sub_model"] or name
    sub_base = settings["sub_api_base"] or (explicit_base if settings["sub_model"] else None)
    sub = resolve_model(settings, sub_name, sub_base, settings["sub_temperature"])
    if sub.local_server and sub.api_base is None:
        sub.api_base = _local_api_base(settings, by_default=False)
    if sub.api_base is None:  # sub_api_base, when set, was already applied above
        sub.api_base = settings["api_base"] or (root.api_base if sub_name == name else None)
    _check_key(root)
    _check_key(sub)
    overrides: dict[str, Any] = {}
    if settings["memory_limit_mb"]:
        overrides["memory_bytes"] = settings["memory_limit_mb"] * 1024 * 1024
    if settings["cpu_limit_s"]:
        overrides["cpu_seconds"] = settings["cpu_limit_s"]
    return EngineConfig(
        root=ModelSpec(
            root.model, root.api_base, root.api_key, root.temperature, guidance.reply_tokens(settings["guidance"])
        ),
        sub=ModelSpec(sub.model, sub.api_base, sub.api_key, sub.temperature),
        limits=Limits(
            max_iterations=settings["max_iterations"],
            max_subcalls=settings["max_subcalls"],
            max_tokens=settings["max_tokens"],
            max_cost=settings["max_cost"],
            timeout=settings["timeout"],
        ),
        max_depth=settings["max_depth"],
        exec_timeout=settings["exec_timeout"],
        concurrency=settings["concurrency"],
        output_limit=guidance.output_limit(
            settings["guidance"], settings["output_limit"], settings.sources["output_limit"]
        ),
        sub_chars=settings["sub_chars"],
        sandbox=settings["sandbox"],
        sandbox_overrides=overrides,
        guide=guidance.factory(settings["guidance"]),
        guidance=settings["guidance"],
        max_child_repls=settings["max_child_repls"],
        max_recursive_calls=settings["max_recursive_calls"],
    )


def _check_inputs(paths: list[str]) -> None:
    """Fail fast, before config checks and loading: a missing path, or '-' with a terminal on stdin."""
    for path in paths:
        if path == "-" and sys.stdin is not None and sys.stdin.isatty():
            raise InputError("'-' reads stdin, but stdin is a terminal: pipe data in, as in: cmd | rlm ask - QUESTION")
        if path != "-" and not os.path.lexists(path):
            raise InputError(f"no such file or directory: {path}")


def _read_stdin_if_needed(paths: list[str]) -> Any:
    return sys.stdin.buffer if "-" in paths and sys.stdin is not None else None


def _dry_run(corpus: Any, question: str, out: OutputOptions, settings: Settings) -> int:
    from rlm_cli import guidance
    from rlm_cli.engine import prompts
    from rlm_cli.inputs.bundle import SEPARATOR_TEMPLATE
    from rlm_cli.render import plural

    guide = guidance.factory(settings["guidance"])()
    messages = prompts.opening(question, corpus.documents, SEPARATOR_TEMPLATE, settings["sub_chars"], guide).messages
    if guide.first_code():
        messages[-1]["content"] += "\n\n" + prompts.FIRST_BLOCK_DRY
    root_prompt = "".join(m["content"] for m in messages)
    report = {
        "schema": "rlm.dry_run/1",
        "documents": [
            {
                "path": d.path,
                "type": d.type,
                "chars": d.chars,
                "lines": d.lines,
                "pages": d.pages,
                "truncated": d.truncated,
            }
            for d in corpus.documents
        ],
        "skipped": [{"path": s.path, "reason": s.reason} for s in corpus.skipped],
        "warnings": list(corpus.warnings),
        "total_chars": corpus.total_chars,
        "estimated_tokens": corpus.estimated_tokens,
        "root_prompt_chars": len(root_prompt),
        "root_prompt_tokens": len(root_prompt) // 4,
    }
    if out.verbose:
        report["messages"] = messages
    if out.as_json:
        print(json.dumps(report, indent=2))
        return EXIT_OK
    for doc in report["documents"]:
        extra = f", {doc['pages']} pages" if doc["pages"] else ""
        cut = " (truncated)" if doc["truncated"] else ""
        print(f"  {doc['path']}  [{doc['type']}, {doc['chars']:,} chars, {plural(doc['lines'], 'line')}{extra}]{cut}")
    for skip in report["skipped"]:
        print(_for_stdout(f"  skipped {skip['path']}: {skip['reason']}"))  # a reason may quote a file
    print(
        f"{plural(len(report['documents']), 'document')}, {report['total_chars']:,} characters "
        f"(~{report['estimated_tokens']:,} tokens); root prompt {report['root_prompt_chars']:,} characters "
        f"(~{report['root_prompt_tokens']:,} tokens)"
    )
    for message in messages if out.verbose else []:
        print(_for_stdout(f"\n--- {message['role']} message ---\n{message['content']}"))
    return EXIT_OK


class _Interrupts:
    """First Ctrl-C (or SIGTERM) stops the run cleanly; a second one aborts at once.

    Only while `armed` (the engine is running) does the first one raise; later it just counts.
    """

    def __init__(self) -> None:
        self.count = 0
        self.armed = False

    def __enter__(self) -> _Interrupts:
        # SIGHUP too (the terminal closed): each ends the run with its REPLs killed and their dirs removed.
        self.previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
        for sig in self.previous:
            signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        self.count += 1
        if self.count > 1:
            from rlm_cli.repl.process import kill_all

            kill_all()
            os.write(2, b"rlm: aborted\n")
            os._exit(EXIT_INTERRUPTED)
        if self.armed:
            self.armed = False
            raise KeyboardInterrupt

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)


def ask(paths: list[str], question: str, settings: Settings, out: OutputOptions, dry_run: bool = False) -> int:
    from rlm_cli.inputs.corpus import load_corpus

    _register_secrets(settings)
    _check_inputs(paths)
    config = None if dry_run else _engine_config(settings)  # a config error should not wait for a big load
    corpus = load_corpus(paths, _corpus_options(settings), _read_stdin_if_needed(paths))
    if config is None:
        return _dry_run(corpus, question, out, settings)

    from rlm_cli.engine.loop import RLM, Run
    from rlm_cli.engine.model import ModelClient, RetryPolicy
    from rlm_cli.render import make_renderer
    from rlm_cli.trace import TraceWriter, new_run_id

    run_id = new_run_id()
    writer = TraceWriter(
        run_id,
        extra_path=str(out.trace_file) if out.trace_file else None,
        keep=settings["trace_keep"],
        max_bytes=settings["trace_max_mb"] * 1_000_000,
    )
    renderer = make_renderer(sys.stderr, quiet=out.quiet, verbose=out.verbose)

    def emit(event: ev.Event) -> None:
        writer(event)
        renderer(event)

    client = ModelClient(
        RetryPolicy(
            retries=settings["retries"], request_timeout=settings["request_timeout"], base_delay=settings["retry_delay"]
        )
    )
    run = Run(config, client, emit)
    warnings = list(corpus.warnings) + [f"skipped {s.path}: {s.reason}" for s in corpus.skipped]
    emit(ev.RunStarted(run_id=run_id, question=question, config=config.public(), corpus=corpus.summary()))
    if not settings["model"]:
        where = f"{config.root.model} at {config.root.api_base}"
        emit(ev.Notice(kind="model", message=f"no model configured and no provider key set: the local model, {where}"))
    for warning in warnings:
        emit(ev.Notice(kind="warning", message=warning))
    with _Interrupts() as interrupts:
        interrupts.armed = True
        from rlm_cli.engine.loop import Outcome

        rlm = RLM(run)
        try:
            outcome = rlm.solve(question, corpus)
        except KeyboardInterrupt:  # landed outside the engine's own handling
            outcome = Outcome(None, False, "interrupted", 0)
        except Exception as exc:  # a bug, or a fault nothing else caught: still a result, a trace and an envelope
            error = RlmError(f"internal error: {type(exc).__name__}: {exc}")
            outcome = Outcome(rlm.partial, False, "error", rlm.iterations, error)
        interrupts.armed = False
        finished = _finish(run, run_id, outcome, warnings)
        emit(finished)
        writer.close()
        if writer.write_error:  # shown in the summary and in --json
            finished.warnings.append(writer.write_error)
        renderer.close()
        _print_result(finished, writer.path, out, config.root.model)
        if interrupts.count:
            from rlm_cli.repl.process import kill_all

            kill_all()  # os._exit skips atexit, and a child RLM's REPL may still be alive
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(EXIT_INTERRUPTED)  # sub-call threads may still be waiting on the network
    return _exit_code(outcome)


def _register_secrets(settings: Settings) -> None:
    """Every key this run knows is redacted from all it writes, even a key a server echoes back."""
    redaction.register_env(os.environ)
    aliases = settings.aliases.values()
    redaction.register([settings["api_key"], *(alias.api_key for alias in aliases)])
    redaction.register(os.environ.get(alias.api_key_env or "") for alias in aliases)


def _finish(run: Any, run_id: str, outcome: Any, warnings: list[str]) -> ev.RunFinished:
    usage = run.budget.snapshot()
    error = None
    if outcome.error is not None and outcome.status != "ok":
        error = {"type": outcome.error.kind, "message": outcome.error.message}
        if isinstance(outcome.error, BudgetExhausted):
            error["budget"] = outcome.error.budget
    elif outcome.status == "interrupted":
        error = {"type": "interrupted", "message": "interrupted"}
    return ev.RunFinished(
        run_id=run_id,
        status=outcome.status,
        answer=outcome.answer,
        final=outcome.final,
        iterations=outcome.iterations,
        subcalls=usage["subcalls"],
        usage=usage,
        cost_usd=usage["cost_usd"],
        elapsed_s=round(time.monotonic() - run.budget.started, 3),
        warnings=warnings + run.warnings,
        error=error,
    )


def _print_result(finished: ev.RunFinished, trace_path: Path, out: OutputOptions, model: str) -> None:
    from rlm_cli.trace import redact

    if out.as_json:
        result = result_object(
            finished.status,
            model=model,
            answer=finished.answer,
            final=finished.final,
            iterations=finished.iterations,
            subcalls=finished.subcalls,
            usage=finished.usage,
            cost_usd=finished.cost_usd,
            elapsed_s=finished.elapsed_s,
            trace=str(trace_path),
            warnings=finished.warnings,
            error=finished.error,
        )
        print(json.dumps(redact(result)))
    elif finished.answer is not None:
        print(_for_stdout(redaction.redact_text(finished.answer)))
    if finished.status == "interrupted":
        print("rlm: interrupted", file=sys.stderr)
    elif finished.error is not None:  # even with -q: a failed run must say why
        message = for_terminal(redaction.redact_text(str(finished.error["message"])))
        print(f"rlm: {finished.status.replace('_', ' ')}: {message}", file=sys.stderr)


def _for_stdout(text: str) -> str:
    """A terminal gets the text without escapes; a pipe gets it exact (only lone surrogates replaced)."""
    try:
        terminal = sys.stdout.isatty()
    except (AttributeError, ValueError):
        terminal = False
    return for_terminal(text) if terminal else encodable(text)


def _exit_code(outcome: Any) -> int:
    if outcome.status == "ok":
        return EXIT_OK
    if outcome.status == "interrupted":
        return EXIT_INTERRUPTED
    if outcome.status == "budget_exhausted":
        return EXIT_BUDGET
    return outcome.error.exit_code if outcome.error is not None else 1
