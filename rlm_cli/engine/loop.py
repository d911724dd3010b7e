"""The RLM loop: the root model writes code, the REPL runs it, sub-calls fan out, until a final answer.

The engine emits events and never renders; the CLI chooses who listens.
"""

from __future__ import annotations

import ast
import itertools
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

from rlm_cli.engine import events as ev
from rlm_cli.engine import parsing, prompts
from rlm_cli.engine.budget import Budget, Limits
from rlm_cli.engine.model import Completion, ModelClient, ModelSpec
from rlm_cli.errors import BudgetExhausted, ModelError, RlmError
from rlm_cli.guidance import checks
from rlm_cli.inputs.bundle import SEPARATOR_TEMPLATE, write_bundle
from rlm_cli.inputs.corpus import Corpus, Document
from rlm_cli.repl import helpers as replkit
from rlm_cli.repl.process import ReplConfig, ReplProcess
from rlm_cli.repl.sandbox import SandboxPolicy

Emit = Callable[[ev.Event], None]
# Older REPL outputs are shrunk to this many characters, so a long run fits a small model's window.
OLD_OUTPUT_CHARS = 1_500
PLACEHOLDERS = {"answer", "result", "final_answer", "your_answer", "the_answer", "answer_here", "output", "value"}
EVIDENCE_LINE = 500  # longer output lines are data dumps, not evidence for an answer (grep cuts lines to 500)
# At temperature 0 a model that reran a block reruns it again, however it is told not to: sample once instead.
UNSTICK_TEMPERATURE = 0.7


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
        if completion.cost_usd is None:
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


