"""The request sent for one fan: a compact system prompt, the previous summary and the window.

The system prompt and the schema are identical for every fan, so they form the cacheable prefix
of every request; a fan costs only his own transcript. Transcript ids are 1..n (the window's
local ids, mapped back to message ids on the way in), so no OnlyFans id leaves the machine and
ids cost one or two tokens each.
"""

from __future__ import annotations

import json

from ofhq_pipeline.intelligence.schema import RESPONSE_FORMAT
from ofhq_pipeline.intelligence.windows import Window

SYSTEM_PROMPT = """\
Profile one fan of a creator's paid chat for her chat team. Lines: "<id> F|C[ $price]: text" (F \
fan, C creator, $price a paid offer); "[date]" starts a day; [name] [email] [phone] [card] [ssn] \
[address] [handle] [url] are redacted. Judge him by his own lines. Fill the schema:
- single-choice fields: the best fit. emotional_drivers: all that apply. emotional_needs: <=5 \
short phrases.
- narrative_summary: <=600 chars, 2-3 sentences, the previous summary updated with this chat.
- intents: 0-100 each; evidence = ids of his lines showing it (empty if <50). ready_to_buy: will \
pay now; wants_custom; price_question; discount_request; wants_more content; high_intent: spends \
freely; churn_risk: may leave; escalation_intent: contact off-platform/meeting; trust_intent: \
doubts it is her; attention_intent: demands replies; status_intent: wants to be her top fan; \
emotional_support; entertainment; boundary_testing: pushes her limits.
- facts: only what he says of himself, short value, message_id = line id.
- objections: his reasons not to buy. custom_interest_level: 0-100. toxicity.flag: abusive or \
threatening (reason, else null). confidence: 0-100 overall."""

MAX_COMPLETION_TOKENS = 1_200


def user_prompt(window: Window, previous_summary: str | None) -> str:
    previous = (previous_summary or "").strip() or "none"
    return f"Previous summary: {previous}\n\nChat:\n{window.transcript}"


def request_body(model: str, window: Window, previous_summary: str | None) -> dict:
    """The chat-completions body, the same for a live request and a Batch API line."""
    return {
        "model": model,
        "messages": [
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": user_prompt(window, previous_summary)},
        ],
        "response_format": RESPONSE_FORMAT,
        "temperature": 0,
        "max_completion_tokens": MAX_COMPLETION_TOKENS,
    }


_FIXED_CHARS = len(SYSTEM_PROMPT) + len(json.dumps(RESPONSE_FORMAT, separators=(",", ":")))


def estimate_prompt_tokens(window: Window, previous_summary: str | None) -> int:
    """chars/4 over the prompt and the schema: what the budget reserves before sending."""
    return (_FIXED_CHARS + len(user_prompt(window, previous_summary)) + 3) // 4 + 12
