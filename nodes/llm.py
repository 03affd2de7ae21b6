"""The LLM that writes mlmon's narratives: any LangChain chat model (by default langchain-openai's ChatOpenAI,
configured from the environment), asked under a hard deadline with bounded retries.

`Narrator.ask` never raises and never waits past its deadline: a failure comes back as the reason the
deterministic text stands in. After a few failed days in a row it stops asking for the rest of the process,
so an LLM that is down costs a run a few timeouts, not one a day. The API key lives only inside the chat
model object (and the process environment); every error text is scrubbed of it before it is returned.
"""
from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field

from nodes.outbound import DeadlineExceeded, call_with_deadline, describe_error
from nodes.prompts import MalformedAnswer, read_answer

log = logging.getLogger(__name__)

MODEL_VAR, KEY_VAR, BASE_URL_VAR = "MLMON_LLM_MODEL", "OPENAI_API_KEY", "OPENAI_BASE_URL"
DEFAULT_MODEL = "gpt-4.1-mini"  # fast and cheap, no reasoning tokens to wait for, speaks chat completions
DEFAULT_TIMEOUT = 20.0  # seconds a day may wait for its narrative, retries included
RETRIES = 2  # further attempts after a transient failure (connection, 408, 429, 5xx), within the deadline
GIVE_UP_AFTER = 3  # failed days in a row after which the process stops asking
FIRST_BACKOFF = 0.2  # seconds before the second attempt, doubling
NO_KEY_PLACEHOLDER = "not-needed"  # local OpenAI-compatible servers accept any key, the client insists on one


def _retryable(exc: BaseException) -> bool:
    status = getattr(exc, "status_code", None)
    if isinstance(exc, MalformedAnswer):
        return False
    if isinstance(status, int):
        return status in (408, 409, 429) or status >= 500
    return True  # no HTTP status: a connection that failed, or a fault in the client


@dataclass
class Narrator:
    """Asks `model` for a day's narrative. `unavailable` (a reason) means there is no model to ask."""

    model: object | None  # a langchain_core BaseChatModel
    model_name: str | None
    timeout: float = DEFAULT_TIMEOUT
    retries: int = RETRIES
    secrets: tuple = field(default=(), repr=False)  # strings never to be recorded (the API key)
    unavailable: str | None = None
    give_up_after: int = GIVE_UP_AFTER
    failures_in_a_row: int = 0
    last_failure: str | None = None
    calls: int = 0  # attempts made (for tests and the run's log)

    def ask(self, messages: list[tuple[str, str]]) -> tuple[tuple[str, str] | None, str]:
        """((narrative, justification), "llm"), or (None, why not) after at most `timeout` seconds."""
        if self.unavailable is not None:
            return None, self.unavailable
        if self.failures_in_a_row >= self.give_up_after:
            return None, f"LLM not asked: {self.failures_in_a_row} failed days in a row, the last: {self.last_failure}"
        deadline = time.monotonic() + self.timeout
        reason, backoff = "no attempt made", FIRST_BACKOFF
        for attempt in range(1 + self.retries):
            remaining = deadline - time.monotonic()
            if remaining <= 0.05:
                break
            self.calls += 1
            try:
                reply = call_with_deadline(lambda: self.model.invoke(messages), remaining, name="mlmon-llm")
                answer = read_answer(reply.text if hasattr(reply, "text") else str(reply))
            except DeadlineExceeded:
                reason = f"timed out after {self.timeout:g} s"
                break
            except Exception as exc:  # whatever the client raised: the deterministic text stands in
                reason = ("malformed answer: " + str(exc)) if isinstance(exc, MalformedAnswer) else describe_error(exc, self.secrets)
                if not _retryable(exc):
                    break
                time.sleep(max(0.0, min(backoff, deadline - time.monotonic() - 0.05)))
                backoff *= 2
                continue
            self.failures_in_a_row, self.last_failure = 0, None
            return answer, "llm"
        self.failures_in_a_row += 1
        self.last_failure = reason
        log.warning("LLM narrative failed (%s); using the deterministic text", reason)
        return None, reason


def chat_model_from_environment(timeout: float) -> tuple[object | None, str, tuple, str | None]:
    """(ChatOpenAI or None, model name, secrets, why not) from MLMON_LLM_MODEL, OPENAI_API_KEY, OPENAI_BASE_URL.

    With no key and no base URL there is nothing to ask; with a base URL alone (a local server) a
    placeholder key is sent.
    """
    name = os.environ.get(MODEL_VAR) or DEFAULT_MODEL
    key, base_url = os.environ.get(KEY_VAR) or None, os.environ.get(BASE_URL_VAR) or None
    if key is None and base_url is None:
        return None, name, (), f"no {KEY_VAR} (and no {BASE_URL_VAR})"
    from langchain_openai import ChatOpenAI  # imported only when narrating: it takes a second or two

    model = ChatOpenAI(model=name, api_key=key or NO_KEY_PLACEHOLDER, base_url=base_url, timeout=timeout,
                       max_retries=0,  # retries are ours, inside the day's deadline
                       temperature=0, use_responses_api=False)  # chat completions: what compatible servers speak
    return model, name, tuple(s for s in (key,) if s), None


def make_narrator(chat_model: object | None = None, timeout: float = DEFAULT_TIMEOUT) -> Narrator:
    """The run's narrator: `chat_model` if given (tests, other providers), else ChatOpenAI from the environment."""
    if chat_model is not None:
        name = getattr(chat_model, "model_name", None) or getattr(chat_model, "model", None) or type(chat_model).__name__
        secrets = tuple(s for s in (os.environ.get(KEY_VAR),) if s)
        return Narrator(chat_model, str(name), timeout, secrets=secrets)
    try:
        model, name, secrets, unavailable = chat_model_from_environment(timeout)
    except Exception as exc:  # not installed, or a setting the client rejects: the run goes on without it
        secrets = tuple(s for s in (os.environ.get(KEY_VAR),) if s)
        name = os.environ.get(MODEL_VAR) or DEFAULT_MODEL
        return Narrator(None, name, timeout, secrets=secrets,
                        unavailable=f"the LLM client could not be set up ({describe_error(exc, secrets)})")
    return Narrator(model, name, timeout, secrets=secrets, unavailable=unavailable)
