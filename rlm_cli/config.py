"""Settings from flags, RLM_* variables, `.rlm.toml` and the user's config file, with each value's source.

Precedence: flags > environment > project file > user file > defaults. A project file comes with the
directory being analyzed, maybe someone else's, so it may not set what USER_ONLY names.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rlm_cli.errors import ConfigError
from rlm_cli.local import DEFAULT_MODEL
from rlm_cli.values import Value

PROJECT_FILE = ".rlm.toml"
_MB = 1000**2
_MiB = 1024**2
TRUST_ENV = "RLM_TRUST_PROJECT_CONFIG"
# Settings that weaken isolation, choose where keys and prompts go, or delete the user's files: only the
# user's own config file, the environment and flags set them, unless --trust-project-config is given.
USER_ONLY = ("sandbox", "follow_symlinks", "api_base", "sub_api_base", "trace_keep", "trace_max_mb")
USER_ONLY_ALIAS_KEYS = ("api_base", "api_key_env")


@dataclass(frozen=True)
class Setting:
    type: type
    default: Any
    help: str
    value: Value | None = None  # how a number is read and its range, the same for flags, env and files
    secret: bool = False
    choices: tuple[str, ...] = ()


SETTINGS: dict[str, Setting] = {
    "model": Setting(str, None, "root model, e.g. openai/gpt-4o-mini or an alias"),
    "sub_model": Setting(str, None, "model for llm_query sub-calls (default: the root model)"),
    "api_base": Setting(str, None, "OpenAI-compatible base URL for both models"),
    "sub_api_base": Setting(str, None, "base URL for the sub-model (default: api_base)"),
    "api_key": Setting(str, None, "API key (default: the provider's usual variable)", secret=True),
    "temperature": Setting(float, 0.0, "root model temperature", Value("float")),
    "sub_temperature": Setting(float, 0.0, "sub-model temperature", Value("float")),
    "max_depth": Setting(int, 1, "recursion depth: 2+ makes llm_query run a child RLM", Value("int", 1)),
    "max_iterations": Setting(int, 20, "root turns per RLM", Value("int", 1)),
    "max_subcalls": Setting(int, None, "sub-calls over the whole run (0: the first one ends the run)", Value("int")),
    "max_tokens": Setting(int, None, "input+output tokens over all calls", Value("size", 1)),
    "max_cost": Setting(float, None, "USD over all calls", Value("float", above=True)),
    "timeout": Setting(float, None, "wall time for the whole run", Value("duration", above=True)),
    "exec_timeout": Setting(float, 60.0, "time per code block", Value("duration", above=True)),
    "concurrency": Setting(int, 8, "parallel sub-calls", Value("int", 1)),
    "output_limit": Setting(int, 20_000, "characters of REPL output shown to the model per block", Value("size", 1)),
    "sub_chars": Setting(int, 60_000, "characters the prompt tells the model a sub-call can take", Value("size", 1)),
    "retries": Setting(int, 4, "retries of a failed model call (rate limits, 5xx, timeouts)", Value("int")),
    "retry_delay": Setting(float, 1.0, "wait before the first retry; doubles each time", Value("duration")),
    "request_timeout": Setting(float, 300.0, "time per model request", Value("duration", above=True)),
    "sandbox": Setting(bool, True, "isolate the REPL (Landlock, no network, resource limits)"),
    "guidance": Setting(str, "small", "weak-model help: small, or off (the plain method)", choices=("off", "small")),
    "memory_limit_mb": Setting(
        int, None, "REPL address-space limit in MiB (default: scaled to the input)", Value("size", 1, unit=_MiB)
    ),
    "cpu_limit_s": Setting(int, None, "REPL CPU time (default: scaled to the input)", Value("duration", 1)),
    "max_file_size": Setting(int, 50_000_000, "characters loaded per file before truncation", Value("size", 1)),
    "max_total_size": Setting(int, 1_000_000_000, "characters loaded in all", Value("size", 1)),
    "hidden": Setting(bool, False, "load dotfiles and dot-directories"),
    "gitignore": Setting(bool, True, "respect .gitignore files"),
    "include": Setting(list, [], "only files matching these globs"),
    "exclude": Setting(list, [], "skip files matching these globs"),
    "trace_keep": Setting(int, 100, "saved traces to keep", Value("int")),
    "trace_max_mb": Setting(int, 200, "total size of saved traces in MB", Value("size", unit=_MB)),
    "follow_symlinks": Setting(bool, False, "load symlinks that lead outside the given paths"),
    "max_child_repls": Setting(
        int, 8, "child RLMs (each a REPL process) at once; more become plain sub-calls", Value("int", 1)
    ),
    "max_recursive_calls": Setting(int, 64, "child RLMs over the whole run; more become plain sub-calls", Value("int")),
}
_ALIAS_KEYS = {"model", "api_base", "api_key", "api_key_env", "temperature"}


@dataclass
class Alias:
    name: str
    model: str
    api_base: str | None = None
    api_key: str | None = None
    api_key_env: str | None = None
    temperature: float | None = None
    local_server: bool = False  # served by `rlm local start`, whose port is known only when it runs

    def describe(self) -> str:
        """One line for `rlm config show`: where the alias points, and where its key comes from (never the key)."""
        text = self.model + (f" @ {self.api_base}" if self.api_base else "")
        if self.local_server:
            text += " @ the rlm local server (built in; started when used)"
        if self.api_key_env:
            text += f", key from ${self.api_key_env}"
        elif self.api_key:
            text += ", key (set)"
        return text


# `local` is what `rlm ask` uses when no model is configured and no provider key is set; a user's
# alias of the same name replaces it.
BUILTIN_ALIASES = (Alias("local", f"openai/{DEFAULT_MODEL.alias}", local_server=True),)


@dataclass
class Settings:
    values: dict[str, Any]
    sources: dict[str, str]
    aliases: dict[str, Alias] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # one line per project file whose settings were ignored

    def __getitem__(self, key: str) -> Any:
        return self.values[key]

    def shown(self) -> list[tuple[str, str, str]]:
        """(name, value, source) rows for `rlm config show`; secrets masked, env sources named."""
        rows = []
        for name, setting in SETTINGS.items():
            value = self.values[name]
            if setting.secret and value:
                text = "(set)"
            elif isinstance(value, list):
                text = ", ".join(value)
            else:
                text = "" if value is None else str(value)
            source = self.sources[name]
            rows.append((name, text, f"env RLM_{name.upper()}" if source == "env" else source))
        return rows


def user_config_path() -> Path:
    from platformdirs import user_config_dir

    override = os.environ.get("RLM_CONFIG")
    return Path(override) if override else Path(user_config_dir("rlm")) / "config.toml"


def find_project_file(start: Path) -> Path | None:
    for folder in [start, *start.parents]:
        candidate = folder / PROJECT_FILE
        if candidate.is_file():
            return candidate
    return None


def _coerce(name: str, value: Any, source: str) -> Any:
    """A value from any layer, checked once; `source` names where it was written, for the message."""
    setting = SETTINGS[name]
    if value is None:
        return None
    if setting.value is not None:
        try:
            return setting.type(setting.value.parse(value))
        except ValueError as exc:
            raise ConfigError(f"invalid value for {source}: {exc}") from None
    if setting.choices:
        if value in setting.choices:
            return value
        raise ConfigError(
            f"invalid value for {source}: {name} must be one of {', '.join(setting.choices)}, got {value!r}"
        )
    if setting.type is bool:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in {"1", "true", "yes", "on"}:
            return True
        if text in {"0", "false", "no", "off"}:
            return False
    elif setting.type is list:
        if isinstance(value, str):
            return [v.strip() for v in value.split(",") if v.strip()]
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return value
    elif isinstance(value, setting.type):
        return value
    raise ConfigError(f"invalid value for {source}: {name} must be {setting.type.__name__}, got {value!r}")


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None


def _file_layer(path: Path, aliases: dict[str, Alias], ignored: list[str] | None = None) -> dict[str, Any]:
    """One file's settings; given `ignored`, the file is untrusted and the USER_ONLY keys it sets land there."""
    data = _read_toml(path)
    layer: dict[str, Any] = {}
    for key, value in data.items():
        name = key.replace("-", "_")
        if name == "aliases":
            if not isinstance(value, dict):
                raise ConfigError(f"{path}: [aliases] must be a table")
            for alias, table in value.items():
                aliases[alias] = _alias(path, alias, table)
                if ignored is not None:
                    _untrusted_alias(aliases[alias], ignored)
        elif name in SETTINGS:
            coerced = _coerce(name, value, f"{key} in {path}")
            if ignored is not None and name in USER_ONLY:
                ignored.append(key)
            else:
                layer[name] = coerced
        else:
            raise ConfigError(f"{path}: unknown setting {key!r}")
    return layer


