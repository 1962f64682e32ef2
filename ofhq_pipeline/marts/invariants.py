"""The fan profile's cross-field invariants: rules no fan_profile row may break, whatever the data.

The rules are SQL an analyst can read and run (sql/checks/fan_profile_invariants.sql: one row per
violation, `rule, creator_id, fan_id, detail`). They run in two places:

- in every run, as the `invariants` check of `marts/fan_profile` (one creator; WARN);
- over the analysts' file (every creator), through `invariant_summary`, for the System
  Intelligence report.

The `person_without_username` rule reads `marts.fan_agency`. In a run, that is the rollup
publishing is about to build for the creator's fans (`attach_agency_rollup`), so the check judges
what analysts will see next rather than the previous publish.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from ofhq_pipeline.lake import Lake, file_list, quote, sql_text

MODEL = "checks/fan_profile_invariants"

# Every rule of the SQL, with what it guards (the order the report lists them in).
RULES: dict[str, str] = {
    "churned_yet_recently_active": "bought or wrote within the 14 days before as_of, yet churned "
    "(still here: at_risk at worst)",
    "intent_action_on_quiet_chat": "upsell_custom, send_ppv, or offer_discount fired by the "
    "discount intent, while the fan has not written within the 14 days before as_of",
    "follow_up_before_last_message": "follow_up_due_at before the chat's last message",
    "ppv_bought_none_sent": "PPV bought while no priced message was sent into his chat",
    "conversion_out_of_range": "conversion_rate outside [0, 1]",
    "person_without_username": "the person (fan_agency) has no username while a profile of his "
    "carries one",
    "time_after_as_of": "a recorded time (purchase, message, activity, subscription, stage "
    "change, classification) after as_of",
}
# What the rules read of marts.fan_agency: in a run, only these columns are rolled up.
AGENCY_COLUMNS = ("fan_id", "username")
# Fans listed per rule: in the check's metadata, and in the report's sample.
CHECK_FANS_PER_RULE = 50
REPORT_FANS_PER_RULE = 5


def attach_agency_rollup(
    store: Lake, con: duckdb.DuckDBPyConnection, creator_id: str, profile: Path
) -> None:
    """`marts.fan_agency` as publishing will roll it up once `profile` (this run's fan_profile of
    the creator) is current: the lifecycle/fan_agency model over it and the other creators'
    current fan_profile, for the creator's fans only (one person's rows wherever they are), and
    only the columns the rules read (`AGENCY_COLUMNS`: the rollup's other aggregates took four
    times as long at 1M fans). `marts.fan_profile` is left as `profile` alone."""
    mine = store.creator_marts_dir(creator_id)
    others = [p for p in store.current_marts().get("fan_profile", []) if mine not in p.parents]
    con.execute(
        "CREATE OR REPLACE VIEW marts.fan_profile AS "
        f"SELECT * FROM read_parquet({file_list([*others, profile])}, union_by_name = true) "
        f"WHERE fan_id IN (SELECT fan_id FROM read_parquet({quote(profile)}))"
    )
    try:
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE agency_rollup AS SELECT {', '.join(AGENCY_COLUMNS)} "
            f"FROM ({sql_text('marts/fan_agency')})"
        )
        con.execute("CREATE OR REPLACE VIEW marts.fan_agency AS SELECT * FROM agency_rollup")
    finally:
        con.execute(
            f"CREATE OR REPLACE VIEW marts.fan_profile AS "
            f"SELECT * FROM read_parquet({quote(profile)})"
        )


@dataclass
class InvariantSummary:
    """What the invariants found over the analysts' file: per rule (every rule, 0 included) and
    per creator, and a few fans of each broken rule."""

    fans: int = 0
    by_rule: dict[str, int] = field(default_factory=lambda: dict.fromkeys(RULES, 0))
    by_creator: dict[str, int] = field(default_factory=dict)
    # (rule, creator_id, fan_id, detail), at most REPORT_FANS_PER_RULE per rule and creator
    examples: list[tuple[str, str, int | None, str]] = field(default_factory=list)
    could_not_judge: str | None = None

    @property
    def violations(self) -> int:
        return sum(self.by_rule.values())

    @property
    def passed(self) -> bool:
        """Every rule judged and none broken; a summary that could not judge never passes."""
        return self.could_not_judge is None and self.violations == 0

    def markdown(self) -> str:
        """A section for the report: the verdict, one line per rule, a few fans of each."""
        if self.could_not_judge:
            return f"**Invariants could not be judged**: {self.could_not_judge}\n"
        verdict = ("every rule holds" if self.passed
                   else f"**{self.violations:,} violations**")
        lines = [
            f"Fan profile invariants over {self.fans:,} fans: {verdict} "
            "(sql/checks/fan_profile_invariants.sql).",
            "",
            "| rule | what it guards | violations |",
            "|---|---|---:|",
            *(f"| `{rule}` | {RULES.get(rule, '')} | {n:,} |" for rule, n in self.by_rule.items()),
        ]
        if self.by_creator:
            lines += ["", "Violations by creator: " + ", ".join(
                f"`{c}` {n:,}" for c, n in sorted(self.by_creator.items()))]
        if self.examples:
            lines += ["", "| rule | creator | fan | detail |", "|---|---|---:|---|",
                      *(f"| `{r}` | `{c}` | {f} | {d} |" for r, c, f, d in self.examples)]
        return "\n".join(lines) + "\n"


def invariant_summary(con: duckdb.DuckDBPyConnection) -> InvariantSummary:
    """Run the invariants over `marts.fan_profile` (and `marts.fan_agency`) of an open connection,
    e.g. a read-only one on the analysts' file: one pass, grouped by rule and creator."""
    summary = InvariantSummary()
    try:
        (summary.fans,) = con.execute("SELECT count(*) FROM marts.fan_profile").fetchone()
        rows = con.execute(
            f"SELECT rule, creator_id, count(*), "
            f"list([CAST(fan_id AS VARCHAR), detail] ORDER BY fan_id)[1:{REPORT_FANS_PER_RULE}] "
            f"FROM ({sql_text(MODEL)}) GROUP BY ALL ORDER BY ALL"
        ).fetchall()
    except duckdb.Error as exc:
        summary.could_not_judge = f"the invariants query failed: {exc}"
        return summary
    for rule, creator_id, n, examples in rows:
        summary.by_rule[rule] = summary.by_rule.get(rule, 0) + n
        summary.by_creator[creator_id] = summary.by_creator.get(creator_id, 0) + n
        summary.examples += [(rule, creator_id, int(fan) if fan is not None else None, detail)
                             for fan, detail in examples]
    return summary
