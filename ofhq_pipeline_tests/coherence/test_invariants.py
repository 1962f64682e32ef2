"""The fan profile's invariants (sql/checks/fan_profile_invariants.sql): hand-made rows breaking
each rule are found, exactly those fans with the rule named; a clean profile passes, in a run's
check and over the analysts' file."""

from __future__ import annotations

from datetime import timedelta

import dagster as dg
import duckdb
import pytest

from ofhq_pipeline.defs.marts.checks import INVARIANTS, run_checks
from ofhq_pipeline.lake import quote
from ofhq_pipeline.marts.invariants import RULES, attach_agency_rollup, invariant_summary
from ofhq_pipeline.warehouse.publish import publish
from ofhq_pipeline_tests.builders import (
    CREATOR,
    build,
    day,
    fan,
    make_lake,
    message,
    parquet_dicts,
    txn,
    write_sync,
)

AS_OF = day(60)
OTHER = "acct_other"
RUN = "run1"

# Copies of a clean fan, each made to break one rule (fan 104 is the exception that is no
# violation: offer_discount fired by discount_sensitivity `always` needs no fresh intent).
BROKEN = {
    101: ("churned_yet_recently_active",
          "stage := 'churned', last_activity_at := TIMESTAMPTZ '{as_of}' - INTERVAL 3 DAY"),
    102: ("intent_action_on_quiet_chat",
          "next_best_action := 'send_ppv', "
          "last_fan_message_at := TIMESTAMPTZ '{as_of}' - INTERVAL 20 DAY"),
    103: ("intent_action_on_quiet_chat",
          "next_best_action := 'offer_discount', discount_sensitivity := 'never', "
          "last_fan_message_at := NULL"),
    104: (None,
          "next_best_action := 'offer_discount', discount_sensitivity := 'always', "
          "last_fan_message_at := TIMESTAMPTZ '{as_of}' - INTERVAL 40 DAY"),
    105: ("follow_up_before_last_message",
          "follow_up_due_at := last_message_at - INTERVAL 1 HOUR"),
    106: ("ppv_bought_none_sent",
          "ppv_bought_count := 1, ppv_sent_count := 0, conversion_rate := NULL"),
    107: ("conversion_out_of_range", "conversion_rate := 1.5"),
    108: ("time_after_as_of",
          "classified_at := TIMESTAMPTZ '{as_of}' + INTERVAL 35 DAY, "
          "stage_updated_at := TIMESTAMPTZ '{as_of}' + INTERVAL 1 DAY"),
}
PERSON = 109  # his profile carries a username, his fan_agency row none


@pytest.fixture
def lake(tmp_path):
    """A creator whose real profile is clean: a recent buyer who chats, a fan who only writes, a
    buyer gone quiet long ago."""
    lake = make_lake(tmp_path / "home")
    write_sync(
        lake, fetched_at=day(61), fans=[fan(1), fan(2), fan(3, subscribe_at=day(-200))],
        transactions=[txn("t1", 1, 25.0, day(50)), txn("t2", 3, 60.0, day(-150), kind="tip")],
        messages=[(1, message(1, 1, day(49), from_fan=False, price=25)),
                  (1, message(2, 1, day(55), from_fan=True)),
                  (2, message(3, 2, day(57), from_fan=True))],
    )
    build(lake, AS_OF, run_id=RUN)
    return lake


def profile_path(lake, creator_id: str = CREATOR):
    return lake.mart_path("fan_profile", creator_id, RUN)


def add_copies(lake, copies: dict[int, str]) -> None:
    """Rewrite the run's fan_profile with copies of fan 1 (new fan ids, some columns replaced)."""
    path = profile_path(lake)
    source = f"read_parquet({quote(path)})"
    selects = [f"SELECT * FROM {source}"] + [
        f"SELECT * REPLACE ({fan_id} AS fan_id, "
        + ", ".join(f"{value} AS {column}" for column, value in
                    (part.split(" := ") for part in replace.format(as_of=AS_OF).split(", ")))
        + f") FROM {source} WHERE fan_id = 1" if replace else
        f"SELECT * REPLACE ({fan_id} AS fan_id) FROM {source} WHERE fan_id = 1"
        for fan_id, replace in copies.items()
    ]
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.execute(f"CREATE TABLE p AS {' UNION ALL BY NAME '.join(selects)}")
        con.execute(f"COPY p TO {quote(path)} (FORMAT parquet)")
    finally:
        con.close()


def invariants_check(lake) -> dg.AssetCheckResult:
    with lake.session(CREATOR, as_of=AS_OF, run_id=RUN) as con:
        results = list(run_checks(lake, con, "fan_profile", CREATOR, AS_OF, profile_path(lake)))
    [result] = [r for r in results if r.check_name == INVARIANTS]
    return result


def values(result: dg.AssetCheckResult) -> dict:
    return {k: getattr(v, "value", v) for k, v in result.metadata.items()}


def expected_fans() -> dict[str, list[int]]:
    found: dict[str, list[int]] = {}
    for fan_id, (rule, _) in BROKEN.items():
        if rule:
            found.setdefault(rule, []).append(fan_id)
    return found


