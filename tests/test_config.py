"""Settings precedence (flags > env > project file > user file > defaults), aliases, and `rlm config`."""

from __future__ import annotations

from pathlib import Path

import pytest

from rlm_cli.config import load_settings, resolve_model
from rlm_cli.errors import EXIT_CONFIG, ConfigError


@pytest.fixture
def layers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    user = tmp_path / "user.toml"
    user.write_text(
        'model = "openai/user-model"\nmax_iterations = 7\nconcurrency = 3\ntimeout = 100\n'
        '[aliases.local]\nmodel = "openai/qwen"\napi_base = "http://127.0.0.1:8089/v1"\n'
    )
    monkeypatch.setenv("RLM_CONFIG", str(user))
    project = tmp_path / "repo"
    (project / "sub").mkdir(parents=True)
    (project / ".rlm.toml").write_text("max_iterations = 9\nconcurrency = 4\n")
    return project / "sub"


def test_precedence_flag_env_project_user_default(layers: Path):
    env = {"RLM_CONCURRENCY": "5"}
    settings = load_settings({"timeout": 3.0}, env=env, cwd=layers)
    assert (settings["model"], settings.sources["model"]) == (
        "openai/user-model",
        str(Path(__import__("os").environ["RLM_CONFIG"])),
    )
    assert (settings["max_iterations"], settings.sources["max_iterations"]) == (9, str(layers.parent / ".rlm.toml"))
    assert (settings["concurrency"], settings.sources["concurrency"]) == (5, "env")
    assert (settings["timeout"], settings.sources["timeout"]) == (3.0, "flag")
    assert (settings["exec_timeout"], settings.sources["exec_timeout"]) == (60.0, "default")


def test_alias_expands_to_model_and_api_base(layers: Path):
    settings = load_settings({}, env={}, cwd=layers)
    resolved = resolve_model(settings, "local", None, 0.0)
    assert (resolved.model, resolved.api_base) == ("openai/qwen", "http://127.0.0.1:8089/v1")
    assert resolve_model(settings, "local", "http://other/v1", 0.0).api_base == "http://other/v1"
    assert not resolved.local_server  # the user's alias replaced the built-in one


def test_the_built_in_local_alias_points_at_the_rlm_local_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("RLM_CONFIG", str(tmp_path / "none.toml"))
    resolved = resolve_model(load_settings({}, env={}, cwd=tmp_path), "local", None, 0.0)
    assert (resolved.model, resolved.api_base, resolved.local_server) == ("openai/qwen2.5-coder-1.5b", None, True)


def test_bad_values_and_unknown_keys_are_config_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    bad = tmp_path / "bad.toml"
    monkeypatch.setenv("RLM_CONFIG", str(bad))
    bad.write_text("max_iterations = 'many'\n")
    with pytest.raises(ConfigError, match="max_iterations in .*bad.toml: 'many' is not a whole number"):
        load_settings({}, env={}, cwd=tmp_path)
    bad.write_text("modle = 'x'\n")
    with pytest.raises(ConfigError, match="unknown setting 'modle'"):
        load_settings({}, env={}, cwd=tmp_path)
    bad.write_text("model = \n")
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_settings({}, env={}, cwd=tmp_path)
    bad.unlink()
    with pytest.raises(ConfigError, match="RLM_MAX_COST"):
        load_settings({}, env={"RLM_MAX_COST": "cheap"}, cwd=tmp_path)


def test_config_show_lists_sources_and_hides_the_key(run_rlm, tmp_path: Path):
    (tmp_path / ".rlm.toml").write_text('model = "openai/from-project"\napi_key = "sk-very-secret-value"\n')
    result = run_rlm("config", "show", env_extra={"RLM_MAX_DEPTH": "2"})
    assert result.returncode == 0, result.stderr
    lines = {line.split()[0]: line for line in result.stdout.splitlines() if line.strip()}
    assert "openai/from-project" in lines["model"] and ".rlm.toml" in lines["model"]
    assert "(env RLM_MAX_DEPTH)" in lines["max_depth"] and "2" in lines["max_depth"]
    assert "(default)" in lines["max_iterations"]
    assert "sk-very-secret-value" not in result.stdout


