"""The RLM loop: the root model writes code, the REPL runs it, sub-calls fan out, until a final answer.

The engine emits events and never renders; the CLI chooses who listens.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

from rlm_cli.engine import events as ev
from rlm_cli.engine import parsing, prompts
from rlm_cli.engine.budget import Budget, ChildCaps, Limits
from rlm_cli.engine.guide import PLAIN_NOTES, Advice, Block, GuideFactory, Note, Plain
from rlm_cli.engine.model import Alternatives, Completion, ModelClient, ModelSpec
from rlm_cli.errors import BudgetExhausted, ModelError, RlmError
from rlm_cli.inputs.bundle import SEPARATOR_TEMPLATE, release, write_bundle
from rlm_cli.inputs.corpus import Corpus, Document
from rlm_cli.repl.process import ReplConfig, ReplProcess
from rlm_cli.repl.sandbox import SandboxPolicy

Emit = Callable[[ev.Event], None]
# Older REPL outputs are shrunk to this many characters, so a long run fits a small model's window.
OLD_OUTPUT_CHARS = 1_500
# Greedy decoding that produced a reply once produces it again: a model repeating itself is sampled once instead.
RESAMPLE_TEMPERATURE = 0.7
# A choice among labels needs the first token's alternatives (20 is the most OpenAI gives) and a few tokens of
# text, for servers that give no alternatives and for labels of several words.
CHOICE_ALTERNATIVES = 20
CHOICE_TOKENS = 8


@dataclass
class SubReply:
    """One sub-call's reply text (an error is told in it), and the first token's alternatives when asked for."""

    text: str
    first_tokens: Alternatives | None = None
    failed: bool = False


@dataclass
class EngineConfig:
    root: ModelSpec
    sub: ModelSpec
    limits: Limits = field(default_factory=Limits)
    max_depth: int = 1
    exec_timeout: float = 60.0
    concurrency: int = 8
    output_limit: int = 20_000
    sub_chars: int = 60_000
    sandbox: bool = True
    sandbox_overrides: dict[str, Any] = field(default_factory=dict)
    guide: GuideFactory = Plain  # one guide per RLM, since a guide keeps what it has shown and questioned
    guidance: str = "off"  # the guide's name, for the trace
    max_child_repls: int = 8  # child RLMs running at once, each with its own REPL process
    max_recursive_calls: int = 64  # child RLMs over the whole run

    def public(self) -> dict[str, Any]:
        """The configuration as it may be shown and saved: no secrets."""
        limits = self.limits
        return {
            "model": self.root.model,
            "sub_model": self.sub.model,
            "api_base": self.root.api_base,
            "sub_api_base": self.sub.api_base,
            "max_depth": self.max_depth,
            "max_iterations": limits.max_iterations,
            "max_subcalls": limits.max_subcalls,
            "max_tokens": limits.max_tokens,
            "max_cost": limits.max_cost,
            "timeout": limits.timeout,
            "exec_timeout": self.exec_timeout,
            "concurrency": self.concurrency,
            "output_limit": self.output_limit,
            "sandbox": self.sandbox,
            "guidance": self.guidance,
        }


@dataclass
class Outcome:
    answer: str | None
    final: bool
    status: str  # ok | budget_exhausted | error | interrupted
    iterations: int
    error: RlmError | None = None


class Run:
    """What the whole tree of RLMs shares: the client, the budget, the event sink and the HTTP slots."""

    def __init__(self, config: EngineConfig, client: ModelClient, emit: Emit, budget: Budget | None = None) -> None:
        self.config = config
        self.client = client
        self.budget = budget or Budget(config.limits)
        self._emit = emit
        self._emit_lock = threading.Lock()
        self.http_slots = threading.BoundedSemaphore(max(config.concurrency, 1))
        self._batch_ids = itertools.count(1)
        self._warned: dict[str, str] = {}
        self._children = ChildCaps(config.max_child_repls, config.max_recursive_calls)

    def emit(self, event: ev.Event) -> None:
        with self._emit_lock:
            self._emit(event)

    def warn_once(self, key: str, message: str, depth: int = 0) -> None:
        if key not in self._warned:
            self._warned[key] = message
            self.emit(ev.Notice(depth=depth, kind="warning", message=message))

    @property
    def warnings(self) -> list[str]:
        return list(self._warned.values())

    def next_batch_id(self) -> int:
        return next(self._batch_ids)

    def reserve_child(self, depth: int) -> bool:
        """Room for one more child RLM under the caps; False makes the sub-call a plain model call."""
        refused = self._children.reserve()
        if refused is not None:
            self.warn_once(f"child-cap:{refused}", refused, depth)
        return refused is None

    def release_child(self) -> None:
        self._children.release()

    def call(
        self, spec: ModelSpec, messages: list[dict[str, str]], depth: int, stop: list[str] | None = None
    ) -> Completion:
        """A model call inside the shared budget and the global concurrency bound."""
        self.budget.check()
        with self.http_slots:
            self.budget.check()
            try:
                completion = self.client.complete(
                    spec,
                    messages,
                    stop=stop,
                    deadline=self.budget.deadline,
                    on_retry=lambda msg: self.emit(ev.Notice(depth=depth, kind="retry", message=msg)),
                )
            except ModelError:
                self.budget.check()  # a call cut by the run's deadline is the time budget, not the model
                raise
        self.budget.record(completion)
        if completion.cost_usd is None and spec.api_base is None:
            # A model behind its own --api-base (a local server, a gateway) has no list price: not worth a warning.
            self.warn_once(f"cost:{spec.model}", f"cost unknown for {spec.model}: litellm has no price for it", depth)
        if self.config.limits.max_cost is not None and completion.cost_usd is None:
            self.warn_once("cost-limit", "--max-cost cannot be enforced: a model's price is unknown", depth)
        return completion


def corpus_from_text(text: str, path: str = "<prompt>") -> Corpus:
    """Wrap a prompt as a one-document corpus, the input of a recursive child RLM."""
    doc = Document(
        path=path,
        text=text,
        type="text",
        size=len(text.encode("utf-8", "replace")),
        chars=len(text),
        lines=text.count("\n") + 1,
        pages=None,
        encoding="utf-8",
        truncated=False,
    )
    return Corpus(documents=[doc], skipped=[], warnings=[])


@dataclass
class Turn:
    """What one reply did: the blocks it ran, what the model reads next, and the answer it gave, if any."""

    blocks: list[Block] = field(default_factory=list)
    feedback: list[str] = field(default_factory=list)
    advice: list[Advice] = field(default_factory=list)
    answer: str | None = None
    placeholder: bool = False  # a FINAL was refused as a placeholder (`FINAL(answer)` with no `answer`)


class RLM:
    """One recursive language model at one depth: a root loop over its own REPL process."""

    def __init__(self, run: Run, depth: int = 0, model: ModelSpec | None = None) -> None:
        self.run = run
        self.depth = depth
        self.config = run.config
        self.model = model or run.config.root
        self.guide = self.config.guide()
        self.repl: ReplProcess | None = None
        self.iterations = 0
        self.code_ran = False  # a block has run to its end: the model has looked at the data
        self.partial: str | None = None  # the best answer so far, returned if the run is stopped
        self.last_output = ""  # the last block's output, the fallback for a partial answer
        self.resample = False  # the model repeats itself: sample its next reply hotter

    # --- the loop ---------------------------------------------------------------------------
    def solve(self, question: str, corpus: Corpus) -> Outcome:
        try:
            return self._solve(question, corpus)
        except BudgetExhausted as exc:
            status = "interrupted" if exc.budget == "cancelled" else "budget_exhausted"
            return Outcome(self._best_partial(), False, status, self.iterations, exc)
        except KeyboardInterrupt:
            self.run.budget.cancel("interrupted")
            return Outcome(self._best_partial(), False, "interrupted", self.iterations)
        except RlmError as exc:
            return Outcome(self._best_partial(), False, "error", self.iterations, exc)
        finally:
            if self.repl is not None:
                self.repl.close()

    def _start_repl(self, corpus: Corpus, question: str, opened: threading.Event) -> ReplProcess:
        def hand_off(workdir: str) -> str:
            bundle = write_bundle(corpus, workdir)
            # The first message is built meanwhile, from the documents' text (the guide's description reads it all).
            # Then the parent lets go of the text, before the child loads its copy: one copy at a time, not two.
            opened.wait()
            release(corpus, bundle)
            return bundle

        config = ReplConfig(output_limit=self.config.output_limit, question=question)
        repl = ReplProcess(hand_off, config, self._on_llm, self._on_choose)
        self.repl = repl
        repl.config.sandbox = SandboxPolicy.for_input(
            corpus.total_chars, repl.workdir, enabled=self.config.sandbox, **self.config.sandbox_overrides
        )
        repl.start_soon(self._sandbox_warnings, opened)  # boots while the first model call is in flight
        return repl

    def _sandbox_warnings(self, warnings: list[str]) -> None:
        for warning in warnings:
            self.run.warn_once(f"sandbox:{warning}", warning, self.depth)

    def _solve(self, question: str, corpus: Corpus) -> Outcome:
        opened = threading.Event()  # the REPL start waits on it before the child loads the input
        try:
            repl = self._start_repl(corpus, question, opened)
            messages = prompts.opening(
                question, corpus.documents, SEPARATOR_TEMPLATE, self.config.sub_chars, self.guide
            ).messages
        finally:
            opened.set()
        if code := self.guide.first_code():
            messages[-1]["content"] += "\n\n" + self._first_block(repl, code, question)
        limits = self.config.limits
        last_reply = None
        while self.iterations < limits.max_iterations:
            self.iterations += 1
            self.run.emit(
                ev.TurnStarted(depth=self.depth, iteration=self.iterations, max_iterations=limits.max_iterations)
            )
            text = self._root_call(messages).text
            # The same reply to new feedback is a loop that sampling at temperature 0 would repeat forever.
            self.resample = text.strip() == last_reply
            last_reply = text.strip()
            reply = parsing.parse_reply(text)
            placeholder = reply.final_kind == "FINAL" and parsing.is_placeholder(reply.final_value or "")
            if not reply.code_blocks and reply.prose and not parsing.looks_like_plan(reply.prose) and not placeholder:
                self.partial = reply.prose  # the best fallback if the run is stopped
            messages.append({"role": "assistant", "content": reply.history})
            turn = self._run_blocks(repl, reply, question)
            if turn.answer is None and reply.final_kind is not None:
                turn.answer, refusal = self._text_final(repl, reply)
                self._advise(turn, [refusal])
            idle = self.guide.idle(question, reply.prose) if not (reply.code_blocks or reply.final_kind) else None
            stated = idle is not None and idle.final is not None
            if stated:
                turn.answer = idle.final
            if turn.answer is not None and (answer := self._accept(question, turn)) is not None:
                if stated:
                    self._notice("guide", idle.notice)
                return Outcome(answer, True, "ok", self.iterations)
            if self.code_ran and (placeholder or turn.placeholder or (self.resample and not reply.code_blocks)):
                self._rescue(repl, turn, question)
            self.resample = self.resample or any(a.resample for a in turn.advice)
            if turn.blocks and reply.final_kind is None and sum(a.drop_reply for a in turn.advice) == len(turn.blocks):
                # Every block was one already run: copies of it in the conversation get copied again,
                # so the conversation keeps the first copy, its output, and the advice.
                _fold(messages, [a.text for a in turn.advice])
                continue
            if not reply.code_blocks and reply.final_kind is None:
                turn.feedback.append(prompts.NO_CODE)
                self._notice("nudge", "no code and no final answer: reminded the model")
                self._advise(turn, [None if stated else idle])  # a doubted answer gets the doubt, not its FINAL line
            failed = bool(turn.blocks) and not turn.blocks[-1].ok
            turn.feedback.append((prompts.CONTINUE_FAILED if failed else prompts.CONTINUE).format(question=question))
            self._shrink_old_outputs(messages)
            messages.append({"role": "user", "content": "\n\n".join(turn.feedback)})
        return self._last_call(messages)

    def _advise(self, turn: Turn, advice: list[Advice | None]) -> None:
        for item in advice:
            if item is not None:
                turn.advice.append(item)
                turn.feedback.append(item.text)
                self._notice("nudge", item.notice)

    def _root_call(self, messages: list[dict[str, str]]) -> Completion:
        spec = self.model
        if self.resample and (spec.temperature or 0.0) < RESAMPLE_TEMPERATURE:
            spec = replace(spec, temperature=RESAMPLE_TEMPERATURE)
            self._notice(
                "nudge", f"the model repeats itself: this reply is sampled at temperature {RESAMPLE_TEMPERATURE}"
            )
        self.resample = False
        completion = self.run.call(spec, messages, self.depth, stop=prompts.STOP_SEQUENCES)
        self.run.emit(
            ev.ModelReply(
                depth=self.depth,
                iteration=self.iterations,
                model=completion.model,
                text=completion.text,
                input_tokens=completion.input_tokens,
                output_tokens=completion.output_tokens,
                latency_s=completion.latency_s,
                usage=self.run.budget.snapshot(),
            )
        )
        return completion

    def _first_block(self, repl: ReplProcess, code: str, question: str) -> str:
        """Run the guide's first block before the first turn; what the first message adds about it."""
        self._notice("guide", "ran the guide's first block before the first turn")
        ran = prompts.FIRST_BLOCK_RAN.format(question=question)
        return "\n\n".join([ran, *self._guide_block(repl, code, question), prompts.ANSWER_OR_NEXT])

    def _rescue(self, repl: ReplProcess, turn: Turn, question: str) -> None:
        """The model has stopped making progress: the guide's advice, and the output of the block it gives."""
        advice = self.guide.stuck(question)
        self._advise(turn, [advice])
        if advice is not None and advice.code:
            turn.feedback += self._guide_block(repl, advice.code, question)

    def _guide_block(self, repl: ReplProcess, code: str, question: str) -> list[str]:
        """Run a block the guide wrote, outside any reply: its output and the guide's advice on it."""
        turn = Turn()
        self._run_block(repl, 0, code, question, turn)
        return turn.feedback

    def _run_block(self, repl: ReplProcess, index: int, code: str, question: str, turn: Turn) -> Block:
        """Run one block: its events, its output and the guide's advice on it go into `turn`."""
        self.run.emit(ev.CodeStarted(depth=self.depth, iteration=self.iterations, index=index, code=code))
        result = repl.run(code, self.config.exec_timeout, self.run.budget.deadline)
        notes = tuple(Note(**n) for n in result.notes)
        self.run.emit(
            ev.CodeExecuted(
                depth=self.depth,
                iteration=self.iterations,
                index=index,
                code=code,
                output=result.output,
                cut_chars=result.cut,
                elapsed_s=result.elapsed_s,
                state_lost=result.state_lost,
            )
        )
        if result.state_lost:
            self._notice("repl", result.output)
        block = Block(index, code, result.output, result.status == "ok", notes, result.final)
        turn.blocks.append(block)
        plain = [note.text() for note in notes if note.kind in PLAIN_NOTES]
        turn.feedback.append("\n".join([*plain, prompts.cell_feedback(index, result.output, result.cut)]))
        if block.ok:  # an error message is no partial answer
            self.last_output = result.output
        self.code_ran = self.code_ran or block.ok
        for advice in self.guide.after_block(question, block):
            if advice.final is None:
                self._advise(turn, [advice])
            else:  # the guide reads the block as stating the model's answer (its doubts still apply)
                turn.answer = advice.final
                self._notice("guide", advice.notice)
        return block

    def _run_blocks(self, repl: ReplProcess, reply: parsing.Reply, question: str) -> Turn:
        """Run the reply's blocks in order, until one fails or calls FINAL."""
        turn = Turn()
        for index, code in enumerate(reply.code_blocks, 1):
            block = self._run_block(repl, index, code, question, turn)
            if turn.answer is not None:
                return turn
            if block.final is not None:
                if parsing.looks_like_plan(block.final):
                    self._advise(turn, [Advice(prompts.PLAN, "FINAL called with a plan: refused")])
                elif parsing.is_placeholder(block.final):  # FINAL(answer) in code, with no variable `answer`
                    turn.placeholder = True
                    self._advise(turn, [self._placeholder(block.final)])
                else:
                    turn.answer = block.final
                return turn
            if not block.ok:
                break  # later blocks likely depend on this one
        return turn

    def _text_final(self, repl: ReplProcess, reply: parsing.Reply) -> tuple[str | None, Advice | None]:
        """A FINAL or FINAL_VAR written as text: the answer, or why it is refused (docs/final-answers.md)."""
        value = reply.final_value or ""
        if reply.final_kind == "FINAL_VAR":
            name = value.strip().strip("'\"")
            found = repl.get_var(name) if name.isidentifier() else None
            if found is not None:
                return found, None
            return None, Advice(prompts.MISSING_VAR.format(name=name), f"FINAL_VAR({name}): no such variable")
        if not self.code_ran:
            return None, Advice(prompts.NO_DATA_YET, "final answer before any code ran: refused")
        if reply.final_after_code or reply.final_after_output:
            self.partial = value
            if reply.final_after_code:
                return None, Advice(prompts.FINAL_BEFORE_OUTPUT, "final answer written before its code's output")
            return None, Advice(prompts.WROTE_OUTPUT, "final answer after an output the model wrote itself")
        if parsing.looks_like_plan(value):
            return None, Advice(prompts.PLAN, "final answer looks like a plan: refused")
        if prompts.NO_OUTPUT.split(".")[0] in value:  # copied from an output the engine rendered, not the data's
            return None, Advice(prompts.ECHOED_NOTE.format(answer=value), "final answer echoes the no-output note")
        if value.isidentifier():
            # FINAL(top3) names a variable; FINAL(answer) with no such variable is a placeholder; FINAL(yes) is text.
            found = repl.get_var(value)
            if found is not None:
                return found, None
            if parsing.is_placeholder(value):
                return None, self._placeholder(value)
        return value, None

    @staticmethod
    def _placeholder(name: str) -> Advice:
        return Advice(prompts.PLACEHOLDER.format(name=name), f"FINAL({name}): a placeholder: refused")

    def _accept(self, question: str, turn: Turn) -> str | None:
        """The turn's answer, unless the guide doubts it; a doubted answer is kept as the partial one."""
        assert turn.answer is not None
        if turn.answer.strip().startswith(prompts.SUBCALL_ERROR.split("{")[0]):
            self._advise(turn, [Advice(prompts.ERROR_ANSWER, "final answer is a failed sub-call's error: refused")])
            turn.answer = None
            return None
        advice = self.guide.doubt(question, turn.answer)
        if advice is None:
            return turn.answer
        self.partial = turn.answer
        self._advise(turn, [advice])
        turn.answer = None
        return None

    def _last_call(self, messages: list[dict[str, str]]) -> Outcome:
        """Iterations are spent: one last call for the best answer, returned as not final."""
        limit = self.config.limits.max_iterations
        self._notice("budget", f"max iterations ({limit}) reached; asking for a best answer")
        messages.append({"role": "user", "content": prompts.LAST_CALL})
        error = BudgetExhausted("iterations", f"iteration budget of {limit} exhausted")
        try:
            reply = parsing.parse_reply(self._root_call(messages).text)
        except (BudgetExhausted, ModelError):
            return Outcome(self._best_partial(), False, "budget_exhausted", self.iterations, error)
        answer = reply.final_value if reply.final_kind else (None if reply.code_blocks else reply.prose)
        name = (answer or "").strip().strip("'\"")
        if reply.final_kind and name.isidentifier() and self.repl is not None:
            # FINAL(answer) or FINAL_VAR(answer) names a variable a block bound: its value is the answer.
            found = self.repl.get_var(name)
            answer = found if found is not None or reply.final_kind == "FINAL_VAR" else answer
        if answer and (parsing.is_placeholder(answer) or parsing.looks_like_plan(answer)):
            answer = None
        return Outcome(answer or self._best_partial(), False, "budget_exhausted", self.iterations, error)

    def _best_partial(self) -> str | None:
        """A refused or prose answer if there was one, else the end of the last output: never code."""
        return self.partial or partial_from_output(self.last_output)

    def _shrink_old_outputs(self, messages: list[dict[str, str]]) -> None:
        for message in messages[2:]:
            content = message["content"]
            if message["role"] == "user" and len(content) > OLD_OUTPUT_CHARS + 200:
                cut = len(content) - OLD_OUTPUT_CHARS
                message["content"] = f"{content[:OLD_OUTPUT_CHARS]}\n[... {cut} characters of this old output cut]"

    def _notice(self, kind: str, message: str) -> None:
        self.run.emit(ev.Notice(depth=self.depth, kind=kind, message=message))

    # --- model calls from the REPL -----------------------------------------------------------
    def _on_llm(self, prompts_: list[str], model: str | None, batched: bool) -> list[str]:
        """Serve llm_query / llm_query_batched for the REPL: concurrently, in order, errors per item."""
        return [reply.text for reply in self._serve(prompts_, model, choose=False)]

    def _on_choose(self, prompts_: list[str], model: str | None) -> list[tuple[str, Alternatives | None]]:
        """Serve classify()'s choices: each reply with its first token's alternatives, when the server gives them."""
        return [(reply.text, reply.first_tokens) for reply in self._serve(prompts_, model, choose=True)]

    def _serve(self, prompts_: list[str], model: str | None, choose: bool) -> list[SubReply]:
        if not prompts_:
            return []  # only a forged request is empty (the REPL answers [] itself): nothing to run
        batch_id = self.run.next_batch_id()
        started = time.monotonic()
        self.run.emit(ev.BatchStarted(depth=self.depth, batch_id=batch_id, size=len(prompts_)))
        if len(prompts_) == 1:
            results = [self._one_subcall(batch_id, 0, prompts_[0], model, choose)]
        else:
            workers = min(max(self.config.concurrency, 1), len(prompts_))
            # No `with`: on Ctrl-C or a spent budget we must not wait for calls still in flight.
            pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="rlm-sub")
            futures = [pool.submit(self._one_subcall, batch_id, i, p, model, choose) for i, p in enumerate(prompts_)]
            try:
                results = [f.result() for f in futures]
            except KeyboardInterrupt:
                self.run.budget.cancel("interrupted")
                raise
            finally:
                pool.shutdown(wait=False, cancel_futures=True)
        failed = sum(1 for r in results if r.failed)
        self.run.emit(
            ev.BatchFinished(
                depth=self.depth,
                batch_id=batch_id,
                size=len(prompts_),
                failed=failed,
                elapsed_s=time.monotonic() - started,
            )
        )
        return results

    def _sub_spec(self, model: str | None) -> ModelSpec:
        """The model a sub-call may use: code (maybe steered by injected text) picks only configured ones."""
        if model is None or model == self.config.sub.model:
            return self.config.sub
        if model == self.config.root.model:
            return self.config.root
        self.run.warn_once(
            f"model:{model}",
            f"llm_query(model={model!r}) ignored: sub-calls may use only the configured models",
            self.depth,
        )
        return self.config.sub

    def _one_subcall(self, batch_id: int, index: int, prompt: str, model: str | None, choose: bool) -> SubReply:
        """One sub-call; at depth 2 or more it is a child RLM over the prompt, unless it is a choice of a label."""
        self.run.budget.reserve_subcall()
        spec = self._sub_spec(model)
        if choose:
            spec = replace(spec, top_logprobs=CHOICE_ALTERNATIVES, max_output_tokens=CHOICE_TOKENS)
        recursive = not choose and self.depth + 1 < self.config.max_depth and self.run.reserve_child(self.depth)
        started = time.monotonic()
        error: str | None = None
        tokens = (0, 0)
        top: Alternatives | None = None
        try:
            if recursive:
                text = self._child_rlm(prompt, spec)
            else:
                completion = self.run.call(
                    spec,
                    [
                        {"role": "system", "content": prompts.SUB_SYSTEM_PROMPT},
                        {"role": "user", "content": prompt},
                    ],
                    self.depth + 1,
                )
                text, top = completion.text, completion.first_tokens
                tokens = (completion.input_tokens, completion.output_tokens)
        except ModelError as exc:
            error = exc.message
            text = prompts.SUBCALL_ERROR.format(message=exc.message)
        self.run.emit(
            ev.SubcallFinished(
                depth=self.depth,
                batch_id=batch_id,
                index=index,
                model=spec.model,
                prompt=prompt,
                response=text,
                input_tokens=tokens[0],
                output_tokens=tokens[1],
                latency_s=time.monotonic() - started,
                error=error,
                recursive=recursive,
                usage=self.run.budget.snapshot(),
            )
        )
        return SubReply(text, top, error is not None)

    def _child_rlm(self, prompt: str, spec: ModelSpec) -> str:
        """Depth recursion: the sub-call is a full RLM, driven by the sub-model, whose context is the prompt."""
        child = RLM(self.run, self.depth + 1, spec)
        try:
            outcome = child.solve(prompts.CHILD_QUESTION.format(head=prompt[:1_000]), corpus_from_text(prompt))
        finally:
            self.run.release_child()  # the child's REPL is closed by now
        if (
            outcome.error is not None
            and isinstance(outcome.error, BudgetExhausted)
            and outcome.error.budget != "iterations"
        ):
            raise outcome.error
        if outcome.answer is None:
            message = outcome.error.message if outcome.error else "no answer"
            raise ModelError(f"recursive sub-call gave no answer ({message})")
        return outcome.answer


def _fold(messages: list[dict[str, str]], nudges: list[str]) -> None:
    """Drop the last reply and add its nudges to the output before it, so the model never sees it to copy."""
    messages.pop()
    new = [n for n in nudges if n not in messages[-1]["content"]]
    messages[-1]["content"] = "\n\n".join([messages[-1]["content"], *new])


def partial_from_output(output: str, most_lines: int = 3, most_chars: int = 300) -> str | None:
    """The last lines an output printed, as a partial answer: what a block that computes a result prints last."""
    lines = [line.strip() for line in output.strip().splitlines() if line.strip()]
    text = "\n".join(lines[-most_lines:])
    return text[-most_chars:] if text else None
