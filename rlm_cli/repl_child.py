"""The REPL process: holds `context`, runs the model's code, and asks the parent for every model call.

It runs as `python -I -m rlm_cli.repl_child FD`, sandboxed before it reads any input, and imports
only the standard library and rlm_cli's stdlib-only modules: no litellm, no keys.
"""

from __future__ import annotations

import ast
import io
import signal
import socket
import sys
import time
import traceback
from typing import Any

from rlm_cli import protocol, replkit

TAIL_CHARS = 2_000
MAX_FINAL_CHARS = 16 * 1024 * 1024


class ExecTimeout(BaseException):
    """Raised by the timer in the running cell; a BaseException so `except Exception` cannot eat it."""


class RunAborted(BaseException):
    """The parent ended the run (budget, Ctrl-C) while the cell was waiting on a model call."""


class CappedOutput(io.TextIOBase):
    """Keeps the head and tail of what a cell prints, so 100 MB of output costs only a few KB."""

    def __init__(self, limit: int) -> None:
        self.limit = max(limit - TAIL_CHARS, 0)
        self.head: list[str] = []
        self.head_len = 0
        self.tail = ""
        self.total = 0

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            text = str(text)
        size = len(text)
        self.total += size
        room = self.limit - self.head_len
        if room > 0:
            self.head.append(text[:room])
            self.head_len += min(room, len(text))
            text = text[room:]
        if text:
            self.tail = (self.tail + text)[-TAIL_CHARS:]
        return size

    def render(self) -> tuple[str, int]:
        """The text the model will see, and how many characters were cut from the middle."""
        head = "".join(self.head)
        cut = self.total - len(head) - len(self.tail)
        if cut <= 0:
            return head + self.tail, 0
        return f"{head}\n[... {cut} characters cut ...]\n{self.tail}", cut


class Repl:
    """The state of one REPL session: the namespace, the channel, and the cell timer."""

    def __init__(self, sock: socket.socket, output_limit: int) -> None:
        self.sock = sock
        self.output_limit = output_limit
        self.final: str | None = None
        self.cell = 0
        self.deadline: float | None = None
        self.namespace: dict[str, Any] = {"__name__": "__repl__", "__builtins__": __builtins__}

    # --- functions the model's code calls -------------------------------------------------
    def _ask(self, prompts: list[Any], model: str | None, batched: bool) -> list[str]:
        if not isinstance(prompts, list | tuple):
            raise TypeError("llm_query_batched expects a list of prompt strings")
        texts = [p if isinstance(p, str) else str(p) for p in prompts]
        paused = self._pause_timer()
        try:
            protocol.send(self.sock, {"op": "llm", "prompts": texts, "model": model, "batched": batched})
            reply = protocol.recv(self.sock)
        finally:
            self._resume_timer(paused)
        if reply["op"] == "abort":
            raise RunAborted(reply.get("reason", "run aborted"))
        results = reply.get("results")
        if not isinstance(results, list) or len(results) != len(texts):
            raise RuntimeError("malformed model reply from parent")
        return [str(r) for r in results]

    def llm_query(self, prompt: str, model: str | None = None) -> str:
        """Ask a sub-model one question about a slice you built; returns its text."""
        return self._ask([prompt], model, batched=False)[0]

    def llm_query_batched(self, prompts: list[str], model: str | None = None) -> list[str]:
        """Ask many prompts at once; run concurrently by the parent, answers in order."""
        if not prompts:
            return []
        return self._ask(list(prompts), model, batched=True)

    def FINAL(self, answer: Any) -> None:  # noqa: N802 - the method's public name
        """End the run with this answer."""
        self.final = replkit.to_text(answer)[:MAX_FINAL_CHARS]

    def FINAL_VAR(self, name: Any) -> None:  # noqa: N802 - the method's public name
        """End the run with the value of a REPL variable (by name, or the value itself)."""
        if isinstance(name, str) and name.strip().isidentifier():
            if name.strip() not in self.namespace:
                print(
                    f"FINAL_VAR: there is no variable named {name.strip()!r}; nothing was returned. "
                    "Assign it first, or call FINAL(value)."
                )
                return
            self.FINAL(self.namespace[name.strip()])
        else:
            self.FINAL(name)

    def SHOW_VARS(self) -> None:  # noqa: N802 - the method's public name
        """List the variables you have made, with their types and sizes."""
        print(replkit.describe_vars(self.namespace, set(self.builtins)))

    @property
    def builtins(self) -> dict[str, Any]:
        return {
            "llm_query": self.llm_query,
            "llm_query_batched": self.llm_query_batched,
            "FINAL": self.FINAL,
            "FINAL_VAR": self.FINAL_VAR,
            "SHOW_VARS": self.SHOW_VARS,
        }

    # --- the cell timer ---------------------------------------------------------------------
    def _pause_timer(self) -> float | None:
        if self.deadline is None:
            return None
        signal.setitimer(signal.ITIMER_REAL, 0)
        return self.deadline - time.monotonic()

    def _resume_timer(self, remaining: float | None) -> None:
        if remaining is None:
            return
        remaining = max(remaining, 0.001)
        self.deadline = time.monotonic() + remaining
        signal.setitimer(signal.ITIMER_REAL, remaining)

    # --- running cells ----------------------------------------------------------------------
    def run_cell(self, code: str, timeout: float | None) -> dict[str, Any]:
        self.cell += 1
        self.final = None
        out = CappedOutput(self.output_limit)
        filename = f"<cell {self.cell}>"
        status = "ok"
        saved = sys.stdout, sys.stderr
        sys.stdout = sys.stderr = out
        try:
            if timeout:
                self.deadline = time.monotonic()
                self._resume_timer(timeout)
            self._execute(code, filename)
        except ExecTimeout:
            status = "timeout"
            print(
                f"TimeoutError: the cell ran past its {timeout:g}s limit and was interrupted; "
                "variables set before that point are kept.",
                file=out,
            )
        except RunAborted as exc:
            status = "aborted"
            print(f"Run aborted: {exc}", file=out)
        except BaseException as exc:  # the model's code may raise anything, SystemExit included
            status = "error"
            out.write(_format_exception(exc, filename))
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            self.deadline = None
            sys.stdout, sys.stderr = saved
        text, cut = out.render()
        return {"op": "result", "output": text, "cut": cut, "status": status, "final": self.final}

    def _execute(self, code: str, filename: str) -> None:
        """Run a cell like a notebook does: the value of a trailing expression is printed."""
        tree = ast.parse(code, filename, "exec")
        last = tree.body[-1] if tree.body and isinstance(tree.body[-1], ast.Expr) else None
        if last is not None:
            tree.body.pop()
        exec(compile(tree, filename, "exec"), self.namespace)
        if last is not None:
            value = eval(compile(ast.Expression(last.value), filename, "eval"), self.namespace)
            if value is not None:
                print(replkit.short_repr(value))

    def get_var(self, name: str) -> dict[str, Any]:
        if not isinstance(name, str) or name not in self.namespace or name.startswith("__"):
            return {"op": "var", "found": False}
        return {"op": "var", "found": True, "value": replkit.to_text(self.namespace[name])[:MAX_FINAL_CHARS]}


