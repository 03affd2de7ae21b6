"""Calls to services outside mlmon (an LLM, webhooks): a hard wall-clock deadline, and error text that is
safe to record (secrets such as an API key or a webhook URL scrubbed out).

HTTP clients' own timeouts bound each socket operation, not the whole call (a server that trickles its
answer byte by byte never trips them), so a call runs in a daemon thread and is abandoned at its deadline.
"""
from __future__ import annotations

import re
import threading
from typing import Callable, Iterable

WINDOW = 8  # a secret's fragment this long, anywhere in a message, is scrubbed (masked keys keep a few characters)
REDACTED = "[redacted]"
# API keys by their usual prefixes (OpenAI sk-, Slack xox?-, GitHub ghp_), and bearer credentials.
KEYLIKE = re.compile(r"(?i)\b(?:sk|pk|xox[abpr]|ghp)[-_][A-Za-z0-9*._\-]{6,}|\bbearer\s+\S+")


class DeadlineExceeded(TimeoutError):
    def __init__(self, seconds: float):
        super().__init__(f"timed out after {seconds:g} s")
        self.seconds = seconds


def call_with_deadline(fn: Callable[[], object], seconds: float, name: str = "mlmon-outbound"):
    """fn() if it returns or raises within `seconds`; else DeadlineExceeded (fn is left to finish in the
    background: the caller has stopped waiting for it).

    >>> call_with_deadline(lambda: 42, 1.0)
    42
    >>> import time; call_with_deadline(lambda: time.sleep(1), 0.05)
    Traceback (most recent call last):
    ...
    nodes.outbound.DeadlineExceeded: timed out after 0.05 s
    """
    box: dict = {}

    def run() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # handed to the caller's thread below
            box["error"] = exc

    worker = threading.Thread(target=run, name=name, daemon=True)
    worker.start()
    worker.join(max(0.0, seconds))
    if worker.is_alive():
        raise DeadlineExceeded(seconds)
    if "error" in box:
        raise box["error"]
    return box["value"]


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` without any secret, any fragment of one (8+ characters), or anything shaped like a key or token.

    >>> scrub("Incorrect API key provided: sk-live-abcd****************wxyz7890", ["sk-live-abcdefgh12345678wxyz7890"])
    'Incorrect API key provided: [redacted]'
    >>> scrub("POST https://hooks.example.com/services/T000/B000/XXXXsecretXXXX failed", ["https://hooks.example.com/services/T000/B000/XXXXsecretXXXX"])
    'POST [redacted] failed'
    """
    secrets = [s for s in secrets if s]
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    fragments = {s[i:i + WINDOW] for s in secrets for i in range(len(s) - WINDOW + 1)}
    if fragments:
        def masked(match: re.Match) -> str:
            token = match.group(0)
            hit = any(token[i:i + WINDOW] in fragments for i in range(len(token) - WINDOW + 1))
            return REDACTED if hit else token
        text = re.sub(r"[^\s'\"<>(){}\[\],;]+", masked, text)
    return KEYLIKE.sub(REDACTED, text)


def describe_error(exc: BaseException, secrets: Iterable[str] = (), limit: int = 160) -> str:
    """A short, recordable account of a failed call: its kind, HTTP status if any, and a scrubbed message."""
    if isinstance(exc, DeadlineExceeded):
        return str(exc)
    status = getattr(exc, "status_code", None) or getattr(exc, "code", None)
    message = " ".join(str(exc).split())
    text = type(exc).__name__ + (f" (HTTP {status})" if isinstance(status, int) else "")
    if message:
        text += f": {scrub(message, secrets)}"
    return text if len(text) <= limit else text[:limit - 3] + "..."