def _untrusted_alias(alias: Alias, ignored: list[str]) -> None:
    """An alias from a project file keeps its model but may not pick a URL or read a variable for its key."""
    for key in USER_ONLY_ALIAS_KEYS:
        if getattr(alias, key) is not None:
            setattr(alias, key, None)
            ignored.append(f"aliases.{alias.name}.{key}")


def _alias(path: Path, name: str, table: Any) -> Alias:
    if not isinstance(table, dict) or "model" not in table:
        raise ConfigError(f"{path}: alias {name!r} needs a model")
    unknown = set(table) - _ALIAS_KEYS
    if unknown:
        raise ConfigError(f"{path}: alias {name!r} has unknown keys: {', '.join(sorted(unknown))}")
    return Alias(name=name, **table)


def _env_trusts(env: Mapping[str, str]) -> bool:
    raw = env.get(TRUST_ENV, "").strip().lower()
    if raw in ("", "0", "false", "no", "off"):
        return False
    if raw in ("1", "true", "yes", "on"):
        return True
    raise ConfigError(f"{TRUST_ENV} must be true or false, got {raw!r}")


def load_settings(
    flags: Mapping[str, Any],
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    trust_project: bool = False,
) -> Settings:
    """Merge every layer; flags whose value is None were not given."""
    env = os.environ if env is None else env
    trust_project = trust_project or _env_trusts(env)
    aliases = {alias.name: alias for alias in BUILTIN_ALIASES}
    layers: list[tuple[str, dict[str, Any]]] = []
    files: list[Path] = []
    warnings: list[str] = []
    user_file = user_config_path()
    if user_file.is_file():
        files.append(user_file)
        layers.append((str(user_file), _file_layer(user_file, aliases)))
    project = find_project_file(cwd or Path.cwd())
    if project is not None and project.resolve() != user_file.resolve():
        files.append(project)
        ignored: list[str] | None = None if trust_project else []
        layers.append((str(project), _file_layer(project, aliases, ignored)))
        if ignored:
            warnings.append(
                f"{project}: ignored {', '.join(ignored)}: a project file may not set "
                f"{'this' if len(ignored) == 1 else 'these'} (--trust-project-config allows it)"
            )
    env_layer = {}
    for name in SETTINGS:
        raw = env.get(f"RLM_{name.upper()}")
        if raw is not None and raw != "":
            env_layer[name] = _coerce(name, raw, f"RLM_{name.upper()}")
    layers.append(("env", env_layer))
    flag_layer = {}
    for name, value in flags.items():
        if name not in SETTINGS:
            raise ConfigError(f"unknown setting {name!r}")
        if value is not None and value != []:
            flag_layer[name] = _coerce(name, value, "flag")
    layers.append(("flag", flag_layer))
    values = {name: s.default for name, s in SETTINGS.items()}
    sources = dict.fromkeys(SETTINGS, "default")
    for source, layer in layers:
        for name, value in layer.items():
            values[name] = value
            sources[name] = source
    return Settings(values, sources, aliases, files, warnings)


@dataclass
class ResolvedModel:
    model: str
    api_base: str | None
    api_key: str | None
    temperature: float | None
    local_server: bool = False


def resolve_model(settings: Settings, name: str, api_base: str | None, temperature: float | None) -> ResolvedModel:
    """Expand an alias; an explicit api_base still wins over the alias's own."""
    alias = settings.aliases.get(name)
    api_key = settings["api_key"]
    if alias is None:
        return ResolvedModel(name, api_base, api_key, temperature)
    if alias.api_key_env:
        api_key = os.environ.get(alias.api_key_env) or api_key
        if api_key is None:
            raise ConfigError(f"alias {name!r} reads its key from ${alias.api_key_env}, which is not set")
    elif alias.api_key:
        api_key = alias.api_key
    return ResolvedModel(
        alias.model,
        api_base or alias.api_base,
        api_key,
        alias.temperature if alias.temperature is not None else temperature,
        alias.local_server,
    )
