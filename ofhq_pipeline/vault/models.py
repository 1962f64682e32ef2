"""How marts/fan_recommendations (sql/marts/fan_recommendations.sql) ranks and what it leaves
out: its settings, passed to the model as session variables."""

from __future__ import annotations

from dataclasses import dataclass

import duckdb


@dataclass(frozen=True)
class MatchingConfig:
    """How fan_recommendations ranks and what it leaves out."""

    top_k: int = 5
    exclude_offered_days: int = 30
    new_item_days: int = 30

    def __post_init__(self) -> None:
        if self.top_k < 1:
            raise ValueError("top_k must be at least 1")
        if self.exclude_offered_days < 0 or self.new_item_days < 0:
            raise ValueError("day windows cannot be negative")

    def set_variables(self, con: duckdb.DuckDBPyConnection) -> None:
        con.execute("SET VARIABLE rec_top_k = ?", [self.top_k])
        con.execute("SET VARIABLE rec_exclude_days = ?", [self.exclude_offered_days])
        con.execute("SET VARIABLE rec_new_days = ?", [self.new_item_days])