def _format_exception(exc: BaseException, filename: str) -> str:
    """A traceback trimmed to the model's own cell, so it sees its bug and not our plumbing."""
    te = traceback.TracebackException.from_exception(exc)
    te.stack = traceback.StackSummary.from_list([f for f in te.stack if f.filename == filename])
    lines = list(te.format())
    if len(lines) > 30:
        lines = lines[:5] + ["  ...\n"] + lines[-20:]
    return "".join(lines)


def _on_alarm(signum: int, frame: Any) -> None:
    raise ExecTimeout()


def main() -> None:
    sock = socket.socket(fileno=int(sys.argv[1]))
    init = protocol.recv(sock)
    warnings: list[str] = []
    if init.get("sandbox") is not None:
        from rlm_cli import sandbox

        warnings = sandbox.apply(sandbox.SandboxPolicy(**init["sandbox"]))
    from rlm_cli.bundle import load_bundle

    context, documents = load_bundle(init["bundle"])
    repl = Repl(sock, int(init.get("output_limit", 20_000)))
    repl.namespace.update(repl.builtins)
    repl.namespace.update(replkit.helpers(context, documents))
    repl.namespace.update({"context": context, "documents": documents})
    signal.signal(signal.SIGALRM, _on_alarm)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    protocol.send(sock, {"op": "ready", "warnings": warnings})
    while True:
        try:
            message = protocol.recv(sock)
        except protocol.ChannelClosed:
            return
        if message["op"] == "exec":
            reply = repl.run_cell(str(message.get("code", "")), message.get("timeout"))
        elif message["op"] == "getvar":
            reply = repl.get_var(message.get("name", ""))
        elif message["op"] == "exit":
            return
        else:
            reply = {"op": "error", "message": f"unknown op {message['op']!r}"}
        protocol.send(sock, reply)


if __name__ == "__main__":
    main()
