"""One family of user-facing errors; the CLI turns each into a one-line message and an exit code."""

from __future__ import annotations

from rlm_cli.redaction import redact_text

# Exit codes are part of the product; the README documents them.
EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_USAGE = 2
EXIT_INPUT = 3
EXIT_MODEL = 4
EXIT_BUDGET = 5
EXIT_CONFIG = 6
EXIT_SANDBOX = 7
EXIT_INTERRUPTED = 130


class RlmError(Exception):
    """Base of every error a user may see; `exit_code` tells the CLI how to leave."""

    exit_code = EXIT_INTERNAL
    kind = "internal"

    def __init__(self, message: str) -> None:
        message = redact_text(message)  # every error may quote a server, and every error is printed
        super().__init__(message)
        self.message = message


class UsageError(RlmError):
    exit_code = EXIT_USAGE
    kind = "usage"


class InputError(RlmError):
    exit_code = EXIT_INPUT
    kind = "input"


class ModelError(RlmError):
    exit_code = EXIT_MODEL
    kind = "model"


class ConfigError(RlmError):
    exit_code = EXIT_CONFIG
    kind = "config"


class SandboxError(RlmError):
    exit_code = EXIT_SANDBOX
    kind = "sandbox"


class BudgetExhausted(RlmError):
    """Raised inside the engine when a shared budget runs out; the run ends with a partial answer."""

    exit_code = EXIT_BUDGET
    kind = "budget"

    def __init__(self, budget: str, message: str) -> None:
        super().__init__(message)
        self.budget = budget
