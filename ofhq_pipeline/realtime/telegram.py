"""Alerts to Telegram: `send_message(text, ...)` posts to a chat through the Bot API.

Without a bot token (TELEGRAM_BOT_TOKEN unset) the alert is logged instead, so a pipeline without
Telegram still shows its alerts. The token is part of every Bot API URL, so it is kept out of
every log line and error this module or httpx writes: httpx's request log is filtered, and
errors carry a message with the token replaced.
"""

from __future__ import annotations

import functools
import logging
import random
import re
import ssl
import time
from typing import Any

import httpx

log = logging.getLogger(__name__)

DEFAULT_API_BASE_URL = "https://api.telegram.org"
_BOT_PATH = re.compile(r"/bot[^/\s]+/")


def redact(text: str, token: str | None = None) -> str:
    """`text` with any bot token (and any `/bot<...>/` URL segment) replaced."""
    if token:
        text = text.replace(token, "<redacted>")
    return _BOT_PATH.sub("/bot<redacted>/", text)


class _RedactBotUrls(logging.Filter):
    """httpx logs every request's URL at INFO; the Bot API puts the token in that URL."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            args = record.args if isinstance(record.args, tuple) else (record.args,)
            record.args = tuple(redact(str(arg)) if isinstance(arg, httpx.URL | str) else arg
                                for arg in args)
        record.msg = redact(str(record.msg))
        return True


logging.getLogger("httpx").addFilter(_RedactBotUrls())


class TelegramError(RuntimeError):
    """Telegram refused or could not be reached; the message never contains the token."""


@functools.cache
def tls_context() -> ssl.SSLContext:
    """httpx's own verifying context, built once: loading the CA bundle costs a client tens of
    milliseconds of CPU, which an alert should not pay every time."""
    return httpx.create_ssl_context()


def send_message(text: str, *, token: str | None, chat_id: str | None, base_url: str,
                 timeout_s: float = 10.0, max_attempts: int = 5,
                 max_backoff_s: float = 30.0) -> str:
    """Send `text` to the chat; returns the channel used: "telegram", or "log" without a token.

    429 (waiting Telegram's `retry_after`), 5xx and connection errors are retried up to
    `max_attempts` with capped backoff; any other refusal raises `TelegramError` at once.
    """
    if not token:
        log.warning("alert (TELEGRAM_BOT_TOKEN unset, logged instead of sent): %s", text)
        return "log"
    if not chat_id:
        raise TelegramError("TELEGRAM_CHAT_ID is not set: no chat to send alerts to")
    url = f"{base_url.rstrip('/')}/bot{token}/sendMessage"

    def backoff(attempt: int) -> float:
        return min(max_backoff_s, 0.5 * 2 ** (attempt - 1)) * random.uniform(0.5, 1.0)

    with httpx.Client(timeout=timeout_s, verify=tls_context()) as client:
        attempts = max(1, max_attempts)
        for attempt in range(1, attempts + 1):
            try:
                response = client.post(url, json={"chat_id": chat_id, "text": text})
            except httpx.TransportError as exc:
                problem = f"{type(exc).__name__}: {redact(str(exc), token)}"
                wait = backoff(attempt)
            else:
                if response.status_code == 200 and _body(response).get("ok"):
                    return "telegram"
                problem = redact(_describe(response), token)
                if response.status_code == 429:
                    wait = min(_retry_after(response), max_backoff_s)
                elif response.status_code >= 500:
                    wait = backoff(attempt)
                else:
                    break
            if attempt < attempts:
                log.warning("telegram send failed (%s), attempt %d of %d, retrying in %.1f s",
                            problem, attempt, attempts, wait)
                time.sleep(wait)
    raise TelegramError(f"telegram sendMessage failed: {problem}")


def _body(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _describe(response: httpx.Response) -> str:
    """Status and Telegram's own description; never the URL, which holds the token."""
    description = _body(response).get("description")
    return f"HTTP {response.status_code}" + (f" {description}" if description else "")


def _retry_after(response: httpx.Response) -> float:
    """Telegram's `parameters.retry_after`, else the Retry-After header, else 1 s."""
    parameters = _body(response).get("parameters")
    if isinstance(parameters, dict) and isinstance(parameters.get("retry_after"), int | float):
        return max(0.0, float(parameters["retry_after"]))
    header = response.headers.get("retry-after", "")
    try:
        return max(0.0, float(header))
    except ValueError:
        return 1.0
