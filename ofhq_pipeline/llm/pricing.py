"""What a request costs: USD per million tokens, per model; the Batch API at half price."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Price:
    """USD per million tokens."""

    input: float
    output: float
    cached_input: float | None = None  # prompt-cache hits; None: billed as plain input


# Standard-tier list prices. A dated snapshot ("gpt-4o-mini-2024-07-18") takes its family's price.
PRICES: dict[str, Price] = {
    "gpt-4o-mini": Price(0.15, 0.60, 0.075),
    "gpt-4o": Price(2.50, 10.00, 1.25),
    "gpt-4.1": Price(2.00, 8.00, 0.50),
    "gpt-4.1-mini": Price(0.40, 1.60, 0.10),
    "gpt-4.1-nano": Price(0.10, 0.40, 0.025),
}
BATCH_DISCOUNT = 0.5
DEFAULT_EXPECTED_COMPLETION_TOKENS = 450


def price_for(model: str, prices: dict[str, Price] | None = None) -> Price | None:
    """The price of `model`, matching the longest known name it starts with; None if unknown."""
    table = prices or PRICES
    for name in sorted(table, key=len, reverse=True):
        if model == name or model.startswith(name + "-"):
            return table[name]
    return None


def cost_usd(
    price: Price | None,
    prompt_tokens: int,
    completion_tokens: int,
    cached_tokens: int = 0,
    *,
    batch: bool = False,
) -> float | None:
    """USD for one request's usage; None when the model's price is unknown."""
    if price is None:
        return None
    cached = min(cached_tokens, prompt_tokens) if price.cached_input is not None else 0
    usd = (
        (prompt_tokens - cached) * price.input
        + cached * (price.cached_input or 0.0)
        + completion_tokens * price.output
    ) / 1_000_000
    return usd * BATCH_DISCOUNT if batch else usd
