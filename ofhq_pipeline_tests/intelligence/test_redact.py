"""Redaction and cleaning: a table of probes with hand-written expected outputs, the fan's own
name, the column-wise form, and the cut (a hostile message is cut to the classifier's length)."""

from __future__ import annotations

import polars as pl
import pytest

from ofhq_pipeline.intelligence.redact import (
    MAX_MESSAGE_CHARS,
    clean_expr,
    clean_text,
    redact,
    strip_html,
)
from ofhq_pipeline.intelligence.windows import build_windows, empty_purchases, read_inputs
from ofhq_pipeline.source.simulator.templates import (
    CREATOR_TEMPLATES,
    FAN_TEMPLATES,
    PII_PHRASES,
)
from ofhq_pipeline_tests.builders import CREATOR
from ofhq_pipeline_tests.intelligence.conftest import AS_OF, at

# Every probe is redacted as the messages of this fan.
FAN_NAME = "Jessica Alvarez"
FAN_USERNAME = "jess_a92"

# (message, what must leave the machine), each written by hand.
REDACTED = [
    # e-mail addresses, plain and disguised
    ("here's my email: mike.r88@example.com", "here's my email: [email]"),
    ("mail A.B+c@mail.co.uk now", "mail [email] now"),
    ("john dot doe at gmail dot com", "[email]"),
    ("write to john.doe at gmail.com ok?", "write to [email] ok?"),
    ("john(at)gmail(dot)com", "[email]"),
    ("john [at] yahoo [dot] co [dot] uk", "[email]"),
    ("john&#64;gmail.com", "[email]"),
    ("reach me: john&#x40;outlook.com", "reach me: [email]"),
    ("ｊｏｈｎ＠ｇｍａｉｌ．ｃｏｍ", "[email]"),  # fullwidth
    ("jo\u200bhn@gm\u200bail.com", "[email]"),  # zero-width space
    ("j\u200do\u2060hn\ufeff@gmail.com!", "[email]!"),  # joiner, word joiner, BOM
    # URLs
    ("check my insta https://instagram.com/dave_rides", "check my insta [url]"),
    ("go to onlyfans.com/abc now", "go to [url] now"),
    # payment cards: any separator, Luhn-checked
    ("my card 4111 1111 1111 1111 keeps getting declined", "my card [card] keeps getting declined"),
    ("4111-1111-1111-1111!", "[card]!"),
    ("card: 4111.1111.1111.1111", "card: [card]"),
    ("5555555555554444 exp 12/27", "[card] exp 12/27"),
    ("amex 3714 496353 98431", "amex [card]"),
    ("card 4111 1111 1111 1111 12 26 cvv 123", "card [card] 12 26 cvv 123"),
    ("４１１１ １１１１ １１１１ １１１１", "[card]"),  # fullwidth digits
    # social security numbers
    ("ssn 123-45-6789", "ssn [ssn]"),
    ("my social is 123 45 6789", "my social is [ssn]"),
    ("SSN: 123456789", "SSN: [ssn]"),
    # phone numbers, US and not
    ("text me +1 (555) 013-4477", "text me [phone]"),
    ("call +44 20 7946 0958 anytime", "call [phone] anytime"),
    ("+49 30 901820", "[phone]"),
    ("mon numéro 06 12 34 56 78", "mon numéro [phone]"),
    ("ring me on 020 7946 0958", "ring me on [phone]"),
    ("my number is 555-0199, call me", "my number is [phone], call me"),
    ("555.013.4477 or (555) 013-4477 or 5550134477", "[phone] or [phone] or [phone]"),
    ("whatsapp +5511987654321", "whatsapp [phone]"),
    ("+33 6 12 34 56 78", "[phone]"),
    ("llámame al +34 612 34 56 78", "llámame al [phone]"),
    # street addresses
    ("I live at 42 Oak Street", "I live at [address]"),
    ("send it to 742 Evergreen Terrace, Springfield, IL 62704 please",
     "send it to [address] please"),
    ("1600 pennsylvania ave", "[address]"),
    ("come to 221B Baker St tonight", "come to [address] tonight"),
    ("my place is 12 W 34th Rd", "my place is [address]"),
    ("10 Downing Street, London", "[address], London"),
    # handles
    ("add me @dave_rides", "add me [handle]"),
    ("my snap is dave_rides", "my snap is [handle]"),
    ("snap: davey", "snap: [handle]"),
    ("telegram - @night.owl", "telegram - [handle]"),
    ("follow me on ig @jess.fit.", "follow me on ig [handle]."),
    # the fan's own name and username
    ("hey Jessica! how was work?", "hey [name]! how was work?"),
    ("I'm jessica alvarez btw", "I'm [name] btw"),
    ("Alvarez is my last name", "[name] is my last name"),
    ("it's jess_a92 on here, @jess_a92", "it's [name] on here, [name]"),
    ("Jes\u200bsica Al\u200cvarez here", "[name] here"),
]