def test_a_clean_profile_passes(lake):
    result = invariants_check(lake)
    meta = values(result)
    assert result.passed and result.severity == dg.AssetCheckSeverity.WARN
    assert meta["partition"] == CREATOR and meta["failing_rows"] == 0
    assert meta["violations_by_rule"] == dict.fromkeys(RULES, 0)
    assert meta["failing_fan_ids"] == {}


def test_the_check_finds_exactly_the_broken_fans_by_rule(lake):
    add_copies(lake, {fan_id: replace for fan_id, (_, replace) in BROKEN.items()})
    result = invariants_check(lake)
    meta = values(result)
    expected = expected_fans()
    assert not result.passed and result.severity == dg.AssetCheckSeverity.WARN
    assert meta["partition"] == CREATOR and meta["as_of"] == AS_OF.isoformat()
    assert meta["failing_fan_ids"] == expected
    assert meta["failing_rows"] == sum(len(fans) for fans in expected.values())
    assert meta["violations_by_rule"] == {
        rule: len(expected.get(rule, [])) for rule in RULES}
    sample = meta["sample"]
    assert all(rule in sample for rule in expected)
    assert "classified_at" in sample and "stage_updated_at" in sample  # the columns are named


def test_the_sql_finds_every_rule_over_a_profile_and_its_people(lake):
    """All seven rules over hand-made tables, as an analyst would run them."""
    add_copies(lake, {**{fan_id: replace for fan_id, (_, replace) in BROKEN.items()},
                      PERSON: ""})
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.execute("CREATE SCHEMA marts")
        con.execute("CREATE TABLE marts.fan_profile AS "
                    f"SELECT * FROM read_parquet({quote(profile_path(lake))})")
        con.execute("CREATE TABLE marts.fan_agency AS SELECT fan_id, "
                    f"CASE WHEN fan_id <> {PERSON} THEN username END AS username "
                    "FROM marts.fan_profile")
        summary = invariant_summary(con)
    finally:
        con.close()
    expected = {**expected_fans(), "person_without_username": [PERSON]}
    found: dict[str, list[int]] = {}
    for rule, creator_id, fan_id, detail in summary.examples:
        assert creator_id == CREATOR and detail
        found.setdefault(rule, []).append(fan_id)
    assert found == expected
    assert summary.by_rule == {rule: len(expected[rule]) for rule in RULES}
    assert not summary.passed and summary.by_creator == {CREATOR: summary.violations}
    assert "person_without_username" in summary.markdown()


def test_the_analysts_file_passes_when_the_run_did(lake):
    publish(lake, CREATOR, RUN)
    con = duckdb.connect(str(lake.paths.analysts_marts), read_only=True)
    try:
        summary = invariant_summary(con)
    finally:
        con.close()
    assert summary.passed and summary.fans == 3
    assert "every rule holds" in summary.markdown()


def test_a_summary_that_cannot_run_never_passes():
    con = duckdb.connect()
    try:
        summary = invariant_summary(con)
    finally:
        con.close()
    assert summary.could_not_judge and not summary.passed
    assert "could not be judged" in summary.markdown()


def test_the_person_rule_judges_the_rollup_publishing_will_build(lake):
    """In a run, marts.fan_agency is the rollup of this run's profile and the other creators'
    current ones, for this creator's fans: a username another creator's profile carries counts."""
    write_sync(lake, fetched_at=day(61), fans=[fan(1), fan(5)], creator_id=OTHER)
    build(lake, AS_OF, creator_id=OTHER, run_id=RUN)
    lake.commit_marts(OTHER, RUN)
    mine = profile_path(lake)
    con = duckdb.connect()
    try:
        con.execute(f"COPY (SELECT * REPLACE (CASE WHEN fan_id = 1 THEN NULL ELSE username END "
                    f"AS username) FROM read_parquet({quote(mine)})) TO {quote(mine)} "
                    "(FORMAT parquet)")
    finally:
        con.close()
    with lake.session(CREATOR, as_of=AS_OF, run_id=RUN) as con:
        attach_agency_rollup(lake, con, CREATOR, mine)
        people = dict(con.execute("SELECT fan_id, username FROM marts.fan_agency").fetchall())
        (profiles,) = con.execute("SELECT count(*) FROM marts.fan_profile").fetchone()
    assert people == {1: "u1", 2: "u2", 3: "u3"}  # fan 5 is only the other creator's
    assert profiles == 3  # the check itself reads this creator's profile alone
    assert invariants_check(lake).passed
    assert parquet_dicts(mine, where="fan_id = 1")[0]["username"] is None


def test_times_after_as_of_are_named_with_their_columns(lake):
    add_copies(lake, {108: BROKEN[108][1]})
    meta = values(invariants_check(lake))
    assert meta["failing_fan_ids"] == {"time_after_as_of": [108]}
    later = AS_OF + timedelta(days=35)
    assert f"classified_at {later:%Y-%m-%d}" in meta["sample"]