def test_config_path_prints_user_and_project_files(run_rlm, tmp_path: Path):
    (tmp_path / ".rlm.toml").write_text("")
    result = run_rlm("config", "path")
    assert result.returncode == 0
    user, project = result.stdout.splitlines()
    assert user.endswith("rlm/config.toml") and project == str(tmp_path / ".rlm.toml")


def test_bad_config_file_exits_with_config_code(run_rlm, tmp_path: Path):
    (tmp_path / ".rlm.toml").write_text("max_iterations = -3\n")
    (tmp_path / "f.txt").write_text("hello\n")
    result = run_rlm("ask", "f.txt", "q?", "-m", "openai/x")
    assert result.returncode == EXIT_CONFIG
    assert result.stderr.strip().startswith("rlm: error:") and "max_iterations" in result.stderr
    assert "Traceback" not in result.stderr


def test_no_model_configured_explains_setup(run_rlm, tmp_path: Path):
    (tmp_path / "f.txt").write_text("hello\n")
    result = run_rlm("ask", "f.txt", "q?", env_extra={"OPENAI_API_KEY": None})
    assert result.returncode == EXIT_CONFIG
    help_text = result.stderr
    # no model and no key: the default is the local model, which is not set up here
    assert help_text.startswith("rlm: error: no model configured and the local model is not set up")
    assert "run 'rlm local setup'" in help_text.splitlines()[0]
    assert "export OPENAI_API_KEY=sk-..." in help_text and "rlm ask -m openai/gpt-4o-mini" in help_text
    assert "--api-base http://127.0.0.1:8080/v1" in help_text and "Ollama" in help_text
    assert "RLM_MODEL" in help_text and str(tmp_path / "home" / ".config" / "rlm" / "config.toml") in help_text
    assert "is set" not in help_text
    with_key = run_rlm("ask", "f.txt", "q?")
    assert "OPENAI_API_KEY is set, so you can run:  rlm ask -m openai/gpt-4o-mini" in with_key.stderr
    assert 'rlm local setup, then  rlm ask -m local FILE "question"' in with_key.stderr  # a key means no default


def test_cloud_model_without_its_key_says_how_to_set_one(run_rlm, tmp_path: Path):
    (tmp_path / "f.txt").write_text("hello\n")
    result = run_rlm("ask", "-m", "openai/gpt-4o-mini", "f.txt", "q?", env_extra={"OPENAI_API_KEY": None})
    assert result.returncode == EXIT_CONFIG
    assert "openai/gpt-4o-mini needs an API key: export OPENAI_API_KEY" in result.stderr
    assert "--api-base URL" in result.stderr


def test_alias_lines_never_show_keys(run_rlm, tmp_path: Path):
    (tmp_path / ".rlm.toml").write_text(
        '[aliases.work]\nmodel = "anthropic/claude-sonnet-4-5"\napi_key = "sk-inline-secret-value"\n'
        '[aliases.env]\nmodel = "openai/gpt-4o"\napi_key_env = "WORK_KEY"\napi_base = "http://10.0.0.5/v1"\n'
    )
    out = run_rlm("config", "show", env_extra={"RLM_TRUST_PROJECT_CONFIG": "1"}).stdout  # tests/security: untrusted
    assert "alias work: anthropic/claude-sonnet-4-5, key (set)" in out
    assert "alias env: openai/gpt-4o @ http://10.0.0.5/v1, key from $WORK_KEY" in out
    assert "sk-inline-secret-value" not in out


@pytest.mark.parametrize(
    ("flags", "env", "shown"),
    [
        ({}, {}, 5_000),  # the small guide's own cap
        ({"guidance": "off"}, {}, 20_000),  # the plain method keeps the documented default
        ({"output_limit": 30_000}, {}, 30_000),  # a cap the user set wins at any level
        ({}, {"RLM_OUTPUT_LIMIT": "8K"}, 8_000),
    ],
)
def test_the_output_the_model_sees_is_capped_by_guidance_level_unless_set(
    tmp_path: Path, monkeypatch, flags, env, shown
):
    from rlm_cli.runner import _engine_config

    monkeypatch.setenv("RLM_CONFIG", str(tmp_path / "none.toml"))
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    settings = load_settings({"model": "openai/gpt-4o-mini", **flags}, env=env, cwd=tmp_path)
    assert _engine_config(settings).output_limit == shown
