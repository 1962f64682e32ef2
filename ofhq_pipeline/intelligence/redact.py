"""Text cleaning and redaction: what a chat message looks like before anything leaves the machine.

A message is first normalised, so that disguises do not hide what it says: HTML entities decoded
(`john&#64;gmail.com`), NFKC (fullwidth `ｊｏｈｎ＠ｇｍａｉｌ．ｃｏｍ` becomes ASCII) and zero-width or
other invisible format characters removed (`jo<U+200B>hn@gmail.com`). Then, in this order:

- `[email]`: e-mail addresses, also spelled out (`john dot doe at gmail dot com`,
  `john(at)gmail(dot)com`, `john [at] mail.com`);
- `[url]`: URLs and bare domains;
- `[card]`: payment card numbers, 13 to 19 digits grouped any way (spaces, dashes, dots, none)
  that pass the Luhn check;
- `[ssn]`: US social security numbers, `123-45-6789`, `123 45 6789`, or 9 digits after "SSN";
- `[phone]`: phone numbers, found by `phonenumbers`: US numbers, every +-prefixed international
  number, and the national formats of a few more countries;
- `[address]`: street addresses, a house number, a street name and a suffix (St, Ave, Road,
  Blvd, Lane, Drive, ...), with the city, state and ZIP when they follow;
- `[name]`: the fan's own display name (whole, and each part of 3 letters or more) and username;
- `[handle]`: @handles, and a username after "snap:", "my insta is", "telegram -" and the like.

The order matters: an e-mail contains a domain, a card number contains phone-like digit groups,
and an SSN would otherwise be read as a phone number. The fan's own username is `[name]`, not
`[handle]`: it is his account on the platform, not a move off it.

Ordinary chat stays as it is: prices ("$15"), times ("10:30"), dates, years, ages and other short
numbers; a card-like run of digits that fails the Luhn check is not a card. Every pattern is
compiled once, anchored so that it cannot start inside a word or a number, and free of nested
unbounded repetition, so a long message costs linear time; the digit rules (and `phonenumbers`,
the costliest) only run when the message has enough digits to hold what they look for.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Callable
from functools import lru_cache, partial

import phonenumbers
import polars as pl

EMAIL = "[email]"
URL = "[url]"
CARD = "[card]"
SSN = "[ssn]"
PHONE = "[phone]"
ADDRESS = "[address]"
NAME = "[name]"
HANDLE = "[handle]"
MAX_MESSAGE_CHARS = 500

# ---- normalisation --------------------------------------------------------------------------
# Invisible format characters (Unicode category Cf, the ones seen in text): zero-width space,
# joiners, marks, word joiner, bidi controls, BOM, soft hyphen. They split words without showing.
_INVISIBLE = dict.fromkeys(
    [0x00AD, 0x061C, 0x180E, 0xFEFF, *range(0x200B, 0x2010), *range(0x202A, 0x202F),
     *range(0x2060, 0x2065), *range(0x2066, 0x2070), *range(0xFFF9, 0xFFFC)],
)


def normalise(text: str) -> str:
    """Entities decoded, NFKC, invisible characters removed: the text as a reader sees it."""
    out = html.unescape(text)  # fast when there is no "&"
    out = unicodedata.normalize("NFKC", out)
    return out.translate(_INVISIBLE)


# ---- e-mails and URLs -----------------------------------------------------------------------
_TLD = (
    r"(?:com|net|org|edu|gov|mil|int|io|co|me|us|uk|ca|au|nz|ie|de|fr|es|it|nl|be|ch|at|se|no|"
    r"dk|fi|pl|pt|br|mx|ar|ru|in|jp|info|biz|email|mail|online|xyz)"
)
_AT = r"(?:\s*@\s*|\s*[\[({<]\s*at\s*[\])}>]\s*)"  # "@", "(at)", "[at]", "{at}", "<at>"
_DOT_SPELLED = r"(?:\s*[\[({<]\s*dot\s*[\])}>]\s*|\s+dot\s+)"  # "(dot)", "[dot]", " dot "
_DOT = rf"(?:\.|{_DOT_SPELLED})"
_LOCAL = rf"(?<![\w.%+-])[\w%+-]+(?:{_DOT}[\w%+-]+){{0,4}}"
_DOMAIN = r"[a-z0-9-]+"
# Mail providers: "john at gmail.com" is an address, "I was at walmart.com" is not.
_PROVIDER = (
    r"(?:gmail|googlemail|yahoo|ymail|hotmail|outlook|live|msn|icloud|me|aol|gmx|"
    r"proton(?:mail)?|pm|yandex|zoho|mail)"
)

EMAIL_PLAIN = r"(?<![\w.%+-])[\w.%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"
EMAIL_OBFUSCATED = (
    rf"(?i){_LOCAL}{_AT}{_DOMAIN}(?:{_DOT}{_DOMAIN}){{0,3}}{_DOT}{_TLD}\b"
)
# The plain word "at": only with a provider's name, or a spelled-out dot after a word that is
# not an everyday one ("look at that dot com bubble" is chat).
_NOT_DOMAIN = r"(?!(?:the|that|this|it|a|my|your|home|work|school)\b)"
EMAIL_SPOKEN = (
    rf"(?i){_LOCAL}\s+at\s+(?:{_PROVIDER}(?:{_DOT}{_DOMAIN}){{0,2}}{_DOT}{_TLD}"
    rf"|{_NOT_DOMAIN}{_DOMAIN}(?:{_DOT_SPELLED}{_DOMAIN}){{0,2}}{_DOT_SPELLED}{_TLD})\b"
)
# A bare domain starts only where a dotted run starts, so "1.1.1.1..." is tried once, not from
# every dot.
URL_PATTERN = (
    r"(?i)\b(?:https?://|www\.)[^\s<>\"']+"
    r"|(?<![\w.-])[a-z0-9][a-z0-9-]*(?:\.[a-z0-9-]+)*\."
    r"(?:com|net|org|io|co|me|ly|gg|tv|app|link|xyz|info|biz|us|uk|de|fr|ca|au|ru|cc|to|"
    r"fans|page|site|online|store|shop)\b(?:/[^\s<>\"']*)?"
)

# ---- numbers --------------------------------------------------------------------------------
# A run of digits in groups joined by one space, dash or dot; possessive, so a run that is not
# followed by a boundary fails at once instead of being retried shorter.
DIGIT_RUN = r"(?<![\w.,-])\d(?:[ .-]?\d)*+(?!\w)"
SSN_PATTERN = r"(?<![\w.-])\d{3}([- ])\d{2}\1\d{4}(?![\w-]|\.\d)"
SSN_AFTER_WORD = (
    r"(?i)(\b(?:ssn|social(?: security)?(?: number| no\.?| #)?)\s*(?:is|:|#|-)?\s*)\d{9}\b"
)

_DIGITS = re.compile(r"\d")
_DIGIT_GROUP = re.compile(r"\d+")
MIN_CARD_DIGITS, MAX_CARD_DIGITS = 13, 19
MIN_PHONE_DIGITS = 7

# phonenumbers: "US" with POSSIBLE leniency finds US numbers (also 555 test numbers, which are
# not VALID) and every +-prefixed international number whatever its country; the other regions
# add their national formats ("020 7946 0958", "06 12 34 56 78"), held to VALID numbers.
PHONE_REGION = "US"
NATIONAL_REGIONS = ("GB", "FR", "DE", "ES", "IT", "AU")
# A 7-digit US local number only in its written form 555-0199: "1500000" is an amount.
_US_LOCAL = re.compile(r"\d{3}[ .-]\d{4}")
MIN_NATIONAL_DIGITS = 8  # "347 2 3 4" is a valid German number, and no phone number in chat

# ---- addresses ------------------------------------------------------------------------------
_SUFFIX = (
    r"(?:street|st|avenue|ave|road|rd|boulevard|blvd|lane|ln|drive|dr|court|ct|place|pl|"
    r"terrace|ter|way|circle|cir|parkway|pkwy|highway|hwy|square|sq|crescent|close|row)"
)
# Words that never make a street name but do sit between a number and "road", "drive" or
# "way" in chat: "a 10 minute drive", "3 hours on the road", "2 dogs on my street".
_NOT_STREET = (
    r"(?:the|a|an|my|your|his|her|our|their|this|that|these|those|to|of|on|in|at|from|for|and|"
    r"or|with|by|is|are|was|more|less|min|mins|minute|minutes|hour|hours|hr|hrs|sec|secs|day|"
    r"days|week|weeks|month|months|year|years|mile|miles|km|kms|times|am|pm|lane|way|long)"
)
_STREET_WORD = rf"(?!{_NOT_STREET}\b)(?:\d+(?:st|nd|rd|th)|[a-z][a-z'.-]*)"
# ", Springfield, IL 62704": capitalised city, state code and ZIP, case-sensitive.
_CITY_STATE_ZIP = (
    r"(?:,?\s+(?-i:[A-Z][a-z]+(?:\s[A-Z][a-z]+)?),?\s+(?-i:[A-Z]{2})\s+\d{5}(?:-\d{4})?)"
)
ADDRESS_PATTERN = (
    rf"(?i)(?<![\w$.,:/-])\d{{1,6}}[a-z]?\s+(?:{_STREET_WORD}\s+){{1,3}}{_SUFFIX}\b"
    rf"{_CITY_STATE_ZIP}?"
)

# ---- handles --------------------------------------------------------------------------------
HANDLE_PATTERN = r"(?<![\w@.])@[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*"
# "snap: davey", "my insta is dave.rides": the word after the app's name, when the separator is
# explicit (":", "-", "=") or the word looks like a username (a digit, "_" or "."), so that
# "my snap is broken" stays.
HANDLE_AFTER_APP = (
    r"(?i)\b(insta(?:gram)?|ig|snap(?:chat)?|sc|telegram|tg|kik|twitter|tiktok|discord)"
    r"(\s*[:=-]\s*@?|\s+(?:is|at|on)\s+@?)"
    r"([a-z0-9_](?:[a-z0-9_]|\.(?=[a-z0-9_])){2,29})\b"
)
_USERNAME_LIKE = re.compile(r"[\d_.]")

# ---- the fan's own name ---------------------------------------------------------------------
MIN_NAME_PART = 3
# Display names are often nicknames; these parts are chat words, redacted only in the full name.
_COMMON_WORDS = frozenset({
    "the", "and", "mr", "mrs", "ms", "dr", "sir", "mister", "big", "little", "lil", "baby",
    "babe", "daddy", "king", "love", "lover", "boy", "guy", "man", "fan", "real", "just", "not",
    "you", "your", "official", "xxx", "hot", "sexy", "sweet",
})


def _luhn(digits: str) -> bool:
    total = 0
    for i, char in enumerate(reversed(digits)):
        d = int(char)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _card_end(groups: list[str], i: int) -> int | None:
    """The last group of the longest card starting at group `i`: 13 to 19 digits over whole
    groups that pass the Luhn check; None when none does."""
    ends, digits = [], ""
    for j in range(i, len(groups)):
        digits += groups[j]
        if len(digits) > MAX_CARD_DIGITS:
            break
        if len(digits) >= MIN_CARD_DIGITS:
            ends.append((j, digits))
    return next((j for j, d in reversed(ends) if _luhn(d)), None)


def _card_run(run: str) -> str:
    """A run of digit groups with its cards replaced, leftmost first, each the longest that
    passes, as in "4111 1111 1111 1111 12 26" (a card and its expiry in one run)."""
    spans = [m.span() for m in _DIGIT_GROUP.finditer(run)]
    groups = [run[a:b] for a, b in spans]
    parts, pos, i = [], 0, 0
    while i < len(groups):
        end = _card_end(groups, i)
        if end is None:
            i += 1
            continue
        parts += [run[pos : spans[i][0]], CARD]
        pos, i = spans[end][1], end + 1
    parts.append(run[pos:])
    return "".join(parts)


def _digit_count(text: str) -> int:
    return len(_DIGITS.findall(text))


def _cards(match: re.Match) -> str:
    run = match.group()
    return _card_run(run) if _digit_count(run) >= MIN_CARD_DIGITS else run


def _is_bounded(text: str, start: int, end: int) -> bool:
    """Not glued to a letter or digit: "AA10123456784" is a tracking code, not a phone."""
    return (start == 0 or not text[start - 1].isalnum()) and (
        end == len(text) or not text[end].isalnum()
    )


def _phone_spans(text: str) -> list[tuple[int, int]]:
    spans = []
    lenient = phonenumbers.Leniency.POSSIBLE
    for match in phonenumbers.PhoneNumberMatcher(text, PHONE_REGION, leniency=lenient):
        raw = match.raw_string
        if (
            raw.lstrip("(").startswith("+")
            or _digit_count(raw) >= 10
            or _US_LOCAL.fullmatch(raw)
        ):
            spans.append((match.start, match.end))
    for region in NATIONAL_REGIONS:
        for match in phonenumbers.PhoneNumberMatcher(text, region):  # leniency VALID
            if _digit_count(match.raw_string) >= MIN_NATIONAL_DIGITS:
                spans.append((match.start, match.end))
    return [(s, e) for s, e in spans if _is_bounded(text, s, e)]


def _replace_spans(text: str, spans: list[tuple[int, int]], placeholder: str) -> str:
    """Overlapping spans (the same number found for several regions) merged, then replaced."""
    merged: list[list[int]] = []
    for start, end in sorted(spans):
        if merged and start < merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    parts, pos = [], 0
    for start, end in merged:
        parts += [text[pos:start], placeholder]
        pos = end
    parts.append(text[pos:])
    return "".join(parts)


def _phones(text: str) -> str:
    if _digit_count(text) < MIN_PHONE_DIGITS:
        return text
    spans = _phone_spans(text)
    return _replace_spans(text, spans, PHONE) if spans else text


def _handle_after_app(match: re.Match) -> str:
    app, separator, handle = match.groups()
    explicit = separator.strip(" @") in (":", "=", "-")
    if explicit or _USERNAME_LIKE.search(handle):
        return f"{app}{separator}{HANDLE}"
    return match.group()


def _ssn_after_word(match: re.Match) -> str:
    return f"{match.group(1)}{SSN}"


Replacement = str | Callable[[re.Match], str]

# (pattern, replacement), applied in this order; the digit rules only to text with digits.
_TEXT_RULES: tuple[tuple[re.Pattern, Replacement], ...] = (
    (re.compile(EMAIL_PLAIN), EMAIL),
    (re.compile(EMAIL_OBFUSCATED), EMAIL),
    (re.compile(EMAIL_SPOKEN), EMAIL),
    (re.compile(URL_PATTERN), URL),
)
_DIGIT_RULES: tuple[tuple[re.Pattern, Replacement], ...] = (
    (re.compile(DIGIT_RUN), _cards),
    (re.compile(SSN_PATTERN), SSN),
    (re.compile(SSN_AFTER_WORD), _ssn_after_word),
)
_ADDRESS = re.compile(ADDRESS_PATTERN)
_HANDLE = re.compile(HANDLE_PATTERN)
_HANDLE_AFTER_APP = re.compile(HANDLE_AFTER_APP)
_WORD = re.compile(r"\w")
_NAME_WORD = re.compile(r"[^\W\d_]+(?:['-][^\W\d_]+)*")  # "Mike", "O'Brien", "Jean-Luc"


@lru_cache(maxsize=8192)
def name_pattern(name: str | None, username: str | None) -> re.Pattern | None:
    """The fan's full name, its parts of 3 letters or more (not common chat words) and his
    username (with or without "@"), as whole words in any case; the longest first, so the full
    name is one `[name]`. Cached: one fan's messages share one pattern."""
    alternatives = set()
    if username:
        user = normalise(username).strip().lstrip("@")
        if len(user) >= MIN_NAME_PART:
            alternatives.add("@?" + re.escape(user))
    if name:
        parts = normalise(name).split()
        if parts and len(_WORD.findall("".join(parts))) >= MIN_NAME_PART:
            alternatives.add(r"\s+".join(re.escape(p) for p in parts))
        for part in parts:
            word = part.strip(".,;:!?'\"()")
            if (len(word) >= MIN_NAME_PART and _NAME_WORD.fullmatch(word)
                    and word.lower() not in _COMMON_WORDS):
                alternatives.add(re.escape(word))
    if not alternatives:
        return None
    ordered = sorted(alternatives, key=lambda a: (-len(a), a))
    return re.compile(rf"(?i)(?<![\w@])(?:{'|'.join(ordered)})(?![\w])")


