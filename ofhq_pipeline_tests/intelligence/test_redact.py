"""Redaction and cleaning: pure functions, and the polars expressions that must agree with them."""

from __future__ import annotations

import polars as pl
import pytest

from ofhq_pipeline.intelligence.redact import clean_expr, clean_text, redact, strip_html
from ofhq_pipeline.source.simulator.templates import (
    CREATOR_TEMPLATES,
    FAN_TEMPLATES,
    PII_PHRASES,
)


@pytest.mark.parametrize(("text", "expected"), [
    ("here's my email: mike.r88@example.com", "here's my email: [email]"),
    ("mail A.B+c@mail.co.uk now", "mail [email] now"),
    ("text me +1 (555) 013-4477", "text me [phone]"),
    ("my number is 555-0199, call me", "my number is [phone], call me"),
    ("555.013.4477 or (555) 013-4477 or 5550134477", "[phone] or [phone] or [phone]"),
    ("+44 7700 900123", "[phone]"),
    ("my card 4111 1111 1111 1111 keeps getting declined", "my card [card] keeps getting declined"),
    ("4111-1111-1111-1111!", "[card]!"),
    ("371449635398431", "[card]"),
    ("check my insta https://instagram.com/dave_rides", "check my insta [url]"),
    ("add me: www.example.org/profile/tom", "add me: [url]"),
    ("go to onlyfans.com/abc now", "go to [url] now"),
    ("see http://x.io/a?b=1&c=2", "see [url]"),
])
def test_identifiers_become_placeholders(text, expected):
    assert redact(text) == expected


@pytest.mark.parametrize("text", [
    "$25.00 tip on 2026-03-14 at 10:30", "I'm 25, 180cm, would you do 2 for 1?",
    "I work 12 hour shifts", "my birthday is March 14", "ok.", "can I get it for $10?",
])
def test_ordinary_numbers_and_words_stay(text):
    assert redact(text) == text


def test_no_template_but_the_pii_ones_is_touched_and_every_pii_one_is():
    texts = [t.text for t in FAN_TEMPLATES + CREATOR_TEMPLATES]
    changed = {t for t in texts if redact(t) != t}
    assert changed == {text for text, _ in PII_PHRASES}


def test_html_is_stripped_and_entities_decoded():
    assert strip_html("<p>hi &amp; <b>bye</b></p><br>xoxo &lt;3") == "hi & bye xoxo <3"
    assert strip_html(None) == ""


def test_redaction_happens_before_the_cut_so_no_partial_number_leaks():
    text = "x" * 490 + " 4111 1111 1111 1111"
    cleaned = clean_text(text, 500)
    assert "4111" not in cleaned and len(cleaned) <= 500
    assert clean_text("a" * 700) == "a" * 500


def test_polars_expressions_agree_with_the_pure_functions():
    texts = [t.text for t in FAN_TEMPLATES + CREATOR_TEMPLATES] + [
        "<p>mail me: a.b@c.com &amp; call +1 (555) 013-4477</p>", "y" * 800 + " 555-0199", "",
        "card 4111 1111 1111 1111 <br/> www.x.com",
    ]
    frame = pl.DataFrame({"t": texts}).with_columns(c=clean_expr(pl.col("t")))
    assert frame["c"].to_list() == [clean_text(t) for t in texts]
