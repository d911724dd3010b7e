"""`rlm local`: the model file (Hub, URL, path; checksum, resume, repair), the server's life, discovery, the default.

No network and no llama.cpp: a local HTTP server plays the Hub and a URL, and tests/fake_llama stands in for
llama-cpp-python, so `python -m llama_cpp.server` starts a real (fake) server process.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from rlm_cli.errors import EXIT_CONFIG, ConfigError, InputError, ModelError, UsageError
from rlm_cli.local import DEFAULT_MODEL, LocalPaths, ModelFile, discover, server, setup

FAKE_LLAMA = Path(__file__).parent / "fake_llama"
GGUF = b"GGUF" + bytes(range(256)) * 64  # small, and every offset holds a different byte than its neighbour
SPEC = ModelFile("someone/tiny-GGUF", "tiny.gguf", hashlib.sha256(GGUF).hexdigest(), "tiny", "16 kB")


@dataclass
class FileServer:
    """Serves `data` at every path with Range support; `plan` shapes each response in turn (then served whole)."""

    data: bytes
    plan: list[str] = field(default_factory=list)  # "cut": stop half-way; "no-range": answer 200 whole
    requests: list[tuple[str, str | None]] = field(default_factory=list)  # (path, Range header)

    def __post_init__(self) -> None:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                owner.requests.append((self.path, self.headers.get("Range")))
                step = owner.plan.pop(0) if owner.plan else ""
                start = 0
                if self.headers.get("Range") and step != "no-range":
                    start = int(self.headers["Range"].removeprefix("bytes=").rstrip("-"))
                    self.send_response(206)
                else:
                    self.send_response(200)
                body = owner.data[start:]
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body[: len(body) // 2] if step == "cut" else body)

            def log_message(self, *_args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def files() -> Iterator[FileServer]:
    served = FileServer(GGUF)
    try:
        yield served
    finally:
        served.close()


@pytest.fixture
def paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalPaths]:
    """An empty cache; `python -m llama_cpp.server` runs the fake; any server left running is stopped."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("PYTHONPATH", str(FAKE_LLAMA))
    monkeypatch.setenv("RLM_LOCAL_PYTHON", sys.executable)
    monkeypatch.setattr(setup, "_BACKOFF", 0.0)
    local = LocalPaths(tmp_path / "cache" / "rlm" / "local")
    yield local
    server.stop(local)


def ready(paths: LocalPaths) -> Path:
    """The fake model, set up as `rlm local setup --gguf` would."""
    source = paths.root.parent / "given.gguf"
    source.parent.mkdir(parents=True, exist_ok=True)
    source.write_bytes(GGUF)
    setup.setup_model(paths, SPEC, str(source))
    return source


# --- the model file --------------------------------------------------------------------------------------


def test_hub_download_is_verified_and_recorded(paths, files):
    report = setup.setup_model(paths, SPEC, endpoint=files.url)
    assert report.action == "downloaded" and paths.model(SPEC).read_bytes() == GGUF
    assert files.requests == [("/someone/tiny-GGUF/resolve/main/tiny.gguf", None)]
    assert setup.is_ready(paths, SPEC) and not setup.is_ready(paths, DEFAULT_MODEL)
    again = setup.setup_model(paths, SPEC, endpoint=files.url)
    assert again.action == "verified" and len(files.requests) == 1  # already there: nothing downloaded


def test_a_cut_download_resumes_where_it_stopped(paths, files):
    files.plan = ["cut"]
    said: list[str] = []
    report = setup.setup_model(paths, SPEC, files.url + "/tiny.gguf", say=said.append)
    assert paths.model(SPEC).read_bytes() == GGUF and report.action == "downloaded"
    assert [r for _, r in files.requests] == [None, f"bytes={len(GGUF) // 2}-"]
    assert any("resuming" in line for line in said)
    assert not paths.model(SPEC).with_name("tiny.gguf.part").exists()


