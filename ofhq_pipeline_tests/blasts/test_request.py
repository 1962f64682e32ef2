"""A blast request from its tags: every value checked, each refusal naming its tag; and the
request that resumes a recorded blast is the same blast (same parameters digest), however the
original was typed."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ofhq_pipeline.blasts.ledger import Blast
from ofhq_pipeline.blasts.plan import TAGS, BlastRequest, BlastRequestError


def tags(**values: str) -> dict[str, str]:
    base = {"segment": "everyone", "text": "hi", "media": "7001", "price": "15", "at": "now"}
    return {TAGS[k]: v for k, v in {**base, **values}.items()}


def recorded(request: BlastRequest) -> Blast:
    """The blast as the ledger keeps it."""
    return Blast("acct_1", request.blast_id or "b1", request.segment, request.text,
                 request.media_ids, request.price_mode, request.price_cents, request.at, 0.1, 24,
                 False, datetime(2026, 11, 1, tzinfo=UTC), request.parameters_sha256("acct_1"),
                 "run-1")


@pytest.mark.parametrize("price, at", [("15", "now"), ("15.0", "best"), ("recommended", "now"),
                                       ("0", "2026-11-02T09:00Z")])
def test_the_request_that_resumes_a_blast_is_the_same_blast(price, at):
    request = BlastRequest.from_tags(tags(price=price, at=at, id="b1", media="7001, 7002"))
    resumed = BlastRequest.resuming(recorded(request))
    assert resumed.confirm is True and resumed.blast_id == "b1"
    assert resumed.parameters_sha256("acct_1") == request.parameters_sha256("acct_1")
    assert BlastRequest.from_tags(resumed.tags()) == resumed  # tags carry it whole


def test_another_text_or_price_is_another_blast():
    request = BlastRequest.from_tags(tags())
    for other in (tags(text="hello"), tags(price="16"), tags(media="7002"), tags(at="best")):
        assert BlastRequest.from_tags(other).parameters_sha256("acct_1") != \
            request.parameters_sha256("acct_1")
    assert request.parameters_sha256("acct_2") != request.parameters_sha256("acct_1")


@pytest.mark.parametrize("values, named", [
    ({"price": "2.5"}, TAGS["price"]), ({"price": "abc"}, TAGS["price"]),
    ({"price": "nan"}, TAGS["price"]), ({"price": "inf"}, TAGS["price"]), ({"price": "15", "media": ""}, TAGS["price"]),
    ({"price": "recommended", "media": ""}, TAGS["price"]), ({"media": "7001,x"}, TAGS["media"]),
    ({"at": "tomorrow"}, TAGS["at"]), ({"text": ""}, TAGS["text"]),
    ({"text": "x" * 10_001}, TAGS["text"]), ({"segment": ""}, TAGS["segment"]),
    ({"id": "a/b"}, TAGS["id"]), ({"id": "x" * 65}, TAGS["id"]),
])
def test_a_bad_value_is_refused_naming_its_tag(values, named):
    with pytest.raises(BlastRequestError, match=named):
        BlastRequest.from_tags(tags(**values))
