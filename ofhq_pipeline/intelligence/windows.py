"""The three windows of a fan's chat (classifier.md), built set-based with polars.

For every fan at once: messages ordered by (created_at, message_id); the first 100, the 5 before
and 5 after each `message`/`tip` purchase, the last 400; their union in chronological order,
each text HTML-stripped, redacted (with the fan's own name and username) and cut to 500
characters; then held to a token budget: purchase contexts first (newest purchase first, each
kept whole or not at all), then the most recent messages, then the earliest, as long as the
budget holds. Only two steps run in Python: the redaction, once per candidate message (its rules
need `phonenumbers` and a Luhn check), and the hash, once per fan.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

import polars as pl

from ofhq_pipeline.intelligence.redact import MAX_MESSAGE_CHARS, clean_expr
from ofhq_pipeline.lake import Lake, sql_text

MESSAGE_COLUMNS = {
    "fan_id": pl.Int64,
    "message_id": pl.Int64,
    "is_from_fan": pl.Boolean,
    "created_at": pl.Datetime("us", "UTC"),
    "text": pl.String,
    "price_cents": pl.Int64,
}
# Optional on messages: the fan's display name and username, for the redactor to replace.
NAME_COLUMNS = {"fan_name": pl.String, "fan_username": pl.String}
PURCHASE_COLUMNS = {
    "fan_id": pl.Int64,
    "purchase_at": pl.Datetime("us", "UTC"),
    "type": pl.String,
}
CONTEXT_TYPES = ("message", "tip")
_LATE = 1_000_000_000  # sorts the earliest-window messages after every recent one


@dataclass(frozen=True)
class WindowConfig:
    first: int = 100
    before_purchase: int = 5
    after_purchase: int = 5
    last: int = 400
    max_chars: int = MAX_MESSAGE_CHARS
    token_budget: int = 12_000
    chars_per_token: int = 4
    tokens_per_message: int = 2  # the line's id and role marker


@dataclass(frozen=True)
class Window:
    """One fan's window as the classifiers read it; ids in the transcript are 1..n (local)."""

    fan_id: int
    window_hash: str
    transcript: str
    message_ids: tuple[int, ...]
    message_times: tuple[datetime, ...]
    message_count: int
    fan_message_count: int
    est_tokens: int

    def message_id(self, local_id: int | None) -> int | None:
        """The real message id of a transcript id, or None when the id is not in the window."""
        if local_id is None or not 1 <= local_id <= len(self.message_ids):
            return None
        return self.message_ids[local_id - 1]

    def message_time(self, message_id: int | None) -> datetime | None:
        try:
            return self.message_times[self.message_ids.index(message_id)]
        except ValueError:
            return None


@dataclass(frozen=True)
class Windows:
    """`rows`: one row per window message; `fans`: one row per fan (hash, counts, transcript)."""

    rows: pl.DataFrame
    fans: pl.DataFrame

    def get(self, fan_ids) -> list[Window]:
        wanted = self.fans.filter(pl.col("fan_id").is_in(list(fan_ids)))
        return [
            Window(
                fan_id=row["fan_id"],
                window_hash=row["window_hash"],
                transcript=row["transcript"],
                message_ids=tuple(row["message_ids"]),
                message_times=tuple(row["message_times"]),
                message_count=row["message_count"],
                fan_message_count=row["fan_message_count"],
                est_tokens=row["est_tokens"],
            )
            for row in wanted.iter_rows(named=True)
        ]


def empty_messages() -> pl.DataFrame:
    return pl.DataFrame(schema=MESSAGE_COLUMNS)


def empty_purchases() -> pl.DataFrame:
    return pl.DataFrame(schema=PURCHASE_COLUMNS)