def test_a_part_file_from_an_earlier_run_is_resumed(paths, files):
    paths.models.mkdir(parents=True)
    paths.models.joinpath("tiny.gguf.part").write_bytes(GGUF[:1000])
    report = setup.setup_model(paths, SPEC, files.url + "/tiny.gguf")
    assert report.action == "resumed" and paths.model(SPEC).read_bytes() == GGUF
    assert [r for _, r in files.requests] == ["bytes=1000-"]


def test_a_server_that_ignores_the_range_gives_the_whole_file_again(paths, files):
    paths.models.mkdir(parents=True)
    paths.models.joinpath("tiny.gguf.part").write_bytes(GGUF[:1000])
    files.plan = ["no-range"]
    setup.setup_model(paths, SPEC, files.url + "/tiny.gguf")
    assert paths.model(SPEC).read_bytes() == GGUF


def test_a_broken_part_file_is_downloaded_again_from_the_start(paths, files):
    paths.models.mkdir(parents=True)
    paths.models.joinpath("tiny.gguf.part").write_bytes(b"X" * 1000)
    report = setup.setup_model(paths, SPEC, files.url + "/tiny.gguf")
    assert report.action == "repaired" and paths.model(SPEC).read_bytes() == GGUF
    assert [r for _, r in files.requests] == ["bytes=1000-", None]


def test_a_broken_cached_model_is_replaced(paths, files):
    paths.models.mkdir(parents=True)
    paths.model(SPEC).write_bytes(GGUF[:-1] + b"!")
    report = setup.setup_model(paths, SPEC, endpoint=files.url)
    assert report.action == "repaired" and paths.model(SPEC).read_bytes() == GGUF


def test_a_file_with_the_wrong_checksum_is_never_kept(paths):
    wrong = FileServer(GGUF + b"tampered")
    try:
        with pytest.raises(ModelError, match="sha256"):
            setup.setup_model(paths, SPEC, endpoint=wrong.url)
        assert len(wrong.requests) == 2  # one fresh try after the first mismatch
    finally:
        wrong.close()
    assert list(paths.models.iterdir()) == []


def test_a_given_file_is_linked_verified_and_left_as_it_was(paths, tmp_path: Path):
    given = tmp_path / "mine.gguf"
    given.write_bytes(GGUF)
    report = setup.setup_model(paths, SPEC, str(given))
    assert report.action in ("linked", "copied") and paths.model(SPEC).read_bytes() == GGUF
    given.write_bytes(GGUF + b"x")  # a different file now
    with pytest.raises(InputError, match="sha256"):
        setup.setup_model(LocalPaths(tmp_path / "other"), SPEC, str(given))
    assert given.read_bytes() == GGUF + b"x"
    with pytest.raises(InputError, match="no such file"):
        setup.setup_model(LocalPaths(tmp_path / "other"), SPEC, str(tmp_path / "missing.gguf"))


def test_the_progress_bar_counts_every_byte(paths, files):
    class Counting:
        def __init__(self) -> None:
            self.done = 0

        def begin(self, label: str, total: int | None, done: int) -> None:
            self.done = done

        def advance(self, count: int) -> None:
            self.done += count

        def end(self) -> None:
            pass

    meter = Counting()
    files.plan = ["cut"]
    setup.setup_model(paths, SPEC, files.url + "/tiny.gguf", meter=meter)
    assert meter.done == len(GGUF)


# --- the server ------------------------------------------------------------------------------------------


