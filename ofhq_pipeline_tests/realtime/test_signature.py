"""Signatures: HMAC-SHA256 of the raw body, lowercase hex, current or previous secret."""

from __future__ import annotations

import hashlib
import hmac

from ofhq_pipeline.realtime.signature import body_key, sign, verify

# RFC 4231, test case 2.
RFC4231_KEY = "Jefe"
RFC4231_DATA = b"what do ya want for nothing?"
RFC4231_SHA256 = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"


def test_sign_matches_the_rfc_4231_vector():
    assert sign(RFC4231_DATA, RFC4231_KEY) == RFC4231_SHA256


def test_sign_is_lowercase_hex_of_the_raw_bytes_without_prefix():
    body = b'{"event":"tips.received","account_id":"acct_8f2k","payload":{"id":1}}'
    expected = hmac.new(b"whsec-test", body, hashlib.sha256).hexdigest()
    signature = sign(body, "whsec-test")
    assert signature == expected
    assert signature == signature.lower() and len(signature) == 64
    # The raw bytes, not a re-serialisation: one more space changes the signature.
    assert sign(body.replace(b":", b": ", 1), "whsec-test") != signature


def test_verify_accepts_the_current_and_the_previous_secret_only():
    body = b'{"event":"transactions.new"}'
    secrets = ["current", "previous"]
    assert verify(body, sign(body, "current"), secrets)
    assert verify(body, sign(body, "previous"), secrets)
    assert not verify(body, sign(body, "older"), secrets)
    assert not verify(body, sign(body, "previous"), ["current"])


def test_verify_refuses_missing_forged_and_prefixed_signatures():
    body = b'{"event":"transactions.new"}'
    good = sign(body, "current")
    assert not verify(body, None, ["current"])
    assert not verify(body, "", ["current"])
    assert not verify(body, "sha256=" + good, ["current"])
    assert not verify(body, good[:-1] + ("0" if good[-1] != "0" else "1"), ["current"])
    assert not verify(body + b" ", good, ["current"])
    assert not verify(body, "é" * 64, ["current"])
    assert not verify(body, good, [])


def test_body_key_is_the_sha256_of_the_body():
    body = b'{"event":"users.typing"}'
    assert body_key(body) == "sha256:" + hashlib.sha256(body).hexdigest()
