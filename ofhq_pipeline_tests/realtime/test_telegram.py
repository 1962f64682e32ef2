"""Telegram alerts against a local fake Bot API over real HTTP."""

from __future__ import annotations

import ssl
import traceback
from types import SimpleNamespace

import dagster as dg
import httpx
import pytest

from ofhq_pipeline.realtime import telegram as telegram_module
from ofhq_pipeline.realtime.telegram import TelegramError
from ofhq_pipeline.resources.telegram import TelegramResource
from ofhq_pipeline_tests.servers import FakeTelegram, free_port, serve_app

TOKEN = "7012345678:AAH-secret-token_xyz0123456789abcdef"


def assert_no_token(*texts: str) -> None:
    for text in texts:
        assert TOKEN not in text and TOKEN.split(":")[1] not in text


@pytest.fixture
def waits(monkeypatch) -> list[float]:
    """The seconds each retry waited: recorded instead of slept, so a test neither takes them nor
    depends on how long the machine took meanwhile."""
    waited: list[float] = []
    monkeypatch.setattr(telegram_module, "time", SimpleNamespace(sleep=waited.append))
    return waited


def test_429_waits_retry_after_then_sends(caplog, waits):
    caplog.set_level("DEBUG")
    fake = FakeTelegram(replies=[(429, {"ok": False, "error_code": 429,
                                        "description": "Too Many Requests: retry after 1",
                                        "parameters": {"retry_after": 1}})])
    with serve_app(fake.app()) as url:
        telegram = TelegramResource(bot_token=TOKEN, chat_id="-100123", api_base_url=url)
        assert telegram.send("🐋 Mark (acct_8f2k) tipped $50") == "telegram"
    (_, path, payload), (_, path_again, payload_again) = fake.requests
    assert path == path_again == f"/bot{TOKEN}/sendMessage"
    assert payload == payload_again == {"chat_id": "-100123", "text": "🐋 Mark (acct_8f2k) tipped $50"}
    assert waits == [1.0]  # Telegram's retry_after, before the second request
    assert "HTTP Request" in caplog.text and "429" in caplog.text  # httpx logged the URL...
    assert_no_token(caplog.text, repr(telegram))  # ...with the token redacted


def test_5xx_is_retried_with_capped_backoff(waits):
    fake = FakeTelegram(replies=[(502, {"ok": False}), (500, {"ok": False})])
    with serve_app(fake.app()) as url:
        telegram = TelegramResource(bot_token=TOKEN, chat_id="1", api_base_url=url,
                                    max_backoff_s=0.05)
        assert telegram.send("hi") == "telegram"
    assert len(fake.requests) == 3
    assert len(waits) == 2 and all(0 < wait <= 0.05 for wait in waits), waits  # capped backoff


def test_other_refusals_fail_at_once_without_the_token(caplog):
    caplog.set_level("DEBUG")
    fake = FakeTelegram(replies=[(400, {"ok": False, "error_code": 400,
                                        "description": "Bad Request: chat not found"})])
    with serve_app(fake.app()) as url:
        telegram = TelegramResource(bot_token=TOKEN, chat_id="1", api_base_url=url)
        with pytest.raises(TelegramError, match="chat not found") as raised:
            telegram.send("hi")
    assert len(fake.requests) == 1
    assert_no_token(str(raised.value), repr(raised.value), caplog.text,
                    "".join(traceback.format_exception(raised.value)))


def test_connection_errors_are_retried_a_bounded_number_of_times(caplog, waits):
    caplog.set_level("DEBUG")
    closed = f"http://127.0.0.1:{free_port()}"
    telegram = TelegramResource(bot_token=TOKEN, chat_id="1", api_base_url=closed,
                                max_attempts=3, max_backoff_s=0.01)
    with pytest.raises(TelegramError, match="ConnectError") as raised:
        telegram.send("hi")
    assert caplog.text.count("retrying") == 2 and len(waits) == 2
    assert_no_token(str(raised.value), caplog.text, "".join(traceback.format_exception(raised.value)))


def test_without_a_token_the_alert_is_logged_not_sent(caplog):
    caplog.set_level("INFO")
    fake = FakeTelegram()
    with serve_app(fake.app()) as url:
        telegram = TelegramResource(chat_id="1", api_base_url=url)
        assert telegram.send("whale alert: fan 48213377 spent $1,200") == "log"
    assert fake.requests == []
    assert "whale alert: fan 48213377 spent $1,200" in caplog.text


def test_the_resource_reads_its_token_from_the_environment(monkeypatch):
    fake = FakeTelegram()
    with serve_app(fake.app()) as url:
        monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
        monkeypatch.setenv("TELEGRAM_CHAT_ID", "-100777")
        monkeypatch.setenv("TELEGRAM_API_BASE_URL", url)

        @dg.asset
        def alert(telegram: TelegramResource) -> str:
            return telegram.send("from a run")

        with dg.instance_for_test() as instance:  # the result reads the run from it
            result = dg.materialize([alert], instance=instance,
                                    resources={"telegram": TelegramResource.from_env()})
            assert result.output_for_node("alert") == "telegram"
            run_config = str(result.dagster_run.run_config)
    assert fake.requests[0][1] == f"/bot{TOKEN}/sendMessage"
    assert fake.requests[0][2] == {"chat_id": "-100777", "text": "from a run"}
    assert_no_token(run_config)


def test_every_alert_verifies_tls_through_one_context_built_once(monkeypatch):
    contexts = []
    real_client = httpx.Client

    def client(**kwargs):
        contexts.append(kwargs.get("verify"))
        return real_client(**kwargs)

    monkeypatch.setattr(telegram_module.httpx, "Client", client)
    fake = FakeTelegram()
    with serve_app(fake.app()) as url:
        telegram = TelegramResource(bot_token=TOKEN, chat_id="-100123", api_base_url=url)
        for n in range(3):
            assert telegram.send(f"alert {n}") == "telegram"
    # One context for every send (the CA bundle is loaded once), and it verifies: certificates
    # required, host names checked.
    assert len(contexts) == 3 and all(c is contexts[0] for c in contexts)
    assert isinstance(contexts[0], ssl.SSLContext)
    assert contexts[0].verify_mode == ssl.CERT_REQUIRED and contexts[0].check_hostname