# Ordinary chat: must leave the machine exactly as written.
UNCHANGED = [
    "$25.00 tip on 2026-03-14 at 10:30",
    "I'm 25, 180cm, would you do 2 for 1?",
    "can I get it for $15?",
    "see you at 10:30 tonight",
    "back in 2019 I paid $200 for 3 videos",
    "I make 1500000 a year lol",
    "it's a 10 minute drive from my place",
    "3 hours on the road today",
    "2 dogs on my street",
    "my snap is broken",
    "look at that dot com bubble",
    "email me later, I'm at work",
    "see you @ 10",
    "I was born in 1990 and I'm 6 ft 2",
    "score was 3-1, then 2-2",
    "order 4111 1111 1111 1112",  # fails the Luhn check: not a card
    "I work 12 hour shifts",
    "the 405 freeway was jammed for 45 minutes",
    "10 pics for $30 and 3 videos for $45",
    "version 2.0.1 is out",
    "call me at 9 or 10",
    "my birthday is March 14",
    "jess, you're amazing",  # a nickname is not his name
    "ok.",
]


@pytest.mark.parametrize(("text", "expected"), REDACTED + [(t, t) for t in UNCHANGED])
def test_probe(text, expected):
    assert redact(text, name=FAN_NAME, username=FAN_USERNAME) == expected


def test_the_table_is_large_and_covers_every_placeholder():
    assert len(REDACTED) + len(UNCHANGED) >= 50
    outputs = " ".join(expected for _, expected in REDACTED)
    for placeholder in ("[email]", "[url]", "[card]", "[ssn]", "[phone]", "[address]",
                        "[handle]", "[name]"):
        assert placeholder in outputs


def test_names_are_only_redacted_when_they_are_the_fans_own():
    assert redact("hey Jessica! it's jess_a92") == "hey Jessica! it's jess_a92"
    assert redact("hey Jessica!", name="Mark", username="u123") == "hey Jessica!"
    assert redact("hi Mark, u123 here", name="Mark", username="u123") == "hi [name], [name] here"
    assert redact("jo, it's Jo", name="Jo", username="jo") == "jo, it's Jo"  # too short to tell


def test_name_parts_that_are_chat_words_or_too_short_only_go_with_the_full_name():
    assert redact("hey big guy, Big Mike!", name="Big Mike") == "hey big guy, [name]!"
    assert redact("mike?", name="Big Mike") == "[name]?"
    assert redact("Al here, or Al B.", name="Al B.") == "Al here, or [name]"
    assert redact("Mike R. and Mike", name="Mike R.") == "[name] and [name]"
    assert redact("O'Brien said", name="Sean O'Brien") == "[name] said"


def test_no_template_but_the_pii_ones_is_touched_and_every_pii_one_is():
    texts = [t.text for t in FAN_TEMPLATES + CREATOR_TEMPLATES]
    changed = {t for t in texts if redact(t) != t}
    assert changed == {text for text, _ in PII_PHRASES}


def test_html_is_stripped_and_entities_decoded():
    assert strip_html("<p>hi &amp; <b>bye</b></p><br>xoxo &lt;3") == "hi & bye xoxo <3"
    assert strip_html(None) == ""
    assert clean_text("<b>mail</b> john&#64;gmail&#46;com") == "mail [email]"


def test_redaction_happens_before_the_cut_so_no_partial_number_leaks():
    text = "x" * 490 + " 4111 1111 1111 1111"
    cleaned = clean_text(text, 500)
    assert "4111" not in cleaned and len(cleaned) <= 500
    assert clean_text("a" * 700) == "a" * 500


