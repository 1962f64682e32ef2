"""Webhook signatures: lowercase hex HMAC-SHA256 of the raw body, no prefix, no timestamp.

The receiver accepts the current secret and, during a rotation, the previous one until its expiry.
Comparisons are constant-time; secrets and signatures are never logged.

Secrets come from the environment:

- `OFAPI_WEBHOOK_SECRET`: the current signing secret;
- `OFAPI_WEBHOOK_SECRET_PREVIOUS`: the previous one, during a rotation;
- `OFAPI_WEBHOOK_SECRET_PREVIOUS_EXPIRES_AT`: the ISO instant after which the previous secret is
  refused (required with it, so that a forgotten rotation does not keep an old secret alive).

A secret anyone could guess makes every signature worthless, so a blank one, an obvious
placeholder (`change-me`, `secret`, `xxx`...) or one shorter than 24 characters is refused
(`SecretError`, naming the variable), and the receiver does not start.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from ofhq_pipeline.settings import parse_instant

CURRENT_SECRET_ENV = "OFAPI_WEBHOOK_SECRET"
PREVIOUS_SECRET_ENV = "OFAPI_WEBHOOK_SECRET_PREVIOUS"
PREVIOUS_EXPIRES_ENV = "OFAPI_WEBHOOK_SECRET_PREVIOUS_EXPIRES_AT"
MIN_SECRET_LENGTH = 24

# Whole values (letters and digits only, lowercased) that are clearly not chosen secrets...
_PLACEHOLDERS = frozenset({
    "", "changeme", "secret", "password", "xxx", "test", "example", "placeholder", "replaceme",
    "todo", "dummy", "default", "none", "null", "whsec", "webhooksecret", "yoursecret",
})
# ...and words that mark a template value whatever surrounds them.
_PLACEHOLDER_MARKERS = (
    "changeme", "replaceme", "placeholder", "yoursecret", "yourwebhook", "secrethere", "goeshere",
    "example", "dummy", "notasecret", "insertsecret", "putsecret",
)


class SecretError(ValueError):
    """A signing secret that must not be used; the message names the variable."""


def sign(body: bytes, secret: str) -> str:
    """The `Signature` header value the API sends for `body` under `secret`."""
    return hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def verify(body: bytes, signature: str | None, secrets: Iterable[str]) -> bool:
    """True when `signature` is the body's HMAC under any of `secrets` (current, then previous).

    Every secret is tried, so the time taken does not tell which one matched.
    """
    if not signature:
        return False
    presented = signature.strip().encode("ascii", "replace")
    matched = False
    for secret in secrets:
        expected = sign(body, secret).encode("ascii")
        matched |= hmac.compare_digest(expected, presented)
    return matched


def body_digest(body: bytes) -> str:
    """The lowercase hex SHA-256 of a body: what the landing store deduplicates bodies on, since
    the signature covers the body and nothing else."""
    return hashlib.sha256(body).hexdigest()


def body_key(body: bytes) -> str:
    """The idempotency key of a delivery that carries none: the SHA-256 of its body."""
    return "sha256:" + body_digest(body)


def _is_placeholder(value: str) -> bool:
    folded = re.sub(r"[^a-z0-9]", "", value.lower())
    if folded in _PLACEHOLDERS or any(marker in folded for marker in _PLACEHOLDER_MARKERS):
        return True
    if len(set(folded)) <= 2:  # xxxx..., 0000..., abab...
        return True
    # A short unit repeated ("secretsecretsecretsecret") is as guessable as the unit.
    return any(len(folded) >= 2 * n and folded == (folded[:n] * (len(folded) // n + 1))[:len(folded)]
               for n in range(1, 9))


def secret_problem(value: str) -> str | None:
    """Why `value` cannot be a signing secret, or None when it can."""
    if not value.strip():
        return "is blank"
    if value != value.strip():
        return "has leading or trailing whitespace (the API signs with the secret exactly)"
    if _is_placeholder(value):
        return "is a placeholder, not a secret"
    if len(value) < MIN_SECRET_LENGTH:
        return f"is shorter than {MIN_SECRET_LENGTH} characters"
    return None


@dataclass(frozen=True)
class SigningSecrets:
    """The secrets deliveries may be signed with: the current one, and during a rotation the
    previous one until `previous_expires_at` (None: until the receiver is restarted without it)."""

    current: str | None
    previous: str | None = None
    previous_expires_at: datetime | None = None

    def __post_init__(self) -> None:
        for name, value in ((CURRENT_SECRET_ENV, self.current),
                            (PREVIOUS_SECRET_ENV, self.previous)):
            if value is not None and (problem := secret_problem(value)):
                raise SecretError(f"{name} {problem}: set a random secret of at least "
                                  f"{MIN_SECRET_LENGTH} characters, the one the API signs with")
        if self.previous is not None and self.current is None:
            raise SecretError(f"{PREVIOUS_SECRET_ENV} is set without {CURRENT_SECRET_ENV}")

    @property
    def configured(self) -> bool:
        return self.current is not None

    def accepted(self, now: datetime) -> tuple[str, ...]:
        """The secrets a delivery received at `now` may be signed with, current first."""
        secrets = [self.current] if self.current is not None else []
        if self.previous is not None and (self.previous_expires_at is None
                                          or now < self.previous_expires_at):
            secrets.append(self.previous)
        return tuple(secrets)

    @classmethod
    def from_sequence(cls, secrets: Iterable[str] | None) -> SigningSecrets:
        """Current first, then previous (no expiry); empty input means no secret at all."""
        values = list(secrets or ())
        if len(values) > 2:
            raise SecretError("at most two signing secrets: the current and the previous one")
        return cls(current=values[0] if values else None,
                   previous=values[1] if len(values) > 1 else None)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> SigningSecrets:
        """The secrets in the environment; `SecretError` names a variable that is wrong.

        A variable that is set but blank is an error, not "unset": it is usually a secret that
        failed to reach the process.
        """
        env = os.environ if environ is None else environ
        current = env.get(CURRENT_SECRET_ENV)
        previous = env.get(PREVIOUS_SECRET_ENV)
        expires_text = env.get(PREVIOUS_EXPIRES_ENV)
        expires_at = None
        if previous is not None:
            if not (expires_text or "").strip():
                raise SecretError(
                    f"{PREVIOUS_SECRET_ENV} is set without {PREVIOUS_EXPIRES_ENV}: give the "
                    "instant the rotation ends (ISO-8601, e.g. 2026-12-31T00:00:00Z), after "
                    "which the previous secret is refused")
            try:
                expires_at = parse_instant(expires_text or "")
            except (ValueError, OverflowError):
                raise SecretError(f"{PREVIOUS_EXPIRES_ENV} is not an ISO-8601 instant: "
                                  f"{expires_text!r}") from None
        return cls(current=current, previous=previous, previous_expires_at=expires_at)
