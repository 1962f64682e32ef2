"""Start-up refuses guessable secrets and unsafe modes; the previous secret of a rotation stops
working at its expiry, also in a receiver started from the environment like the CLI."""

from __future__ import annotations

import os
import secrets as random_secrets
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from ofhq_pipeline.realtime.commands import webhooks
from ofhq_pipeline.realtime.receiver import (
    ReceiverConfigError,
    create_receiver_app,
    is_loopback,
    serve,
)
from ofhq_pipeline.realtime.signature import SecretError, SigningSecrets, secret_problem
from ofhq_pipeline_tests.realtime.conftest import CURRENT, PREVIOUS, event_body, signed_headers
from ofhq_pipeline_tests.realtime.wire import receiver_url
from ofhq_pipeline_tests.servers import free_port

ROOT = Path(__file__).resolve().parents[2]
PATH = "/webhooks/ofapi"
HANG = 120  # seconds: bounds a hang only, never how fast the machine is


@pytest.mark.parametrize(("value", "problem"), [
    ("", "is blank"),
    ("   \t", "is blank"),
    (CURRENT + "\n", "whitespace"),
    ("change-me", "placeholder"),
    ("changeme", "placeholder"),
    ("CHANGE_ME", "placeholder"),
    ("secret", "placeholder"),
    ("xxx", "placeholder"),
    ("...", "placeholder"),
    ("x" * 40, "placeholder"),
    ("change-me-change-me-change-me", "placeholder"),
    ("secretsecretsecretsecret", "placeholder"),
    ("<replace-me-with-the-real-webhook-secret>", "placeholder"),
    ("your-webhook-secret-goes-here-0123", "placeholder"),
    ("0123456789abcdef", "shorter than 24 characters"),
    ("whsec-stack-0f1e2d", "shorter than 24 characters"),
])
def test_guessable_secrets_are_named_for_what_they_are(value, problem):
    assert problem in (secret_problem(value) or "")


def test_real_secrets_pass():
    for value in (CURRENT, PREVIOUS, random_secrets.token_hex(16), random_secrets.token_urlsafe(32)):
        assert secret_problem(value) is None


def test_secrets_from_the_environment_name_the_variable_at_fault():
    good = {"OFAPI_WEBHOOK_SECRET": CURRENT}
    assert SigningSecrets.from_env(good) == SigningSecrets(CURRENT)
    assert not SigningSecrets.from_env({}).configured
    cases = [
        ({"OFAPI_WEBHOOK_SECRET": "change-me"}, "OFAPI_WEBHOOK_SECRET is a placeholder"),
        ({"OFAPI_WEBHOOK_SECRET": ""}, "OFAPI_WEBHOOK_SECRET is blank"),
        ({**good, "OFAPI_WEBHOOK_SECRET_PREVIOUS": "short-one",
          "OFAPI_WEBHOOK_SECRET_PREVIOUS_EXPIRES_AT": "2030-01-01T00:00:00Z"},
         "OFAPI_WEBHOOK_SECRET_PREVIOUS is shorter than 24"),
        ({**good, "OFAPI_WEBHOOK_SECRET_PREVIOUS": PREVIOUS},
         "OFAPI_WEBHOOK_SECRET_PREVIOUS is set without OFAPI_WEBHOOK_SECRET_PREVIOUS_EXPIRES_AT"),
        ({**good, "OFAPI_WEBHOOK_SECRET_PREVIOUS": PREVIOUS,
          "OFAPI_WEBHOOK_SECRET_PREVIOUS_EXPIRES_AT": "next tuesday"},
         "OFAPI_WEBHOOK_SECRET_PREVIOUS_EXPIRES_AT is not an ISO-8601 instant"),
        ({"OFAPI_WEBHOOK_SECRET_PREVIOUS": PREVIOUS,
          "OFAPI_WEBHOOK_SECRET_PREVIOUS_EXPIRES_AT": "2030-01-01T00:00:00Z"},
         "OFAPI_WEBHOOK_SECRET_PREVIOUS is set without OFAPI_WEBHOOK_SECRET"),
    ]
    for env, message in cases:
        with pytest.raises(SecretError, match=message):
            SigningSecrets.from_env(env)


def test_the_previous_secret_is_accepted_until_its_expiry():
    expiry = datetime(2026, 12, 1, tzinfo=UTC)
    rotation = SigningSecrets.from_env({
        "OFAPI_WEBHOOK_SECRET": CURRENT, "OFAPI_WEBHOOK_SECRET_PREVIOUS": PREVIOUS,
        "OFAPI_WEBHOOK_SECRET_PREVIOUS_EXPIRES_AT": "2026-12-01T01:00:00+01:00"})
    assert rotation.previous_expires_at == expiry
    assert rotation.accepted(expiry - timedelta(seconds=1)) == (CURRENT, PREVIOUS)
    assert rotation.accepted(expiry) == (CURRENT,)


