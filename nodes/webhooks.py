"""Delivering incident events to webhooks (Slack-compatible JSON), from the outbox in the notifications store.

A delivery round sends each target the events it has not accepted, oldest first, with bounded retries and
backoff, and never runs past its time budget. A target that fails is paused for the rest of the process
(its events wait in the outbox) and tried once more when the run ends, so a dead webhook costs a run at
most two budgets. An event is marked delivered only after the receiver answered 2xx: a crash in between
sends it again with the same event id (in the payload and the Idempotency-Key header), for the receiver
to drop. A URL may hold a secret (Slack's do): it is kept in memory only, and shown and stored redacted.
"""
from __future__ import annotations

import hashlib
import json
import logging
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from nodes import faults
from nodes.outbound import DeadlineExceeded, call_with_deadline, describe_error, scrub

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 10.0  # seconds a delivery round may take, retries included
ATTEMPTS = 3  # tries per event and round (transient failures only: connection, 408, 429, 5xx)
FIRST_BACKOFF = 0.25  # seconds before the second try, doubling


def check_webhook_url(url: str) -> None:
    """Raise ValueError unless `url` is an absolute http(s) URL. The message never repeats the URL."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises on a malformed port)
    except ValueError:
        raise ValueError("--notify-webhook: not a valid URL") from None
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"--notify-webhook: the URL must start with http:// or https:// (not {parts.scheme or 'no'} scheme)")
    if not parts.hostname:
        raise ValueError("--notify-webhook: the URL has no host")


def redact(url: str) -> str:
    """The URL as it may be shown: scheme, host and port; path, query and credentials hidden.

    >>> redact("https://hooks.slack.com/services/T0/B0/secret")
    'https://hooks.slack.com/...'
    >>> redact("http://user:pw@127.0.0.1:8080")
    'http://127.0.0.1:8080'
    """
    parts = urlsplit(url)
    shown = f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return shown + ("/..." if parts.path.strip("/") or parts.query else "")


@dataclass(frozen=True)
class WebhookTarget:
    url: str = field(repr=False)

    @property
    def id(self) -> str:
        """A digest of the URL: the same webhook is the same target across a resume, without storing the URL."""
        return hashlib.sha256(self.url.encode()).hexdigest()[:16]

    @property
    def display(self) -> str:
        return redact(self.url)


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A webhook that redirects is misconfigured: following it would drop the POST body (urllib re-sends a GET)."""

    def redirect_request(self, *args, **kwargs):
        return None


_OPENER = urllib.request.build_opener(_NoRedirects)


class Undelivered(Exception):
    def __init__(self, reason: str, retryable: bool):
        super().__init__(reason)
        self.retryable = retryable


def post_json(url: str, event: dict, timeout: float) -> None:
    """POST the event; raise Undelivered unless the receiver answers 2xx."""
    request = urllib.request.Request(url, data=json.dumps(event).encode(), method="POST", headers={
        "Content-Type": "application/json", "User-Agent": "mlmon", "Idempotency-Key": event["event_id"]})
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            response.read(65536)
            status = response.status
    except urllib.error.HTTPError as exc:
        raise Undelivered(f"HTTP {exc.code}", exc.code in (408, 429) or exc.code >= 500) from None
    except (urllib.error.URLError, OSError) as exc:  # refused, unreachable, reset, timed out
        reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        text = describe_error(reason, (url,)) if isinstance(reason, BaseException) else scrub(str(reason), (url,))
        raise Undelivered(text, True) from None
    if not 200 <= status < 300:
        raise Undelivered(f"HTTP {status}", False)


@dataclass
class Notifier:
    """The run's webhook targets and what this process has seen of them."""

    urls: list[str] = field(repr=False)
    timeout: float = DEFAULT_TIMEOUT
    attempts: int = ATTEMPTS
    kills: dict = field(default_factory=dict)  # MLMON_KILL: `deliver@D` dies between a 2xx and its record
    post: object = post_json
    paused: dict = field(default_factory=dict)  # target id -> why it is left for the end of the run
    sent: int = 0  # events accepted in this process
    tried: int = 0  # POSTs made in this process

    def __post_init__(self):
        self.targets = [WebhookTarget(u) for u in dict.fromkeys(self.urls)]

    def register(self, stores, run_id: str) -> None:
        for target in self.targets:
            stores.notifications.add_target(run_id, target.id, target.display)

    def deliver(self, stores, run_id: str, final: bool = False) -> None:
        """One round: each target gets its undelivered events, within `timeout` seconds in all.

        `final` (the run's end) tries the paused targets again too.
        """
        if final:
            self.paused.clear()
        deadline = time.monotonic() + self.timeout
        for target in self.targets:
            if target.id in self.paused:
                continue
            for event in stores.notifications.pending(run_id, target.id):
                if deadline - time.monotonic() < 0.05:
                    return  # the round's budget is spent: the rest stays in the outbox for the next round
                error = self._send(target, event, deadline)
                if error is None:
                    faults.maybe_kill(self.kills, "deliver", event["day"])
                    stores.notifications.delivered(event["event_id"], target.id)
                    self.sent += 1
                    continue
                stores.notifications.failed(event["event_id"], target.id, error)
                self.paused[target.id] = error
                log.warning("webhook %s did not take event %s (%s)%s", target.display, event["event_id"], error,
                            "" if final else "; its events wait for the end of the run")
                break

    def _send(self, target: WebhookTarget, event: dict, deadline: float) -> str | None:
        """None once the target accepted the event, else why not (after at most `attempts` tries)."""
        error, backoff = "not attempted", FIRST_BACKOFF
        for _ in range(self.attempts):
            remaining = deadline - time.monotonic()
            if remaining < 0.05:
                break
            self.tried += 1
            try:
                call_with_deadline(lambda: self.post(target.url, event, remaining), remaining, name="mlmon-webhook")
                return None
            except DeadlineExceeded as exc:
                return f"timed out after {exc.seconds:.1f} s"
            except Undelivered as exc:
                error = str(exc)
                if not exc.retryable:
                    break
            except Exception as exc:  # a fault in the client itself: recorded, never raised into the run
                error = describe_error(exc, (target.url,))
            time.sleep(max(0.0, min(backoff, deadline - time.monotonic() - 0.05)))
            backoff *= 2
        return error
