"""The texts the small-model guide adds: each says what was found in the code, the output or the data, and
what to do next. They never restate the question's meaning; that is the model's to read.
"""

from __future__ import annotations

EXAMPLES = """\
More examples:

Question: What is the backup server's address?
```repl
for line in grep("backup server")[:10]:
    print(line)
```
(output: "notes.txt:88: the backup server address is 10.2.7.19:8443")
FINAL(10.2.7.19:8443)

Question: Why did the nightly job fail?
```repl
hits = grep(r"error|fail|exception|traceback|killed|denied")
print(len(hits))
for line in hits[-15:]:
    print(line)
```
(output: the count, then the last lines that report trouble)
```repl
last = "\\n".join(hits[-40:])
answer = llm_query("In two sentences: what made this job fail? Quote the decisive error.\\n\\n" + last)
print(answer)
```
(output: the helper model's two sentences, quoting the error that stopped the job)
FINAL_VAR(answer)
"""

ABSENT_WORDS = (
    "Your code looks for {words}, which the input never contains (in any case): those tests never match. "
    "Use the words and values the data itself uses (print a few real lines or records first)."
)
BLIND_QUERY = (
    "`{call}` sends the helper model only the words written in it, none of the input: it has not read the "
    "data, so its reply is a guess. Put the lines it should read into the prompt, e.g. "
    '`llm_query(f"<the question>\\n{{lines}}")`, or answer from the lines your code printed.'
)
COUNTED_SET = (
    "`{call}` counts a set, so every item in it counts once and no count is right. Count the records "
    "themselves: `{meant}`."
)
CASE_MISS = (
    "`{text!r} in ...` is case-sensitive, so it skips the {n} message shape(s) that hold it in another case: "
    '{examples}. If those lines count, test `{lower!r} in r["message"].lower()`.'
)
LEVEL_IN_MESSAGE = (
    'Your code looks for {text!r} inside r["message"], but records() keeps a line\'s level in r["level"] and '
    'no message holds {text!r}, so that test never matches. Test the level instead: r["level"] == {level!r}.'
)
FLAWED_ANSWER = (
    "That answer comes from code with the mistake named above, so it is not accepted yet. Fix the code and run "
    "it again; if the code is right as it is, reply FINAL(answer) again."
)
NOTHING_FOUND = (
    "Your code found nothing. That usually means the data is written differently from what you assumed, "
    "not that the answer is none. Print a few real lines (grep a word of the question) and match what you see."
)
EMPTY_ANSWER = (
    "That answer rests on code that found nothing, which usually means the filter does not match how the data "
    "is written. Check your filter against real lines and values, and run it again. If you are sure the answer "
    "is none, reply FINAL(answer) again."
)
UNDEFINED = (
    "`{name}` does not exist: a variable exists only once a block that assigns it has run without error. "
    "Assign it in your next block (e.g. `recs = records()`) before using it."
)
REPEATED_RESULT = (
    "You already ran exactly this code, and it printed the same: {result}\nIf that answers the question, "
    "reply FINAL(answer) now, with no code. If not, change the code."
)
BOUND_TEXT = (
    "Your block only set `{name}` to text you wrote, and printed nothing. If that text is your answer, reply "
    "with only this line:\nFINAL_VAR({name})"
)
REPEATED_CODE = (
    "You already ran exactly this code, so its output cannot change. Do something different: print a few "
    "real records or lines and check the values you filter on."
)
PASTED = (
    "That block is not code: it is the input's own text, copied. The input is already in `context`, and the "
    "REPL reads it there; never type it. {offer}"
)
STUCK = (
    "You are not getting closer to an answer. This block was run for you: it hands the question, what your code "
    "printed, the lines of the input that report trouble and its end to the helper model, and binds its reply "
    "to `answer`:\n```repl\n{code}\n```\nIf the helper model's answer (below) fits what the outputs show, reply "
    "FINAL_VAR(answer). If not, write a ```repl block that finds what it lacks."
)
PROSE_ANSWER = "If that is your answer, reply with only this line, and with the answer itself in it:\nFINAL({answer})"
NO_CODE_KEY = (
    "To see the lines that mention {key!r}, reply with only this block:\n```repl\n"
    "for line in grep({key!r})[:10]:\n    print(line)\n```"
)
# Words logs of every kind use for trouble: where a run that went wrong says what went wrong. Not "timeout":
# it names settings and tests (`--timeout=60`, `test_retries_after_timeout PASSED`) as often as events.
# Every alternative is a plain word or phrase, so the longest is the widest match.
TROUBLE = r"error|fail|fatal|exception|panic|killed|denied|refused|timed out|traceback"
INPUT_END = 1500  # how much of the input's end a block shows: where a run that stopped says why
NO_CODE_LOOK = (
    "Answer from the data, not from a guess. To see the lines that report trouble and how the input ends, "
    "reply with only this block:\n```repl\n"
    f'hits = grep(r"{TROUBLE}")\n'
    'print(len(hits), "lines report trouble; the last ones:")\n'
    "for line in hits[-15:]:\n    print(line)\n"
    f'print("--- the end of the input ---")\nprint(context[-{INPUT_END}:])\n```'
)
ALL_COUNTED = (
    "Your answer names every item the output counted ({counts}), although their counts differ. If the question "
    "asks only for some of them, keep those whose count fits it (in code) and answer with those; if it asks for "
    "all of them, reply FINAL(answer) again."
)
MIXED_COUNTS = (
    "Your answer takes items the output counted differently ({counts}). If the question asks for the items "
    "with one count, answer with exactly the items the output shows with that count; if it asks for a ranking, "
    "reply FINAL(answer) again."
)
EVERY_VALUE = (
    "Your answer names {named} of the {total} values of {field} in the data: nearly all of them, as if no "
    "condition had been applied. If the question asks only for some, filter the records by its condition in "
    "code, print each kept value with its count, and answer with those that fit; if it asks for all of them, "
    "reply FINAL(answer) again."
)
UNSUPPORTED = (
    "Your answer contains {values}, which no REPL output showed as a result. Do not guess: compute it "
    "from `context` in a ```repl block and print it first. If you are sure, reply FINAL(answer) again."
)
REPEATED_ITEMS = (
    "Your answer names {values} more than once, so it is not a list of different items. For a ranking, count "
    "each item with Counter(...) and print .most_common(k); for a list, print sorted(set(...))."
)
TRUNCATED = (
    "The data shows {values}, which is longer than the value in your answer. Did you cut it short? Print "
    "the whole line with grep and answer with the complete value."
)
PATH_TAILS = (
    "Your answer shortens values that the output shows in full: {values}. Answer with each value exactly as "
    "printed, in the same order: FINAL({values})"
)
NONE_COUNTED = (
    "Your answer {total} counts None as one of the values (see the note under the output); without None the "
    "count is {kept}. Reply FINAL({kept}) unless None is really one of the things the question counts."
)
UNRELATED = (
    "Your answer {answer} takes nothing from the output it follows ({output}) beyond the question's own words. "
    "If that output holds the answer, reply FINAL with what it shows; if it does not, write the next block."
)
UNRELATED_VALUE = (
    "Your answer {answer} takes nothing from the output it follows ({output}) beyond the question's own words. "
    "The one value that output shows is {value}. If it answers the question, reply with only this line:\n"
    "FINAL({value})\nIf it does not, write the next block."
)
OFF_KEY = (
    "Your answer {answer} is in the input only on lines that do not mention {term!r}, so it is likely another "
    "item's value. Print the lines of grep({term!r}) and answer with the value on them."
)
