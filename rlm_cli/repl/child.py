"""The REPL process: holds `context`, runs the model's code, and asks the parent for every model call.

It runs as `python -I -m rlm_cli.repl.child FD`, sandboxed before it reads any input, and imports
only the standard library and rlm_cli's stdlib-only modules: no litellm, no keys.
"""

from __future__ import annotations

import ast
import io
import os
import signal
import socket
import sys
import threading
import time
import traceback
from typing import Any

from rlm_cli.repl import helpers as replkit
from rlm_cli.repl import protocol

TAIL_CHARS = 2_000
MAX_FINAL_CHARS = 16 * 1024 * 1024
# A variable asked for by FINAL_VAR is turned into text outside any cell; a hostile __repr__ gets this long.
GETVAR_TIMEOUT_S = 10.0
INPUT_NAMES = {"context", "documents"}


class ExecTimeout(BaseException):
    """Raised by the timer in the running cell; a BaseException so `except Exception` cannot eat it."""


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
        self.pid = os.getpid()
        # One exchange with the parent at a time, and none once the cell's result is sent: threads the
        # model's code starts would otherwise interleave frames and take each other's answers.
        self.channel = threading.Lock()
        self.running = False
        self.final: str | None = None
        self.cell = 0
        self.deadline: float | None = None
        self.namespace: dict[str, Any] = {"__name__": "__repl__", "__builtins__": __builtins__}
        self.protected: dict[str, Any] = {}  # the input and the REPL's functions, restored if a cell rebinds them

    # --- functions the model's code calls -------------------------------------------------
    def _ask(self, prompts: list[Any], model: str | None, batched: bool, choose: bool = False) -> dict[str, Any]:
        """One exchange with the parent: the reply's fields, with `results` checked to hold one per prompt."""
        if not isinstance(prompts, list | tuple):
            raise TypeError("llm_query_batched expects a list of prompt strings")
        texts = [p if isinstance(p, str) else str(p) for p in prompts]
        if os.getpid() != self.pid:
            raise RuntimeError("llm_query works only in the REPL process itself, not in a forked copy")
        request = {"op": "llm", "prompts": texts, "model": model, "batched": batched}
        if choose:
            request["choose"] = True
        with self.channel:
            if not self.running:
                raise RuntimeError("llm_query works only while a cell runs: a thread outlived its cell")
            paused = self._pause_timer()
            try:
                protocol.send(self.sock, request)
                reply = protocol.recv(self.sock)
            finally:
                self._resume_timer(paused)
        if reply["op"] == "exit":  # the parent is ending the run while it waited on this call
            os._exit(0)
        results = reply.get("results")
        if not isinstance(results, list) or len(results) != len(texts):
            raise RuntimeError("malformed model reply from parent")
        reply["results"] = [str(r) for r in results]
        return reply

    def choose(self, prompts: list[str]) -> list[tuple[str, list[tuple[str, float]] | None]]:
        """Each prompt's reply, with its first token's alternatives (token, log-probability) when the server
        gives them; classify() reads a label off them."""
        if not prompts:
            return []
        reply = self._ask(list(prompts), None, batched=True, choose=True)
        tops = reply.get("first_tokens")
        if not isinstance(tops, list) or len(tops) != len(prompts):
            tops = [None] * len(prompts)
        return [(text, _alternatives(top)) for text, top in zip(reply["results"], tops, strict=True)]

    def llm_query(self, prompt: str, model: str | None = None) -> str:
        """Ask a sub-model one question about a slice you built; returns its text."""
        return self._ask([prompt], model, batched=False)["results"][0]

    def llm_query_batched(self, prompts: list[str], model: str | None = None) -> list[str]:
        """Ask many prompts at once; run concurrently by the parent, answers in order."""
        if not prompts:
            return []
        return self._ask(list(prompts), model, batched=True)["results"]

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
            replkit.WORD_HELPER: replkit.word_or_value,
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
        before = {name: id(value) for name, value in self.namespace.items()}
        notes: list[dict[str, Any]] = []
        try:
            try:
                if timeout:
                    self.deadline = time.monotonic()
                    self._resume_timer(timeout)
                tree, pasted = self._compile(code, filename)
                notes = [self._pasted_note(name) for name in pasted]
                self._execute(tree, filename)
                notes += replkit.none_notes(self.namespace, before)
            finally:  # disarmed before any handler runs, so the alarm cannot fire inside one
                signal.setitimer(signal.ITIMER_REAL, 0)
                self.deadline = None
        except ExecTimeout:
            status = "timeout"
            print(
                f"TimeoutError: the cell ran past its {timeout:g}s limit and was interrupted; "
                "variables set before that point are kept.",
                file=out,
            )
        except BaseException as exc:  # the model's code may raise anything, SystemExit included
            status = "error"
            out.write(_format_exception(exc, filename))
        finally:
            sys.stdout, sys.stderr = saved
        self._restore_input(out)
        text, cut = out.render()
        return {"op": "result", "output": text, "cut": cut, "status": status, "final": self.final, "notes": notes}

    def _restore_input(self, out: CappedOutput) -> None:
        """Put back the input and the functions if the code rebound them (small models write `records = records()`)."""
        for name, value in self.protected.items():
            if self.namespace.get(name) is not value:
                self.namespace[name] = value
                what = "a REPL function" if callable(value) else "the input"
                out.write(
                    f"\n[note: `{name}` is {what} and cannot be replaced; it was restored. "
                    "Use another variable name.]\n"
                )

    def _compile(self, code: str, filename: str) -> tuple[ast.Module, list[str]]:
        """The cell's tree to run, and the input names whose pasted bindings were left out of it."""
        tree, skipped = replkit.skip_pasted_bindings(ast.parse(code, filename, "exec"), INPUT_NAMES)
        return replkit.quote_bare_final(tree), list(dict.fromkeys(skipped))

    def _pasted_note(self, name: str) -> dict[str, Any]:
        """A note that a binding of an input name was skipped: reported as data, so the output stays the code's."""
        return {"kind": "pasted", "name": name, "kept": 0, "total": len(self.protected[name])}

    def _execute(self, tree: ast.Module, filename: str) -> None:
        """Run a cell like a notebook does: the value of a trailing expression is printed."""
        last = tree.body[-1] if tree.body and isinstance(tree.body[-1], ast.Expr) else None
        if last is not None:
            tree.body.pop()
        exec(compile(tree, filename, "exec"), self.namespace)
        if last is not None:
            value = eval(compile(ast.Expression(last.value), filename, "eval"), self.namespace)
            if value is not None:
                print(replkit.short_repr(value))

    def get_var(self, name: Any) -> dict[str, Any]:
        if not isinstance(name, str) or name not in self.namespace or name.startswith("__"):
            return {"op": "var", "found": False}
        signal.setitimer(signal.ITIMER_REAL, GETVAR_TIMEOUT_S)
        try:
            value = replkit.to_text(self.namespace[name])[:MAX_FINAL_CHARS]
        except BaseException:  # the model's own __repr__ may raise or hang; the variable is then unusable
            return {"op": "var", "found": False}
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        return {"op": "var", "found": True, "value": value}

    def serve(self) -> None:
        """Answer the parent until it says exit or goes away; forked copies of this process never answer."""
        while True:
            try:
                message = protocol.recv(self.sock)
            except protocol.ChannelClosed:
                return
            op = message["op"]
            if op == "exec":
                with self.channel:
                    self.running = True
                reply = self.run_cell(str(message.get("code", "")), message.get("timeout"))
                if os.getpid() != self.pid:
                    os._exit(0)  # the cell forked and this copy came back: only the original speaks
            elif op == "getvar":
                reply = self.get_var(message.get("name"))
            elif op == "exit":
                return
            else:
                reply = {"op": "error", "message": f"unknown op {op!r}"}
            reply["id"] = message.get("id")
            with self.channel:
                self.running = False
                try:
                    protocol.send(self.sock, reply)
                except protocol.ChannelClosed:
                    return


