"""A fake `python -m llama_cpp.server`: same flags, /v1/models, and a chat reply that runs code, then answers.

Env: FAKE_LLAMA_GATE=path waits for that file before listening (the server is "starting" until then);
FAKE_LLAMA_FAIL=text prints it and exits 1 at once.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ANSWER = "the fake local model answered"


def _reply(messages: list[dict]) -> str:
    if any(m.get("role") == "assistant" for m in messages):
        return f"FINAL({ANSWER})"
    return "```repl\nprint(len(context))\n```"


class Handler(BaseHTTPRequestHandler):
    alias = "model"

    def _send(self, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        if self.path != "/v1/models":
            self.send_error(404)
            return
        self._send({"object": "list", "data": [{"id": self.alias, "object": "model"}]})

    def do_POST(self) -> None:  # noqa: N802
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        text = _reply(request.get("messages", []))
        self._send(
            {
                "id": "fake",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": self.alias,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
            }
        )

    def log_message(self, *_args: object) -> None:
        pass


def main() -> None:
    parser = argparse.ArgumentParser()
    for flag in ("--model", "--host", "--port", "--n_ctx", "--model_alias"):
        parser.add_argument(flag, required=True)
    parser.add_argument("--n_threads")
    parser.add_argument("--n_threads_batch")
    args = parser.parse_args()
    if os.environ.get("FAKE_LLAMA_FAIL"):
        print(os.environ["FAKE_LLAMA_FAIL"], file=sys.stderr)
        sys.exit(1)
    gate = os.environ.get("FAKE_LLAMA_GATE")
    while gate and not os.path.exists(gate):
        time.sleep(0.05)
    Handler.alias = args.model_alias
    print(f"fake llama server for {args.model} on {args.port}", flush=True)
    ThreadingHTTPServer((args.host, int(args.port)), Handler).serve_forever()


if __name__ == "__main__":
    main()