@pytest.mark.parametrize("text", [
    "word " * 1000 + "call +44 20 7946 0958",
    "call +44 20 7946 0958 " + "word " * 1000,
    "https://example.com/" + "p" * 300 + " " + "https://example.com/q " * 200 + "555-013-4477",
    ("a" * 390 + " +44 20 7946 0958 ") * 8,
    "b" * 1990 + " +44 20 7946 0958 " + "c " * 400,  # the head cut splits the phone number
])
def test_a_long_message_cleans_as_if_redacted_whole(text):
    """The head-first shortcut for long messages gives what redacting everything gives."""
    for max_chars in (50, 500):
        whole = redact(text)[:max_chars]
        assert clean_text(text, max_chars) == whole


def test_polars_expressions_agree_with_the_pure_functions():
    texts = [t.text for t in FAN_TEMPLATES + CREATOR_TEMPLATES] + [
        "<p>mail me: a.b@c.com &amp; call +1 (555) 013-4477</p>", "y" * 800 + " 555-0199", "",
        "card 4111 1111 1111 1111 <br/> www.x.com", None, "hey Mark, Jessica here",
    ]
    names = (["Mark", None, "Jessica Alvarez"] * len(texts))[: len(texts)]
    users = (["u1", "jess_a92", None] * len(texts))[: len(texts)]
    frame = pl.DataFrame({"t": texts, "n": names, "u": users}).with_columns(
        c=clean_expr(pl.col("t"), name=pl.col("n"), username=pl.col("u")),
        plain=clean_expr(pl.col("t"), 40),
    )
    assert frame["c"].to_list() == [
        clean_text(t, name=n, username=u) for t, n, u in zip(texts, names, users, strict=True)
    ]
    assert frame["plain"].to_list() == [clean_text(t, 40) for t in texts]
    empty = pl.DataFrame(schema={"t": pl.String})
    assert empty.select(clean_expr(pl.col("t"))).height == 0


def test_windows_redact_each_fans_own_name():
    rows = [(1, "hi, Mark here", "Mark", "u11"), (1, "Jessica? u22?", "Mark", "u11"),
            (2, "Mark? no, Jessica, u22", "Jessica", "u22"), (3, "I'm Mark", None, None)]
    messages = pl.DataFrame({
        "fan_id": [r[0] for r in rows], "message_id": list(range(1, len(rows) + 1)),
        "is_from_fan": [True] * len(rows), "created_at": [at(i) for i in range(len(rows))],
        "text": [r[1] for r in rows], "price_cents": [0] * len(rows),
        "fan_name": [r[2] for r in rows], "fan_username": [r[3] for r in rows],
    })
    windows = build_windows(messages, empty_purchases())
    texts = dict(zip(windows.rows["message_id"], windows.rows["text"], strict=True))
    assert texts == {1: "hi, [name] here", 2: "Jessica? u22?", 3: "Mark? no, [name], [name]",
                     4: "I'm Mark"}
    # Without the name columns the windows still build (nothing to redact by name).
    assert build_windows(messages.drop("fan_name", "fan_username"), empty_purchases()).rows[
        "text"].to_list()[0] == "hi, Mark here"


def test_the_fans_name_and_username_come_from_staging(chats, lake):
    # builders.fan(77): username "u77", name "Fan 77"
    chats.say(77, "it's Fan 77, u77 on here", "add me @u77 or call 020 7946 0958")
    chats.write()
    messages, bought = read_inputs(lake, CREATOR, as_of=AS_OF)
    assert set(messages["fan_name"]) == {"Fan 77"} and set(messages["fan_username"]) == {"u77"}
    windows = build_windows(messages, bought)
    assert windows.rows["text"].to_list() == [
        "it's [name], [name] on here", "add me [name] or call [phone]",
    ]


HOSTILE = [
    "1 " * 25_000, "1.1." * 12_500, "1-" * 25_000, "a.a." * 12_500, "4" * 50_000,
    "a at b dot " * 5_000, "x dot " * 8_000 + "at gmail", "12 main main main " * 3_000,
    "@" * 50_000, "a@" * 25_000, "snap: " * 8_000, ("123 " * 3 + "4567 ") * 3_000,
]


@pytest.mark.parametrize("text", HOSTILE)
def test_a_hostile_message_is_cut_to_the_classifiers_length(text):
    """What each costs is printed by `make bench` (bench/redaction.py); here: it ends, and what
    reaches the model is at most MAX_MESSAGE_CHARS long."""
    out = clean_text(text, name=FAN_NAME, username=FAN_USERNAME)
    assert 0 < len(out) <= MAX_MESSAGE_CHARS == 500
