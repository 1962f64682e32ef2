"""Who a blast would get (a dry run) or got: counts, a sample, the excluded fans and why.

The same summary is the blast step's metadata in the UI and what `ofhq segments send` prints.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from ofhq_pipeline.blasts.plan import EXCLUSION_REASONS

SAMPLE_ROWS = 10


@dataclass(frozen=True)
class Preview:
    to_send: int
    held_out: int
    excluded: int
    excluded_by_reason: dict[str, int]
    requests: int  # API requests the sends need (one per chunk)
    sample: list[dict]  # fans to send: who, at what price, when
    excluded_sample: list[dict]  # fans left out, each with his reason

    def lines(self) -> list[str]:
        reasons = ", ".join(f"{r} {n}" for r, n in self.excluded_by_reason.items() if n)
        out = [f"to send: {self.to_send} fans in {self.requests} API requests",
               f"held out (never sent, to measure uplift): {self.held_out}",
               f"excluded: {self.excluded}" + (f" ({reasons})" if reasons else "")]
        if self.sample:
            out += ["sample of fans to send:", *(_line(r) for r in self.sample)]
        if self.excluded_sample:
            out += ["sample of excluded fans:", *(_line(r) for r in self.excluded_sample)]
        return out

    def metadata(self) -> dict:
        return {"to_send": self.to_send, "held_out": self.held_out, "excluded": self.excluded,
                "excluded_by_reason": self.excluded_by_reason, "api_requests": self.requests}


def _line(row: dict) -> str:
    return "  " + "  ".join(f"{k}={'' if v is None else v}" for k, v in row.items())


def preview(audience: pl.DataFrame, members: pl.DataFrame) -> Preview:
    """`audience` as planned (sql/blasts/audience.sql), `members` with fan_id and username."""
    named = audience.join(members.select("fan_id", "username"), on="fan_id", how="left")
    cohorts = dict(named.group_by("cohort").len().iter_rows())
    excluded = named.filter(pl.col("cohort") == "excluded")
    by_reason = dict(excluded.group_by("reason").len().iter_rows())
    to_send = named.filter(pl.col("cohort") == "send")
    return Preview(
        to_send=cohorts.get("send", 0),
        held_out=cohorts.get("holdout", 0),
        excluded=cohorts.get("excluded", 0),
        excluded_by_reason={reason: by_reason.get(reason, 0) for reason in EXCLUSION_REASONS},
        requests=to_send["chunk_no"].n_unique() if to_send.height else 0,
        sample=to_send.sort("fan_id").head(SAMPLE_ROWS).select(
            "fan_id", "username", "price_cents", "price_basis", "scheduled_at").to_dicts(),
        # A few of each reason, so every rule that fired shows.
        excluded_sample=excluded.sort("reason", "fan_id")
        .group_by("reason", maintain_order=True).head(3)
        .select("fan_id", "username", "reason").to_dicts(),
    )