def test_start_status_and_stop_tell_the_truth(paths, tmp_path: Path, monkeypatch, dead_url):
    ready(paths)
    assert server.read_status(paths).state == "down"
    gate = tmp_path / "gate"
    monkeypatch.setenv("FAKE_LLAMA_GATE", str(gate))
    with pytest.raises(ModelError, match="still starting"):
        server.start(paths, SPEC, wait=0.3)
    starting = server.read_status(paths)
    assert starting.state == "starting" and starting.server is not None
    gate.touch()
    server.start(paths, SPEC)  # waits for the one already starting
    probe = "from rlm_cli.local import local_paths, server; print(server.read_status(local_paths()).state)"
    proxied = {**os.environ, "http_proxy": dead_url, "HTTP_PROXY": dead_url}  # for the internet, not 127.0.0.1
    seen = subprocess.run([sys.executable, "-c", probe], env=proxied, capture_output=True, text=True, check=True)
    assert seen.stdout == "up\n"
    up = server.read_status(paths)
    assert up.state == "up" and up.server.pid == starting.server.pid
    assert server.start(paths, SPEC).server.pid == starting.server.pid  # twice is harmless
    assert "fake llama server" in paths.log.read_text()
    stopped = server.stop(paths)
    assert stopped.server.pid == starting.server.pid
    assert server.read_status(paths).state == "down" and not paths.state.exists()
    with pytest.raises(ProcessLookupError):
        os.kill(starting.server.pid, 0)


def test_a_port_in_use_means_another_port(paths):
    ready(paths)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        status = server.start(paths, SPEC, preferred_port=port)
        assert status.state == "up" and status.server.port != port
        server.stop(paths)
        with pytest.raises(UsageError, match=f"port {port} is in use"):
            server.start(paths, SPEC, port=port)


def test_a_stale_pid_file_counts_as_down_and_is_removed(paths):
    paths.root.mkdir(parents=True)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    for pid in (dead.pid, os.getpid()):  # a dead process, and a live one that is not the server
        paths.state.write_text(json.dumps({"pid": pid, "port": 9, "model": "tiny", "python": "x", "started": 0}))
        status = server.read_status(paths)
        assert status.state == "down" and f"stale pid file (pid {pid}" in status.note
        assert not paths.state.exists()
    paths.state.write_text("not json")
    assert server.read_status(paths).state == "down"


def test_a_server_that_fails_to_start_says_why(paths, tmp_path: Path, monkeypatch):
    with pytest.raises(ConfigError, match="rlm local setup"):
        server.start(paths, SPEC)
    ready(paths)
    monkeypatch.setenv("FAKE_LLAMA_FAIL", "error loading model: bad magic")
    with pytest.raises(ModelError, match="exited at start: error loading model: bad magic"):
        server.start(paths, SPEC)
    monkeypatch.delenv("FAKE_LLAMA_FAIL")
    without = tmp_path / "python"  # an interpreter without llama_cpp says this, whatever this machine has
    without.write_text(
        "#!/bin/sh\necho \"$0: Error while finding module specification for 'llama_cpp.server' "
        "(ModuleNotFoundError: No module named 'llama_cpp')\" >&2\nexit 1\n"
    )
    without.chmod(0o755)
    monkeypatch.setenv("RLM_LOCAL_PYTHON", str(without))
    with pytest.raises(ConfigError, match=r"pip install 'rlm-ask\[local\]'"):
        server.start(paths, SPEC)
    monkeypatch.setenv("RLM_LOCAL_PYTHON", str(tmp_path / "no-such-python"))
    with pytest.raises(ConfigError, match="no-such-python"):
        server.start(paths, SPEC)
    assert not paths.state.exists()


# --- other servers -----------------------------------------------------------------------------------------


def test_discovery_lists_what_listens_and_asks_only_for_models(dead_url):
    tags = json.dumps({"models": [{"name": "qwen2.5-coder:1.5b"}, {"name": "llama3.2:latest"}]}).encode()
    ollama = FileServer(tags)
    try:
        known = (
            discover.Known("Ollama", ollama.url, "/api/tags"),
            discover.Known("LM Studio", dead_url.removesuffix("/v1"), "/v1/models"),
        )
        found = discover.discover(known)
    finally:
        ollama.close()
    assert [(f.known.label, f.models) for f in found] == [("Ollama", ["qwen2.5-coder:1.5b", "llama3.2:latest"])]
    assert ollama.requests == [("/api/tags", None)]
    assert found[0].usage() == f"rlm ask -m openai/qwen2.5-coder:1.5b --api-base {ollama.url}/v1 FILE QUESTION"