def redact(text: str | None, *, name: str | None = None, username: str | None = None) -> str:
    """The message normalised, with contact details, card and social security numbers,
    addresses and the fan's own `name` and `username` replaced by placeholders."""
    out = normalise(text or "")
    for pattern, replacement in _TEXT_RULES:
        out = pattern.sub(replacement, out)
    if _DIGITS.search(out):
        for pattern, replacement in _DIGIT_RULES:
            out = pattern.sub(replacement, out)
        out = _phones(out)
        out = _ADDRESS.sub(ADDRESS, out)
    own = name_pattern(name, username)
    if own is not None:
        out = own.sub(NAME, out)
    out = _HANDLE.sub(HANDLE, out)
    return _HANDLE_AFTER_APP.sub(_handle_after_app, out)


# ---- HTML and the whole cleaning ------------------------------------------------------------
# Line breaks and block ends become spaces, other tags vanish; entities are decoded after the
# tags are gone, so an escaped "&lt;b&gt;" stays text.
_BREAKS = re.compile(r"(?i)<br\s*/?>|</p>|</div>|</li>")
_TAGS = re.compile(r"<[^>]*>")
_SPACES = re.compile(r"\s+")
HEAD_FACTOR = 4  # a message longer than 4 x max_chars is redacted by its head first
HEAD_MARGIN = 500  # longer than any match that spans spaces (phone, address, spoken e-mail)


