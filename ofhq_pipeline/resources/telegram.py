"""Telegram as a Dagster resource: the bot token, chat and endpoint come from the deployment's
environment only; sending is `ofhq_pipeline.realtime.telegram.send_message`."""

from __future__ import annotations

from pydantic import Field

from ofhq_pipeline.realtime.telegram import DEFAULT_API_BASE_URL, send_message
from ofhq_pipeline.resources.locked import DeploymentLockedResource, env_or, locked_field


class TelegramResource(DeploymentLockedResource):
    """Where alerts go: a bot token (EnvVar TELEGRAM_BOT_TOKEN) and a chat (TELEGRAM_CHAT_ID)."""

    locked_fields = {"bot_token": "TELEGRAM_BOT_TOKEN", "chat_id": "TELEGRAM_CHAT_ID",
                     "api_base_url": "TELEGRAM_API_BASE_URL"}

    bot_token: str | None = locked_field(
        "TELEGRAM_BOT_TOKEN", "Bot API token; unset: alerts are logged, not sent", repr=False
    )
    chat_id: str | None = locked_field("TELEGRAM_CHAT_ID", "the chat (or channel) alerts go to")
    api_base_url: str | None = locked_field(
        "TELEGRAM_API_BASE_URL", "the Bot API's base URL; unset: Telegram's own"
    )
    timeout_s: float = Field(default=10.0, description="seconds one request may take")
    max_attempts: int = Field(default=5, description="tries of one alert before it fails")
    max_backoff_s: float = Field(default=30.0, description="the longest wait between tries")

    @classmethod
    def from_env(cls) -> TelegramResource:
        """Configured from TELEGRAM_BOT_TOKEN, TELEGRAM_CHAT_ID and TELEGRAM_API_BASE_URL."""
        return cls(
            bot_token=env_or("TELEGRAM_BOT_TOKEN"),
            chat_id=env_or("TELEGRAM_CHAT_ID"),
            api_base_url=env_or("TELEGRAM_API_BASE_URL", DEFAULT_API_BASE_URL),
        )

    def send(self, text: str) -> str:
        """Send `text` to the chat; "telegram", or "log" without a token (`send_message`)."""
        return send_message(
            text, token=self.deployment_value("bot_token"),
            chat_id=self.deployment_value("chat_id"),
            base_url=self.deployment_value("api_base_url", DEFAULT_API_BASE_URL),
            timeout_s=self.timeout_s, max_attempts=self.max_attempts,
            max_backoff_s=self.max_backoff_s,
        )