class RLM:
    """One recursive language model at one depth: a root loop over its own REPL process."""

    def __init__(self, run: Run, depth: int = 0, model: ModelSpec | None = None) -> None:
        self.run = run
        self.depth = depth
        self.config = run.config
        self.model = model or run.config.root
        self.repl: ReplProcess | None = None
        self.code_ran = False
        self.partial: str | None = None
        self.iterations = 0
        self.seen: list[str] = []  # everything the model was shown, to check its answers against
        self.pushed_back = False
        self.doubted_empty = False  # an answer right after a block that found nothing was questioned once
        self.doubted_count = 0  # answers to "exactly N" or "at least N" from code that never tested it, so far
        self.last_code = ""  # the last block run, whose output an answer comes from
        self.found_nothing = False  # the last block printed only an empty result, or made a set of None
        self.shapes: list[str] = []  # the input's message shapes, to show what a block's filter keeps
        self.texts: list[str] = []  # the input as `context` holds it, to check the strings code looks for
        self.flaws: list[checks.Flaw] = []  # mistakes in the last block that its output does not show
        self.doubted_flaws = False  # an answer from such code was questioned once
        self.ran: set[str] = set()  # code already run, to tell a model stuck repeating itself
        self.reruns: list[str] = []  # nudges for this reply's blocks that were run before
        self.fold = False  # the reply is dropped and its nudge joins the output before it (see _fold)
        self.last_result: str | None = None  # the last line the last block printed, when short
        self.last_failed = False  # the last block run stopped with an error
        self.stuck = False  # the last reply reran a block already run, or repeated the reply before it

    # --- the loop ---------------------------------------------------------------------------
    def solve(self, question: str, corpus: Corpus) -> Outcome:
        try:
            return self._solve(question, corpus)
        except BudgetExhausted as exc:
            if exc.budget == "cancelled":
                return Outcome(self.partial, False, "interrupted", self.iterations, exc)
            return Outcome(self.partial, False, "budget_exhausted", self.iterations, exc)
        except KeyboardInterrupt:
            self.run.budget.cancel("interrupted")
            return Outcome(self.partial, False, "interrupted", self.iterations)
        except RlmError as exc:
            return Outcome(self.partial, False, "error", self.iterations, exc)
        finally:
            if self.repl is not None:
                self.repl.close()

    def _start_repl(self, corpus: Corpus, question: str) -> ReplProcess:
        repl = ReplProcess(
            lambda workdir: write_bundle(corpus, workdir),
            ReplConfig(output_limit=self.config.output_limit, question=question),
            self._on_llm,
        )
        self.repl = repl
        repl.config.sandbox = SandboxPolicy.for_input(
            corpus.total_chars, repl.workdir, enabled=self.config.sandbox, **self.config.sandbox_overrides
        )
        repl.start()
        for warning in repl.warnings:
            self.run.warn_once(f"sandbox:{warning}", warning, self.depth)
        return repl

    def _solve(self, question: str, corpus: Corpus) -> Outcome:
        repl = self._start_repl(corpus, question)
        headers = [SEPARATOR_TEMPLATE.format(path=d.path) for d in corpus.documents]
        self.texts = headers + [d.text for d in corpus.documents]
        opening = prompts.opening(question, corpus.documents, SEPARATOR_TEMPLATE, self.config.sub_chars)
        self.shapes = opening.shapes
        messages = opening.messages
        self.seen.append(messages[1]["content"])
        limits = self.config.limits
        last_reply = None
        while self.iterations < limits.max_iterations:
            self.iterations += 1
            self.run.emit(
                ev.TurnStarted(depth=self.depth, iteration=self.iterations, max_iterations=limits.max_iterations)
            )
            reply = self._root_call(messages).text
            self.stuck = self.stuck or reply.strip() == last_reply  # the same reply to new feedback: a loop
            last_reply = reply.strip()
            parsed = parsing.parse_reply(reply)
            if not parsed.code_blocks and parsed.prose and not parsing.looks_like_plan(parsed.prose):
                # A prose answer is the best fallback if the run is stopped; a FINAL(answer) placeholder is not.
                placeholder = parsed.final_kind == "FINAL" and (parsed.final_value or "").lower() in PLACEHOLDERS
                self.partial = self.partial if placeholder else parsed.prose
            messages.append({"role": "assistant", "content": parsed.history})
            feedback: list[str] = []
            self.reruns = []
            answer = self._execute(repl, parsed, feedback, question)
            if answer is None and parsed.final_kind is None and len(self.reruns) == len(parsed.code_blocks) > 0:
                # Only code it already ran: copies of it in the conversation make a small model copy it again,
                # so the conversation keeps one copy, its output, and the nudge.
                _fold(messages, self.reruns)
                continue
            self.fold = False
            if answer is None and parsed.final_kind is not None:
                answer = self._text_final(repl, parsed, feedback, question)
            if answer is not None:
                return Outcome(answer, True, "ok", self.iterations)
            if self.fold and not parsed.code_blocks:
                # The same goes for an answer refused for what its code did: seen, it is repeated word for word.
                _fold(messages, feedback)
                continue
            if not parsed.code_blocks and parsed.final_kind is None:
                feedback.append(prompts.no_code(checks.key_terms(question, self.texts)))
                self._notice("nudge", "no code and no final answer: nudged the model")
            elif parsed.code_blocks:
                feedback.append(prompts.reminder(question, opening.records, failed=self.last_failed))
            self._shrink_old_outputs(messages)
            messages.append({"role": "user", "content": "\n\n".join(feedback)})
        return self._last_call(messages)

    def _root_call(self, messages: list[dict[str, str]]) -> Completion:
        spec = self.model
        if self.stuck and (spec.temperature or 0.0) < UNSTICK_TEMPERATURE:
            spec = replace(spec, temperature=UNSTICK_TEMPERATURE)
            self._notice(
                "nudge", f"the model repeats itself: this reply is sampled at temperature {UNSTICK_TEMPERATURE}"
            )
        self.stuck = False
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

    def _execute(self, repl: ReplProcess, parsed: parsing.Reply, feedback: list[str], question: str) -> str | None:
        """Run the reply's blocks in order; a FINAL called in code ends the turn."""
        for index, code in enumerate(parsed.code_blocks, 1):
            self.run.emit(ev.CodeStarted(depth=self.depth, iteration=self.iterations, index=index, code=code))
            result = repl.run(code, self.config.exec_timeout, self.run.budget.deadline)
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
            self.seen.append(result.output)
            feedback.append(prompts.cell_feedback(index, result.output, result.cut))
            notes, self.flaws = checks.shape_notes(code, self.shapes, question)
            if result.status == "ok":
                feedback += notes
            self.flaws += checks.code_flaws(code, self.texts, question)
            for flaw in self.flaws:
                feedback.append(flaw.nudge)
                self._notice("nudge", flaw.notice)
            key = _code_key(code)
            if key in self.ran and result.final is None:
                self.reruns.append(prompts.repeated_code(result.output, result.status == "ok"))
                self._notice("nudge", "the same code ran again: nudged the model")
                self.stuck = True
            self.ran.add(key)
            if result.status == "ok":
                self.code_ran = True
            self.last_result = _short_result(result.output) if result.status == "ok" else None
            self.last_failed = result.status != "ok"
            # A set of only None (from lines without the field) is nothing found, though len() printed 1.
            nothing = prompts.found_nothing(result.output) or replkit.only_none(result.output)
            self.found_nothing = result.status == "ok" and nothing
            self.last_code = code
            if result.final is not None:
                if parsing.looks_like_plan(result.final):
                    feedback.append(prompts.NUDGE_PLAN)
                    self._notice("nudge", "FINAL called with a plan: refused")
                    return None
                if self._doubt_flaws(result.final):
                    return None
                return result.final
            if result.status != "ok":
                break  # later blocks likely depend on this one
        return None

    def _text_final(self, repl: ReplProcess, parsed: parsing.Reply, feedback: list[str], question: str) -> str | None:
        """Decide whether a FINAL/FINAL_VAR written as text is an answer (README: "Final answers")."""
        value = parsed.final_value or ""
        if parsed.final_kind == "FINAL_VAR":
            name = value.strip().strip("'\"")
            found = repl.get_var(name) if name.isidentifier() else None
            if found is None:
                feedback.append(prompts.NUDGE_MISSING_VAR.format(name=name))
                self._notice("nudge", f"FINAL_VAR({name}): no such variable")
                return None
            return found
        if not self.code_ran:
            feedback.append(prompts.NUDGE_NO_DATA_YET)
            self._notice("nudge", "final answer before any code ran: refused")
            return None
        if parsed.final_after_code or parsed.final_after_output:
            self.partial = value
            if parsed.final_after_code:
                feedback.append(prompts.NUDGE_FINAL_BEFORE_OUTPUT)
                self._notice("nudge", "final answer written before seeing the code's output: refused")
            else:
                feedback.append(prompts.NUDGE_WROTE_OUTPUT)
                self._notice("nudge", "final answer given after an output the model wrote itself: refused")
            return None
        if parsing.looks_like_plan(value):
            feedback.append(prompts.NUDGE_PLAN)
            self._notice("nudge", "final answer looks like a plan: refused")
            return None
        if value.isidentifier():
            # FINAL(top3) names a variable; FINAL(answer) with no such variable is a placeholder; FINAL(yes) is text.
            found = repl.get_var(value)
            if found is not None and not any(value in text for text in self.seen):
                return found
            if found is None and value.lower() in PLACEHOLDERS:
                if self.last_result is not None:
                    # "FINAL(answer)" right after a block printed a short result means that result.
                    self._notice("nudge", f"FINAL({value}): took the last printed result as the answer")
                    return self.last_result
                feedback.append(prompts.NUDGE_PLACEHOLDER.format(name=value))
                self._notice("nudge", f"FINAL({value}): a placeholder, not an answer: refused")
                return None
        if self.doubted_count < 2 and (nudge := checks.misses_count_test(question, self.last_code)):
            # Twice, since small models repeat the answer once; the repeat is then sampled (see `stuck`).
            self.doubted_count += 1
            self.partial = value
            self.fold = True
            feedback.append(nudge)
            self._notice("nudge", "the question asks for a count the code never tested: questioned")
            return None
        if self._doubt_flaws(value):
            feedback.append(prompts.NUDGE_FLAWED_ANSWER)
            return None
        if self.found_nothing and not self.doubted_empty:
            self.doubted_empty = True  # once: the answer may really be none
            self.partial = value
            feedback.append(prompts.NUDGE_EMPTY_ANSWER)
            self._notice("nudge", "final answer right after code that found nothing: questioned once")
            return None
        if not self.pushed_back and self._doubtful(value, feedback, question):
            self.pushed_back = True  # once: the model may know better, e.g. a sum it did in its head
            return None
        return value

    def _doubt_flaws(self, answer: str) -> bool:
        """Once, an answer from code with a known mistake is not taken; its block's nudge says which."""
        if not self.flaws or self.doubted_flaws:
            return False
        self.doubted_flaws = True
        self.partial = answer
        self._notice("nudge", f"final answer from flawed code ({self.flaws[0].notice}): questioned")
        return True

    def _doubtful(self, answer: str, feedback: list[str], question: str) -> bool:
        """Values never shown, or cut short, are how small models guess; challenge them once."""
        seen = "\n".join(self.seen)
        # A value buried in a long dump of data (`print(recs[:3])`) was seen, not found: small models answer
        # with a number from a timestamp or a record count that way.
        results = "\n".join(line for text in self.seen for line in text.splitlines() if len(line) <= EVIDENCE_LINE)
        repeated = checks.repeated_items(answer)
        if repeated:
            feedback.append(prompts.NUDGE_REPEATED.format(values=", ".join(repeated[:3])))
            self._notice("nudge", f"final answer names items more than once: {repeated[:3]}")
            return True
        unsupported = checks.unsupported_values(answer, results)
        if unsupported:
            feedback.append(prompts.NUDGE_UNSUPPORTED.format(values=", ".join(unsupported[:5])))
            self._notice("nudge", f"final answer has values never seen in the REPL output: {unsupported[:5]}")
            return True
        if term := checks.off_key(question, answer, self.texts):
            feedback.append(prompts.NUDGE_OFF_KEY.format(answer=answer.strip(), term=term))
            self._notice("nudge", f"final answer is nowhere near {term!r} in the input: questioned once")
            return True
        if nudge := checks.misread_counts(question, answer, self.seen[-1]):
            feedback.append(nudge)
            self._notice("nudge", f"final answer {answer.strip()} misreads the printed counts: questioned once")
            return True
        if read := checks.read_off_records(question, answer, self.seen[1:]):
            feedback.append(prompts.NUDGE_READ_OFF_RECORDS.format(values=", ".join(read[:3])))
            self._notice("nudge", f"final answer read off printed records: {read[:3]}")
            return True
        if checks.counted_by_eye(question, answer, self.seen[1:]):
            feedback.append(prompts.NUDGE_COUNTED_BY_EYE.format(answer=answer.strip()))
            self._notice("nudge", f"final answer {answer.strip()} is a count no output printed: questioned once")
            return True
        longer = checks.truncated_values(answer, seen)
        if longer:
            feedback.append(prompts.NUDGE_TRUNCATED.format(values=", ".join(longer[:3])))
            self._notice("nudge", f"final answer may cut a value short: {longer[:3]}")
            return True
        # The last output first: "health" may be a word elsewhere ("health check ok") and "/health" there.
        paths = checks.path_tails(answer, self.seen[-1]) or checks.path_tails(answer, seen)
        if paths:
            feedback.append(prompts.NUDGE_PATH_TAILS.format(values=", ".join(paths)))
            self._notice("nudge", f"final answer shortens paths: {paths[:3]}")
            return True
        counted = [(kept, total) for kept, total in replkit.none_counts(self.seen[-1]) if answer.strip() == str(total)]
        if counted:
            kept, total = counted[0]
            feedback.append(prompts.NUDGE_NONE_COUNTED.format(kept=kept, total=total))
            self._notice("nudge", f"final answer {total} counts None as a value: questioned once")
            return True
        return False

    def _last_call(self, messages: list[dict[str, str]]) -> Outcome:
        """Iterations are spent: one last call for the best answer, returned as not final."""
        limit = self.config.limits.max_iterations
        self._notice("budget", f"max iterations ({limit}) reached; asking for a best answer")
        messages.append({"role": "user", "content": prompts.NUDGE_LAST_CALL})
        error = BudgetExhausted("iterations", f"iteration budget of {self.config.limits.max_iterations} exhausted")
        try:
            reply = self._root_call(messages)
        except (BudgetExhausted, ModelError):
            return Outcome(self.partial, False, "budget_exhausted", self.iterations, error)
        parsed = parsing.parse_reply(reply.text)
        answer = parsed.final_value if parsed.final_kind == "FINAL" else (parsed.prose or reply.text.strip())
        if answer and answer.lower() in PLACEHOLDERS:
            answer = self.last_result  # "FINAL(answer)": the last short result is the best there is
        return Outcome(answer or self.partial, False, "budget_exhausted", self.iterations, error)

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
        batch_id = self.run.next_batch_id()
        started = time.monotonic()
        self.run.emit(ev.BatchStarted(depth=self.depth, batch_id=batch_id, size=len(prompts_)))
        if len(prompts_) == 1:
            results = [self._one_subcall(batch_id, 0, prompts_[0], model)]
        else:
            workers = min(max(self.config.concurrency, 1), len(prompts_))
            # No `with`: on Ctrl-C or a spent budget we must not wait for calls still in flight.
            pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="rlm-sub")
            futures = [pool.submit(self._one_subcall, batch_id, i, p, model) for i, p in enumerate(prompts_)]
            try:
                results = [f.result() for f in futures]
            except KeyboardInterrupt:
                self.run.budget.cancel("interrupted")
                raise
            finally:
                pool.shutdown(wait=False, cancel_futures=True)
        failed = sum(1 for r in results if r.startswith("[llm_query error"))
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

    def _one_subcall(self, batch_id: int, index: int, prompt: str, model: str | None) -> str:
        self.run.budget.reserve_subcall()
        spec = self._sub_spec(model)
        recursive = self.depth + 1 < self.config.max_depth
        started = time.monotonic()
        error: str | None = None
        tokens = (0, 0)
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
                text = completion.text
                tokens = (completion.input_tokens, completion.output_tokens)
        except ModelError as exc:
            error = exc.message
            text = f"[llm_query error: {exc.message}]"
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
        return text

    def _child_rlm(self, prompt: str, spec: ModelSpec) -> str:
        """Depth recursion: the sub-call is a full RLM, driven by the sub-model, whose context is the prompt."""
        child = RLM(self.run, self.depth + 1, spec)
        outcome = child.solve(prompts.CHILD_QUESTION.format(head=prompt[:1_000]), corpus_from_text(prompt))
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


def _code_key(code: str) -> str:
    """The same code however it is spaced or commented."""
    try:
        return ast.dump(ast.parse(code))
    except SyntaxError:
        return " ".join(code.split())


def _short_result(output: str) -> str | None:
    """The last line of a short output: what a block that computes an answer prints last."""
    lines = [line.strip() for line in output.strip().splitlines() if line.strip() and not line.startswith("[note:")]
    if not lines or len(output) > 2_000 or len(lines[-1]) > 300:
        return None
    return lines[-1]