def test_an_expired_previous_secret_is_refused_over_http(sqlite_store):
    def rotation(expires_at: datetime) -> SigningSecrets:
        return SigningSecrets(CURRENT, PREVIOUS, previous_expires_at=expires_at)

    expired = create_receiver_app(sqlite_store, rotation(datetime.now(UTC) - timedelta(seconds=1)))
    with receiver_url(expired) as url:
        body = event_body(n=1)
        response = httpx.post(url + PATH, content=body, headers=signed_headers(body, "evt_1",
                                                                               secret=PREVIOUS))
        assert response.status_code == 401
        assert httpx.post(url + PATH, content=body,
                          headers=signed_headers(body, "evt_1")).status_code == 200
    running = create_receiver_app(sqlite_store, rotation(datetime.now(UTC) + timedelta(hours=1)))
    with receiver_url(running) as url:
        body = event_body(n=2)
        assert httpx.post(url + PATH, content=body, headers=signed_headers(
            body, "evt_2", secret=PREVIOUS)).json() == {"status": "stored"}
    assert [e.idempotency_key for e in sqlite_store.events_after(0, 10)] == ["evt_1", "evt_2"]


def test_the_app_refuses_weak_secrets_too(sqlite_store):
    for secrets, name in ((["change-me"], "OFAPI_WEBHOOK_SECRET is a placeholder"),
                          ([CURRENT, "tiny"], "OFAPI_WEBHOOK_SECRET_PREVIOUS is shorter"),
                          ([""], "OFAPI_WEBHOOK_SECRET is blank")):
        with pytest.raises(ReceiverConfigError, match=name):
            create_receiver_app(sqlite_store, secrets)


def test_the_cli_refuses_to_start_with_a_placeholder_or_short_secret(monkeypatch, tmp_path):
    monkeypatch.setenv("OFHQ_LANDING_URL", f"sqlite:///{tmp_path / 'never.db'}")
    runner = CliRunner()
    for env, message in (
        ({"OFAPI_WEBHOOK_SECRET": "change-me"}, "OFAPI_WEBHOOK_SECRET is a placeholder"),
        ({"OFAPI_WEBHOOK_SECRET": "   "}, "OFAPI_WEBHOOK_SECRET is blank"),
        ({"OFAPI_WEBHOOK_SECRET": "0123456789abcdef"}, "OFAPI_WEBHOOK_SECRET is shorter than 24"),
        ({"OFAPI_WEBHOOK_SECRET": CURRENT, "OFAPI_WEBHOOK_SECRET_PREVIOUS": "xxx",
          "OFAPI_WEBHOOK_SECRET_PREVIOUS_EXPIRES_AT": "2030-01-01T00:00:00Z"},
         "OFAPI_WEBHOOK_SECRET_PREVIOUS is a placeholder"),
    ):
        result = runner.invoke(webhooks, ["serve", "--port", "0"], env=env)
        assert result.exit_code != 0 and message in result.output, result.output
    assert not (tmp_path / "never.db").exists()  # refused before opening anything


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.1.2.3", "receiver.example.com", ""])
def test_insecure_mode_may_only_listen_on_loopback(host, monkeypatch, tmp_path):
    monkeypatch.setenv("OFHQ_LANDING_URL", f"sqlite:///{tmp_path / 'never.db'}")
    assert not is_loopback(host)
    with pytest.raises(ReceiverConfigError, match="loopback"):
        serve(host, 0, insecure=True)
    result = CliRunner().invoke(webhooks, ["serve", "--host", host, "--port", "0", "--insecure"])
    assert result.exit_code != 0 and "loopback" in result.output
    assert not (tmp_path / "never.db").exists()


def test_loopback_hosts():
    assert all(is_loopback(h) for h in ("127.0.0.1", "127.8.9.10", "::1", "[::1]", "localhost"))


def test_a_receiver_started_from_the_environment_honours_the_expiry(tmp_path, sqlite_url):
    """`serve()` in a process of its own, configured like the CLI: previous secret expired."""
    port = free_port()
    env = {**os.environ, "OFAPI_WEBHOOK_SECRET": CURRENT, "OFAPI_WEBHOOK_SECRET_PREVIOUS": PREVIOUS,
           "OFAPI_WEBHOOK_SECRET_PREVIOUS_EXPIRES_AT":
               (datetime.now(UTC) - timedelta(minutes=1)).isoformat(),
           "OFHQ_LANDING_URL": sqlite_url}
    code = f"from ofhq_pipeline.realtime.receiver import serve; serve('127.0.0.1', {port})"
    log = tmp_path / "receiver.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=env, stdout=out,
                                stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + HANG  # bounds a hang only: a slow start is no failure
        while True:
            assert proc.poll() is None, log.read_text()
            try:
                if httpx.get(base + "/healthz", timeout=HANG).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, f"hang: not answering after {HANG} s\n" + (
                log.read_text())
            time.sleep(0.05)
        body = event_body(n=1)
        assert httpx.post(base + PATH, content=body, timeout=HANG, headers=signed_headers(
            body, "evt_1", secret=PREVIOUS)).status_code == 401
        assert httpx.post(base + PATH, content=body, timeout=HANG, headers=signed_headers(
            body, "evt_1")).json() == {"status": "stored"}
    finally:
        proc.terminate()
        proc.wait(timeout=HANG)
    assert "previous webhook secret expired" in log.read_text()
    assert CURRENT not in log.read_text() and PREVIOUS not in log.read_text()
