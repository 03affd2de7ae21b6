"""Real HTTP servers on 127.0.0.1 standing in for the outside services a run talks to: an OpenAI-compatible
chat completions endpoint and a webhook receiver. Each runs in a thread of the test process and records
what it received, so a test can check what a run (in-process or a subprocess) sent.
"""
from __future__ import annotations

import json
import re
import socket
import threading
import time
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Server(ThreadingHTTPServer):
    daemon_threads = True


@contextmanager
def serving(handler_class, **state):
    """Serve `handler_class` on a free port of 127.0.0.1; yields the server, whose attributes hold `state`."""
    server = _Server(("127.0.0.1", 0), handler_class)
    for key, value in state.items():
        setattr(server, key, value)
    server.lock = threading.Lock()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


class _Quiet(BaseHTTPRequestHandler):
    def log_message(self, *args):  # the test's output is not the place for an access log
        pass

    def _json(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up waiting (a timeout test)
            pass

    def _body(self) -> dict:
        return json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")


class ChatCompletions(_Quiet):
    """POST /v1/chat/completions. server.mode: "answer" (a JSON narrative naming the prompt's day),
    "slow" (the same after server.delay seconds), "fail" (HTTP 500), "unauthorized" (HTTP 401 whose
    message repeats the key it was sent, as some servers do), "prose" (an answer that is not JSON),
    "answer_odd_days" (answers for odd days, "unauthorized" for even ones)."""

    def do_POST(self):
        body = self._body()
        prompt = body["messages"][-1]["content"]
        day = int(re.search(r"day (\d+) \(", prompt).group(1))
        with self.server.lock:
            self.server.requests.append({"path": self.path, "day": day, "model": body.get("model"),
                                         "authorization": self.headers.get("Authorization"), "prompt": prompt})
        mode = self.server.mode
        if mode == "answer_odd_days":
            mode = "answer" if day % 2 else "unauthorized"
        if mode == "fail":
            return self._json(500, {"error": {"message": "the model is overloaded", "type": "server_error"}})
        if mode == "unauthorized":
            key = (self.headers.get("Authorization") or "").removeprefix("Bearer ")
            return self._json(401, {"error": {"message": f"Incorrect API key provided: {key}. Find your key at ...",
                                              "type": "invalid_request_error", "code": "invalid_api_key"}})
        if mode == "slow":
            time.sleep(self.server.delay)
        content = ("The model is fine." if mode == "prose" else
                   json.dumps({"narrative": f"LLM narrative of day {day}: accuracy and drift as measured.",
                               "justification": f"LLM justification of day {day}: the policy's action fits its inputs."}))
        self._json(200, {"id": f"chatcmpl-{day}", "object": "chat.completion", "created": 0, "model": body.get("model"),
                         "choices": [{"index": 0, "finish_reason": "stop",
                                      "message": {"role": "assistant", "content": content}}],
                         "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}})


@contextmanager
def chat_server(mode: str = "answer", delay: float = 0.0):
    with serving(ChatCompletions, mode=mode, delay=delay, requests=[]) as server:
        server.base_url = f"http://127.0.0.1:{server.server_port}/v1"
        yield server


class WebhookReceiver(_Quiet):
    """POST anything. server.mode: "ok" (200), "fail" (HTTP 500), "hang" (answers after server.delay s)."""

    def do_POST(self):
        body = self._body()
        if self.server.mode == "hang":
            time.sleep(self.server.delay)
        with self.server.lock:
            self.server.received.append({"path": self.path, "body": body,
                                         "idempotency_key": self.headers.get("Idempotency-Key")})
        if self.server.mode == "fail":
            return self._json(500, {"ok": False})
        self._json(200, {"ok": True})


@contextmanager
def webhook_server(mode: str = "ok", delay: float = 0.0):
    with serving(WebhookReceiver, mode=mode, delay=delay, received=[]) as server:
        # A Slack-style URL: its path is a secret that must never show up in a report or a log.
        server.url = f"http://127.0.0.1:{server.server_port}/services/T0MLMON/B0MLMON/hooksecret0123456789"
        yield server


def dead_url() -> str:
    """A URL on 127.0.0.1 where nothing listens (connections are refused at once)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/services/T0DEAD/B0DEAD/deadsecret0123456789"
