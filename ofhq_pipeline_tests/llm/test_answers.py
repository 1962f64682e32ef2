"""Reading a model's answer into a row's fields: the outcome every LLM step records for an answer
that is malformed, incomplete or out of range, and for a refusal."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from ofhq_pipeline.chatters.qa_schema import QAOutput
from ofhq_pipeline.llm.answers import FAILED, OK, Usage, parse_completion, read_answer
from ofhq_pipeline.llm.chat import Budget, LLMSettings, SchemaChat

VALID = {
    "score": 80, "tone_match": 70, "offer_pacing": 90, "pushiness": 10,
    "missed_buying_signals": [], "policy_breaches": [], "reasons": ["warm and patient"],
}
USAGE = {"prompt_tokens": 120, "completion_tokens": 30,
         "prompt_tokens_details": {"cached_tokens": 20}}


def body(content: str | None, *, refusal: str | None = None, finish: str = "stop") -> dict:
    message = {"role": "assistant", "content": content, "refusal": refusal}
    return {"choices": [{"message": message, "finish_reason": finish}], "usage": USAGE}


def read(answer: dict) -> QAOutput:
    return parse_completion(answer, QAOutput)


def without(key: str) -> str:
    return json.dumps({k: v for k, v in VALID.items() if k != key})


INVALID = [
    pytest.param('{"score": 80, "tone_match": ', "schema: answer: Invalid JSON", id="malformed"),
    pytest.param(without("score"), "schema: score: Field required", id="missing-field"),
    pytest.param(json.dumps({**VALID, "score": 150}),
                 "schema: score: Input should be less than or equal to 100", id="score-too-high"),
    pytest.param(json.dumps({**VALID, "pushiness": -1}),
                 "schema: pushiness: Input should be greater than or equal to 0",
                 id="score-negative"),
]


def test_a_valid_answer_is_the_output_with_its_usage():
    answered = read_answer(body(json.dumps(VALID)), read)
    assert answered.output == QAOutput.model_validate(VALID)
    assert (answered.status, answered.error, answered.retry) == (OK, None, None)
    assert answered.usage == Usage(120, 30, 20)


@pytest.mark.parametrize(("content", "reason"), INVALID)
def test_an_invalid_answer_fails_with_its_reason_and_may_be_asked_again(content, reason):
    answered = read_answer(body(content), read)
    assert answered.output is None
    assert answered.status == FAILED
    assert answered.error.startswith(f"invalid answer: {reason}")
    assert answered.retry == answered.error.removeprefix("invalid answer: ")
    assert answered.usage == Usage(120, 30, 20)  # an invalid answer is still paid for


def test_a_refusal_fails_at_once():
    answered = read_answer(body(None, refusal="I can't help with that."), read)
    assert (answered.output, answered.retry) == (None, None)
    assert answered.error == "refused: I can't help with that."


def test_a_cut_off_or_empty_answer_is_invalid():
    assert read_answer(body("{", finish="length"), read).error == (
        "invalid answer: answer cut off at the token limit")
    assert read_answer(body(""), read).error == "invalid answer: empty answer"
    assert read_answer({"choices": []}, read).error == "invalid answer: no choices in the answer"


def test_row_holds_what_every_llm_table_records():
    answered = read_answer(body(json.dumps({**VALID, "score": 150})), read)
    assert answered.row() == {
        "status": FAILED, "error": answered.error, "prompt_tokens": 120,
        "completion_tokens": 30, "cached_tokens": 20, "cost_usd": None, "attempts": 1,
    }


class ScriptedClient:
    """Answers chat completions from a list, keeping each request body."""

    def __init__(self, contents: list[str]) -> None:
        self.contents = list(contents)
        self.bodies: list[dict] = []
        self.chat = SimpleNamespace(completions=SimpleNamespace(create=self.create))

    def create(self, **request):
        self.bodies.append(request)
        answer = body(self.contents.pop(0))
        return SimpleNamespace(model_dump=lambda: answer)

    def close(self) -> None:
        pass


def ask(contents: list[str]) -> tuple:
    client = ScriptedClient(contents)
    chat = SchemaChat(LLMSettings(api_key="sk-test", model="gpt-4o-mini"), client=client)
    request = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "review"}]}
    return chat.ask(request, read, Budget(), estimate=0.0), client.bodies


@pytest.mark.parametrize(("content", "reason"), INVALID)
def test_asked_twice_invalid_the_row_is_failed_with_the_reason(content, reason):
    answered, bodies = ask([content, content])
    row = answered.row()
    assert (row["status"], row["attempts"]) == (FAILED, 2)
    assert row["error"].startswith(f"invalid answer: {reason}")
    assert (row["prompt_tokens"], row["completion_tokens"]) == (240, 60)  # both answers
    correction = bodies[1]["messages"][-1]["content"]
    assert correction.startswith(f"Invalid ({reason}")


def test_an_invalid_answer_corrected_on_the_second_ask_is_ok():
    answered, bodies = ask([without("score"), json.dumps(VALID)])
    assert (answered.status, answered.error, answered.attempts) == (OK, None, 2)
    assert answered.output.score == 80
    assert len(bodies) == 2