def _alternatives(raw: Any) -> list[tuple[str, float]] | None:
    """First-token alternatives as the parent sent them, keeping only well-formed (token, number) pairs."""
    if not isinstance(raw, list):
        return None
    pairs = [p for p in raw if isinstance(p, list | tuple) and len(p) == 2]
    # A log-probability is at most 0; the range test also drops NaN and infinities a forged frame could carry.
    return [(str(t), float(lp)) for t, lp in pairs if isinstance(lp, int | float) and -1e6 < lp <= 0]


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
        from rlm_cli.repl import sandbox

        warnings = sandbox.apply(sandbox.SandboxPolicy(**init["sandbox"]))
    from rlm_cli.inputs.bundle import load_bundle

    context, documents = load_bundle(init["bundle"])
    repl = Repl(sock, int(init.get("output_limit", 20_000)))
    repl.namespace.update(replkit.preloaded())
    repl.protected = {
        **repl.builtins,
        **replkit.helpers(context, documents, repl.llm_query_batched, str(init.get("question") or ""), repl.choose),
        "context": context,
        "documents": documents,
    }
    repl.namespace.update(repl.protected)
    signal.signal(signal.SIGALRM, _on_alarm)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    protocol.send(sock, {"op": "ready", "warnings": warnings})
    repl.serve()


if __name__ == "__main__":
    main()