def read_inputs(
    lake: Lake, creator_id: str, *, as_of: datetime, run_id: str | None = None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """A creator's messages and context purchases, through the lake's session views.

    `run_id`: the run's own marts first, else the creator's current ones (outside a run, e.g.
    the classify command, only the current ones: no run folder has that name).
    """
    with lake.session(creator_id, as_of=as_of, run_id=run_id or "_current_marts_only") as con:
        messages = con.sql(sql_text("marts/fan_classifications/window_messages")).pl()
        names = con.sql(sql_text("marts/fan_classifications/fan_names")).pl()
        has_transactions = con.execute(
            "SELECT count(*) FROM duckdb_views() WHERE schema_name = 'marts' "
            "AND view_name = 'transactions'"
        ).fetchone()[0]
        purchases = (
            con.sql(sql_text("marts/fan_classifications/window_purchases")).pl()
            if has_transactions
            else empty_purchases()
        )
    columns = {**MESSAGE_COLUMNS, **NAME_COLUMNS}
    return (
        with_names(messages, names).select([pl.col(c).cast(t) for c, t in columns.items()]),
        purchases.select([pl.col(c).cast(t) for c, t in PURCHASE_COLUMNS.items()]),
    )


def with_names(messages: pl.DataFrame, names: pl.DataFrame) -> pl.DataFrame:
    """Messages with their fan's `fan_name` and `fan_username` (null for a fan never listed)."""
    names = names.select(
        pl.col("fan_id").cast(pl.Int64), *[pl.col(c).cast(t) for c, t in NAME_COLUMNS.items()]
    ).unique("fan_id", keep="first")
    return messages.with_columns(pl.col("fan_id").cast(pl.Int64)).join(
        names, on="fan_id", how="left"
    )


def window_hash(message_ids: list[int], texts: list[str]) -> str:
    """The content hash of a window: its message ids and texts, in order (as `_per_fan` does)."""
    payload = "".join(f"{m}\x1f{t}\x1e" for m, t in zip(message_ids, texts, strict=True))
    return hashlib.sha256(payload.encode()).hexdigest()


def build_windows(
    messages: pl.DataFrame, purchases: pl.DataFrame, config: WindowConfig = WindowConfig()
) -> Windows:
    cfg = config
    missing = [pl.lit(None, dtype=t).alias(c) for c, t in NAME_COLUMNS.items()
               if c not in messages.columns]
    columns = {**MESSAGE_COLUMNS, **NAME_COLUMNS}
    ordered = (
        messages.with_columns(missing)
        .select([pl.col(c).cast(t) for c, t in columns.items()])
        .unique(["fan_id", "message_id"], keep="last")
        .sort(["fan_id", "created_at", "message_id"])
        .with_columns(
            pos=pl.int_range(pl.len(), dtype=pl.Int64).over("fan_id"),
            n=pl.len().over("fan_id").cast(pl.Int64),
        )
    )
    context = _purchase_context(ordered, purchases, cfg)
    candidates = (
        ordered.join(context, on=["fan_id", "pos"], how="left")
        .with_columns(
            in_first=pl.col("pos") < cfg.first,
            in_last=pl.col("pos") >= pl.col("n") - cfg.last,
            in_context=pl.col("purchase_group").is_not_null(),
        )
        .filter(pl.col("in_first") | pl.col("in_last") | pl.col("in_context"))
        .with_columns(text=clean_expr(
            pl.col("text"), cfg.max_chars, name=pl.col("fan_name"),
            username=pl.col("fan_username"),
        ))
        .with_columns(
            tokens=(
                (pl.col("text").str.len_chars().cast(pl.Int64) + cfg.chars_per_token - 1)
                // cfg.chars_per_token
                + cfg.tokens_per_message
            )
        )
    )
    kept = _hold_to_budget(candidates, cfg)
    rows = kept.sort(["fan_id", "pos"]).with_columns(
        local_id=pl.int_range(1, pl.len() + 1, dtype=pl.Int64).over("fan_id")
    )
    return Windows(rows=rows.select(
        "fan_id", "local_id", "message_id", "is_from_fan", "created_at", "text", "price_cents",
        "in_context", "tokens",
    ), fans=_per_fan(rows))


def _purchase_context(ordered: pl.DataFrame, purchases: pl.DataFrame, cfg: WindowConfig):
    """(fan_id, pos, purchase_group): messages around purchases; group 1 is the newest purchase."""
    # Per fan and instant, the last position at that instant: the asof join then finds the last
    # message at or before each purchase even when several share a timestamp.
    last_at = (
        ordered.group_by("fan_id", "created_at")
        .agg(at_pos=pl.col("pos").max(), n=pl.col("n").first())
        .sort("created_at")
    )
    anchors = (
        purchases.select([pl.col(c).cast(t) for c, t in PURCHASE_COLUMNS.items()])
        .filter(pl.col("type").is_in(CONTEXT_TYPES))
        .join(ordered.select("fan_id", "n").unique("fan_id"), on="fan_id", how="inner")
        .with_columns(
            purchase_group=pl.col("purchase_at")
            .rank("ordinal", descending=True)
            .over("fan_id")
            .cast(pl.Int64)
        )
        .sort("purchase_at")
        .join_asof(
            last_at.drop("n"), left_on="purchase_at", right_on="created_at", by="fan_id",
            strategy="backward", check_sortedness=False,  # sorted by purchase_at overall
        )
        .with_columns(at_pos=pl.col("at_pos").fill_null(-1))
        .with_columns(
            lo=pl.max_horizontal(pl.col("at_pos") - cfg.before_purchase + 1, pl.lit(0)),
            hi=pl.min_horizontal(pl.col("at_pos") + cfg.after_purchase, pl.col("n") - 1),
        )
        .filter(pl.col("lo") <= pl.col("hi"))
    )
    return (
        anchors.select("fan_id", "purchase_group", pos=pl.int_ranges("lo", pl.col("hi") + 1))
        .explode("pos")
        .group_by("fan_id", "pos")
        .agg(pl.col("purchase_group").min())  # a message near several purchases: the newest
    )


def _hold_to_budget(candidates: pl.DataFrame, cfg: WindowConfig) -> pl.DataFrame:
    budget = cfg.token_budget
    groups = (
        candidates.filter(pl.col("in_context"))
        .group_by("fan_id", "purchase_group")
        .agg(group_tokens=pl.col("tokens").sum())
        .sort("fan_id", "purchase_group")
        .with_columns(used=pl.col("group_tokens").cum_sum().over("fan_id"))
        .filter(pl.col("used") <= budget)
    )
    context_used = groups.group_by("fan_id").agg(context_tokens=pl.col("group_tokens").sum())
    kept_groups = groups.select("fan_id", "purchase_group", keep_group=pl.lit(True))
    marked = candidates.join(kept_groups, on=["fan_id", "purchase_group"], how="left").with_columns(
        pl.col("keep_group").fill_null(False)
    )
    rest = (
        marked.filter(~pl.col("keep_group"))
        .join(context_used, on="fan_id", how="left")
        .with_columns(
            pl.col("context_tokens").fill_null(0),
            priority=pl.when(pl.col("in_first") & ~pl.col("in_last"))
            .then(pl.col("pos") + _LATE)  # the earliest, oldest first
            .otherwise(pl.col("n") - pl.col("pos")),  # the most recent, newest first
        )
        .sort("fan_id", "priority")
        .with_columns(used=pl.col("tokens").cum_sum().over("fan_id") + pl.col("context_tokens"))
        .filter(pl.col("used") <= budget)
    )
    kept_context = marked.filter(pl.col("keep_group")).with_columns(in_context=pl.lit(True))
    rest = rest.with_columns(in_context=pl.lit(False))  # a dropped context: an ordinary message
    columns = [
        "fan_id", "pos", "message_id", "is_from_fan", "created_at", "text", "price_cents",
        "in_context", "tokens",
    ]
    return pl.concat([kept_context.select(columns), rest.select(columns)])


def _per_fan(rows: pl.DataFrame) -> pl.DataFrame:
    day = pl.col("created_at").dt.date()
    role = pl.when(pl.col("is_from_fan")).then(pl.lit("F")).otherwise(pl.lit("C"))
    price = (
        pl.when(~pl.col("is_from_fan") & (pl.col("price_cents") > 0))
        .then(pl.format(
            " ${}.{}",
            pl.col("price_cents") // 100,
            (pl.col("price_cents") % 100).cast(pl.String).str.zfill(2),
        ))
        .otherwise(pl.lit(""))
    )
    line = pl.format("{} {}{}: {}", pl.col("local_id"), role, price, pl.col("text"))
    new_day = (day != day.shift(1).over("fan_id")).fill_null(True)
    lines = rows.with_columns(
        line=pl.when(new_day)
        .then(pl.format("[{}]\n{}", day.dt.strftime("%Y-%m-%d"), line))
        .otherwise(line)
    )
    fans = lines.group_by("fan_id").agg(
        transcript=pl.col("line").str.join("\n"),
        message_ids=pl.col("message_id"),
        message_times=pl.col("created_at"),
        hash_payload=pl.format("{}\x1f{}\x1e", pl.col("message_id"), pl.col("text")).str.join(""),
        message_count=pl.len().cast(pl.Int64),
        fan_message_count=pl.col("is_from_fan").sum().cast(pl.Int64),
        est_tokens=pl.col("tokens").sum().cast(pl.Int64),
    )
    # One hash per fan, over one string per fan: no Python work per message.
    hashes = [hashlib.sha256(p.encode()).hexdigest() for p in fans["hash_payload"].to_list()]
    return (
        fans.with_columns(window_hash=pl.Series(hashes, dtype=pl.String))
        .drop("hash_payload")
        .sort("fan_id")
    )
