"""`rlm local setup|start|stop|status`: the sub-commands; each loads what it needs when it runs."""

from __future__ import annotations

from typing import Annotated

import typer
from typer.core import TyperCommand, TyperGroup

from rlm_cli.cliparse import LightParams


class _Group(LightParams, TyperGroup):
    """Options read without pydantic, as every rlm command's are (see cliparse)."""


class _Command(LightParams, TyperCommand):
    """Options read without pydantic, as every rlm command's are (see cliparse)."""


app = typer.Typer(cls=_Group, rich_markup_mode=None)


def _say(text: str) -> None:
    typer.echo(f"rlm: {text}", err=True)


@app.command(cls=_Command)
def setup(
    gguf: Annotated[
        str | None,
        typer.Option(metavar="PATH|URL", help="Use this GGUF file or URL instead of the Hugging Face Hub."),
    ] = None,
) -> None:
    """Fetch the local model and verify it.

    From the Hugging Face Hub, or a GGUF file or URL given with --gguf, into the cache; a broken
    download is resumed or repaired. Then checks that llama-cpp-python can serve it.
    """
    import subprocess

    from rlm_cli.errors import ConfigError
    from rlm_cli.local import DEFAULT_MODEL, local_paths, server_missing, server_python
    from rlm_cli.local.setup import RichMeter, setup_model

    source = gguf or f"the Hugging Face Hub ({DEFAULT_MODEL.repo})"
    _say(f"model {DEFAULT_MODEL.filename} ({DEFAULT_MODEL.size_text}) from {source}")
    meter = RichMeter()
    try:
        report = setup_model(local_paths(), DEFAULT_MODEL, gguf, meter=meter, say=_say)
    finally:
        meter.end()  # a bar left live by Ctrl-C or an error would keep the cursor hidden
    typer.echo(f"model {report.action}: {report.path}")
    python = server_python()
    probe = "import importlib.util, sys; sys.exit(importlib.util.find_spec('llama_cpp') is None)"
    try:
        found = subprocess.run([python, "-c", probe], check=False).returncode == 0
    except OSError:
        found = False
    if not found:
        raise ConfigError(server_missing(python))
    typer.echo('ready: rlm ask README.md "what is this?"   (starts the server; or start it now: rlm local start)')


@app.command(cls=_Command)
def start(
    port: Annotated[int | None, typer.Option(min=1, max=65535, help="Port [default: 8089, or a free one].")] = None,
    ctx: Annotated[int, typer.Option(min=512, metavar="TOKENS", help="Context window.")] = 32768,
    threads: Annotated[
        int | None, typer.Option(min=1, metavar="N", help="CPU threads [default: half the logical CPUs].")
    ] = None,
    wait: Annotated[float, typer.Option(min=0, metavar="S", help="Seconds to wait for the model to load.")] = 300,
) -> None:
    """Start the local model server.

    Waits until it answers; does nothing if it already runs.
    """
    from rlm_cli.local import local_paths
    from rlm_cli.local.server import read_status
    from rlm_cli.local.server import start as start_server

    paths = local_paths()
    before = read_status(paths)
    status = start_server(paths, port=port, ctx=ctx, threads=threads, wait=wait, say=_say)
    assert status.server is not None  # start() returns up or raises
    again = "already running" if before.state == "up" else "up"
    typer.echo(f"local model server {again} at {status.server.url} (pid {status.server.pid}, log {paths.log})")


@app.command(cls=_Command)
def stop() -> None:
    """Stop the local model server."""
    from rlm_cli.local import local_paths
    from rlm_cli.local.server import stop as stop_server

    status = stop_server(local_paths())
    if status.note:
        _say(status.note)
    if status.server is None:
        typer.echo("local model server: not running")
    else:
        typer.echo(f"local model server stopped (pid {status.server.pid})")


@app.command(cls=_Command)
def status() -> None:
    """Show the model, the server and other local servers.

    Whether the model is set up; whether the server is down, starting or up; and any Ollama or
    LM Studio server listening on its usual port.
    """
    from rlm_cli.local import DEFAULT_MODEL, SETUP_COMMAND, local_paths
    from rlm_cli.local.discover import KNOWN, discover
    from rlm_cli.local.server import read_status
    from rlm_cli.local.setup import is_ready

    paths = local_paths()
    model = paths.model(DEFAULT_MODEL)
    typer.echo(f"model: {'ready' if is_ready(paths) else 'not set up (' + SETUP_COMMAND + ')'}  {model}")
    current = read_status(paths)
    if current.note:
        _say(current.note)
    server = current.server
    if server is None:
        typer.echo("server: down  (rlm local start, or rlm ask starts it)")
    else:
        where = f"pid {server.pid}, model {server.model}, log {paths.log}"
        typer.echo(f"server: {current.state} at {server.url}  ({where})")
    found = discover()
    if not found:
        ports = ", ".join(f"{k.label} {k.base.rsplit(':', 1)[1]}" for k in KNOWN)
        typer.echo(f"other local servers: none listening ({ports})")
    for other in found:
        models = ", ".join(other.models) or "no models"
        typer.echo(f"other local server: {other.known.label} at {other.known.base} ({models})")
        typer.echo(f"  rlm sends it nothing unless you pick it: {other.usage()}")


@app.callback(invoke_without_command=True)
def _local_root(ctx: typer.Context) -> None:
    """`rlm local` alone shows the status, as `rlm config` alone shows the settings."""
    if ctx.invoked_subcommand is None:
        status()
