"""Webhook signatures: lowercase hex HMAC-SHA256 of the raw body, no prefix, no timestamp.

The receiver accepts the current secret and, during a rotation, the previous one. Comparisons are
constant-time; secrets and signatures are never logged.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable


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


def body_key(body: bytes) -> str:
    """The idempotency key of a delivery that carries none: the SHA-256 of its body."""
    return "sha256:" + hashlib.sha256(body).hexdigest()
