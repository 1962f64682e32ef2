"""CSV cells a spreadsheet will not run (OWASP, "CSV injection").

Excel, LibreOffice and Google Sheets read a cell that starts with `=`, `+`, `-` or `@` as a
formula, and a leading tab or carriage return can hide such a start; a formula can fetch URLs,
leak other cells or, through DDE, start programs. Fans choose their own username and display
name, so a member export may carry `=HYPERLINK("http://x")`. Such a text cell is written with a
leading single quote, which spreadsheets take as "this is text" and do not show.

Only text is neutralised: a value the export holds as a number (cents, probabilities) is written
as a plain number, which no spreadsheet runs as a formula, and a negative one must stay a number
that sums and sorts. Text that merely looks like a negative number ("-1.00") is still text from
an untrusted or formatted source, and gets the quote like any other.
"""

from __future__ import annotations

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value):
    """`value` as a CSV cell: text starting like a formula gets a leading `'`; anything else
    (numbers, booleans, None) is returned as it is."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value
