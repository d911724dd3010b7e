"""The `rlm` executable: run the CLI, then leave at once instead of waiting for interpreter teardown.

Tearing down an interpreter that loaded an HTTP stack and ran threads takes seconds (finalizing thousands of
modules, joining worker threads still waiting on the network). Everything the user keeps is written before
that: the CLI has printed its output and closed the trace, so after flushing the standard streams and
stopping any REPL child left alive, os._exit ends the process with the same exit code, sooner.
"""

from __future__ import annotations

import contextlib
import os
import sys

from rlm_cli.errors import EXIT_INTERNAL, EXIT_OK


def main() -> None:
    from rlm_cli import cli

    try:
        cli.main()
        code: object = EXIT_OK
    except SystemExit as exc:
        code = exc.code
    leave(code)


def leave(code: object) -> None:
    """Exit with `code` as SystemExit would (None is 0, a message is printed and is 1), skipping teardown."""
    if code is None:
        code = EXIT_OK
    elif not isinstance(code, int):
        print(code, file=sys.stderr)
        code = EXIT_INTERNAL
    process = sys.modules.get("rlm_cli.repl.process")
    if process is not None:  # loaded only by runs that started a REPL
        process.kill_all()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):  # a closed pipe: nothing more can reach the reader
            stream.flush()
    os._exit(code)
