"""Text cleaning and redaction: what a chat message looks like before anything leaves the machine.

E-mail addresses, URLs, payment card numbers and phone numbers become placeholders. Each rule is
one regular expression written in the common subset of Python's `re` and Rust's `regex` (no
look-around, no back-references), so the same patterns serve the pure functions (`redact`,
`clean_text`) and the polars expressions that apply them to whole columns (`redact_expr`,
`clean_expr`); the tests check that both give identical results.
"""

from __future__ import annotations

import re

import polars as pl

# In this order: an e-mail contains a domain, a card number contains phone-like digit groups.
EMAIL = r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"
URL = (
    r"(?i)\b(?:https?://|www\.)[^\s<>\"']+"
    r"|\b[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9-]+)*\."
    r"(?:com|net|org|io|co|me|ly|gg|tv|app|link|xyz|info|biz|us|uk|de|fr|ca|au|ru|cc|to|"
    r"fans|page|site|online|store|shop)\b(?:/[^\s<>\"']*)?"
)
CARD = r"\b\d(?:[ -]?\d){12,18}\b"  # 13 to 19 digits, in groups or not
PHONE = (
    r"\+\d{1,3}[\s.-]?(?:\(\d{1,4}\)|\d{1,4})(?:[\s.-]?\d{2,4}){2,3}"  # +1 (555) 013-4477
    r"|\(\d{3}\)\s?\d{3}[\s.-]?\d{4}"  # (555) 013-4477
    r"|\b\d{3}[\s.-]\d{3}[\s.-]\d{4}\b"  # 555-013-4477
    r"|\b\d{3}[.-]\d{4}\b"  # 555-0199
    r"|\b\d{10,12}\b"  # 5550134477
)

RULES: tuple[tuple[str, str], ...] = (
    (EMAIL, "[email]"),
    (URL, "[url]"),
    (CARD, "[card]"),
    (PHONE, "[phone]"),
)
_COMPILED = tuple((re.compile(pattern), placeholder) for pattern, placeholder in RULES)

# HTML: line breaks and block ends become spaces, other tags vanish, common entities decode.
_BREAKS = r"(?i)<br\s*/?>|</p>|</div>|</li>"
_TAGS = r"<[^>]*>"
_ENTITIES: tuple[tuple[str, str], ...] = (
    ("&nbsp;", " "), ("&lt;", "<"), ("&gt;", ">"), ("&quot;", '"'), ("&#39;", "'"),
    ("&#x27;", "'"), ("&apos;", "'"), ("&amp;", "&"),
)
_SPACES = r"\s+"
MAX_MESSAGE_CHARS = 500


def redact(text: str | None) -> str:
    """E-mails, URLs, card numbers and phone numbers replaced by `[email]`, `[url]`, `[card]`,
    `[phone]`."""
    out = text or ""
    for pattern, placeholder in _COMPILED:
        out = pattern.sub(placeholder, out)
    return out


def strip_html(text: str | None) -> str:
    out = re.sub(_BREAKS, " ", text or "")
    out = re.sub(_TAGS, "", out)
    for entity, char in _ENTITIES:
        out = out.replace(entity, char)
    return re.sub(_SPACES, " ", out).strip()


def clean_text(text: str | None, max_chars: int = MAX_MESSAGE_CHARS) -> str:
    """A message as the classifier sees it: HTML-stripped, redacted, then cut to `max_chars`.

    Redacting before cutting means a number split by the cut can never leak in part.
    """
    return redact(strip_html(text))[:max_chars]


def redact_expr(expr: pl.Expr) -> pl.Expr:
    for pattern, placeholder in RULES:
        expr = expr.str.replace_all(pattern, placeholder)
    return expr


def strip_html_expr(expr: pl.Expr) -> pl.Expr:
    expr = expr.fill_null("").str.replace_all(_BREAKS, " ").str.replace_all(_TAGS, "")
    for entity, char in _ENTITIES:
        expr = expr.str.replace_all(entity, char, literal=True)
    return expr.str.replace_all(_SPACES, " ").str.strip_chars()


def clean_expr(expr: pl.Expr, max_chars: int = MAX_MESSAGE_CHARS) -> pl.Expr:
    """`clean_text` over a whole column."""
    return redact_expr(strip_html_expr(expr)).str.slice(0, max_chars)