# --- rlm ask with nothing configured ---------------------------------------------------------------------


def test_ask_with_nothing_configured_starts_the_local_model(paths, tmp_path: Path, monkeypatch, capsys):
    from rlm_cli import runner
    from rlm_cli.config import load_settings

    for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "RLM_MODEL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("RLM_TRACE_DIR", str(tmp_path / "traces"))
    monkeypatch.setattr(setup, "is_ready", lambda _paths, _spec=None: True)  # the real model's file: a stand-in
    paths.models.mkdir(parents=True)
    paths.model(DEFAULT_MODEL).write_bytes(GGUF)
    notes = tmp_path / "notes.txt"
    notes.write_text("alpha\n")
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    settings = load_settings({}, cwd=tmp_path)
    code = runner.ask([str(notes)], "what is this?", settings, runner.OutputOptions(as_json=True, quiet=True))
    out, err = capsys.readouterr()
    result = json.loads(out)
    assert code == 0 and result["answer"] == "the fake local model answered"
    assert result["model"] == "openai/qwen2.5-coder-1.5b"
    assert "rlm: starting the local model server (qwen2.5-coder-1.5b)" in err
    assert settings["request_timeout"] == 3600  # a CPU may read a long prompt for many minutes
    events = [json.loads(line) for line in Path(result["trace"]).read_text().splitlines()]
    notice = next(e for e in events if e.get("kind") == "model")
    assert "no model configured" in notice["message"] and server.read_status(paths).server.url in notice["message"]


def test_ask_with_nothing_set_up_names_the_one_command(run_rlm, tmp_path: Path):
    (tmp_path / "f.txt").write_text("hello\n")
    result = run_rlm("ask", "--json", "f.txt", "q?", env_extra={"OPENAI_API_KEY": None})
    assert result.returncode == EXIT_CONFIG
    assert result.stderr.startswith(
        "rlm: error: no model configured and the local model is not set up: run 'rlm local setup'"
    )
    assert json.loads(result.stdout)["error"]["type"] == "config"


def test_local_status_on_a_fresh_machine(run_rlm):
    result = run_rlm("local", "status")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("model: not set up (rlm local setup)")
    assert lines[1].startswith("server: down")
    assert run_rlm("local").stdout == result.stdout  # alone, it shows the status


def test_setup_from_the_hub_endpoint_keeps_nothing_that_fails_its_checksum(run_rlm, files, tmp_path: Path):
    """The real model's checksum, a fake Hub at HF_ENDPOINT serving other bytes: two tries, exit 4, nothing kept."""
    result = run_rlm("local", "setup", env_extra={"HF_ENDPOINT": files.url})
    assert result.returncode == 4, result.stderr
    hub_path = f"/{DEFAULT_MODEL.repo}/resolve/main/{DEFAULT_MODEL.filename}"
    assert files.requests == [(hub_path, None), (hub_path, None)]
    assert result.stderr.splitlines()[-1].startswith("rlm: error: ") and DEFAULT_MODEL.sha256 in result.stderr
    models = tmp_path / "home" / ".cache" / "rlm" / "local" / "models"
    assert list(models.iterdir()) == []
    given = tmp_path / "other.gguf"
    given.write_bytes(GGUF)
    wrong = run_rlm("local", "setup", "--gguf", str(given))
    assert wrong.returncode == 3 and "not qwen2.5-coder-1.5b-instruct-q4_k_m.gguf" in wrong.stderr
    assert given.read_bytes() == GGUF and list(models.iterdir()) == []


def test_threads_are_llama_cpps_own_unless_asked(tmp_path: Path):
    default = server.server_command("py", tmp_path / "m.gguf", 8089, "tiny", 4096)
    assert "--n_threads" not in default and default[:3] == ["py", "-m", "llama_cpp.server"]
    asked = server.server_command("py", tmp_path / "m.gguf", 8089, "tiny", 4096, threads=1)
    assert asked[-4:] == ["--n_threads", "1", "--n_threads_batch", "1"]