def strip_html(text: str | None) -> str:
    out = _BREAKS.sub(" ", text or "")
    out = html.unescape(_TAGS.sub("", out))
    return _SPACES.sub(" ", out).strip()


def clean_text(
    text: str | None,
    max_chars: int = MAX_MESSAGE_CHARS,
    *,
    name: str | None = None,
    username: str | None = None,
) -> str:
    """A message as the classifier sees it: HTML-stripped, redacted, then cut to `max_chars`.

    Redacting before cutting means a number split by the cut can never leak in part. A long
    message is redacted by its head only (cut at a space), which bounds the work per message;
    that is kept only when it redacts to more than `max_chars` plus a margin longer than any
    multi-word match, so what the head cut might have split lies past the final cut. Else (a
    head that is mostly long URLs shrinks) the whole message is redacted.
    """
    plain = strip_html(text)
    head_chars = max_chars * HEAD_FACTOR
    if len(plain) > head_chars:
        cut = plain.rfind(" ", 0, head_chars)
        head = redact(plain[: cut if cut > 0 else head_chars], name=name, username=username)
        if len(head) >= max_chars + HEAD_MARGIN:
            return head[:max_chars]
    return redact(plain, name=name, username=username)[:max_chars]


def _clean_batch(batch: pl.Series, max_chars: int) -> pl.Series:
    """`clean_text` over a struct column of (text, name, username); each distinct row once
    (greetings and template messages repeat)."""
    cleaned: dict[tuple, str] = {}
    out = []
    for row in zip(
        batch.struct.field("text").to_list(),
        batch.struct.field("name").to_list(),
        batch.struct.field("username").to_list(),
        strict=True,
    ):
        if row not in cleaned:
            text, name, username = row
            cleaned[row] = clean_text(text, max_chars, name=name, username=username)
        out.append(cleaned[row])
    return pl.Series(out, dtype=pl.String)


def clean_expr(
    expr: pl.Expr,
    max_chars: int = MAX_MESSAGE_CHARS,
    *,
    name: pl.Expr | None = None,
    username: pl.Expr | None = None,
) -> pl.Expr:
    """`clean_text` over a whole column, each row with its own fan's `name` and `username`
    columns (none: no name to redact). The rules need Python (`phonenumbers`, the Luhn check),
    so this maps the column through `clean_text` rather than polars' own string functions."""
    none = pl.lit(None, dtype=pl.String)
    fields = pl.struct(
        text=expr.cast(pl.String),
        name=none if name is None else name.cast(pl.String),
        username=none if username is None else username.cast(pl.String),
    )
    return fields.map_batches(
        partial(_clean_batch, max_chars=max_chars), return_dtype=pl.String, is_elementwise=True
    )
