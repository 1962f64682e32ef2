"""Shift sources: YAML and CSV files, the landing store's table; clear errors naming file and
line, or row."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from ofhq_pipeline.chatters.shifts import (
    EXAMPLE_FILE,
    ShiftError,
    add_shifts,
    load_creator_shifts,
    load_shift_file,
    main,
    parse_shift_file,
    read_landing_shifts,
    remove_shifts,
    rotating_shifts,
    shift_frame,
    shifts_file_from_env,
)
from ofhq_pipeline.lake import Lake
from ofhq_pipeline_tests.chatters.conftest import build_kpis


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def write(tmp_path, name: str, text: str):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_the_example_file_is_valid():
    shifts = load_shift_file(EXAMPLE_FILE)
    assert len(shifts) == 4
    first = shifts[0]
    assert (first.creator_id, first.chatter, first.start_at, first.end_at) == (
        "acct_demo_1", "alice", utc("2026-10-01T08:00:00+00:00"), utc("2026-10-01T16:00:00+00:00"))
    # "2026-10-01 20:00:00+02:00" is 18:00 UTC; naive instants are UTC
    assert shifts[3].start_at == utc("2026-10-01T18:00:00+00:00")
    assert main([str(EXAMPLE_FILE)]) == 0


def test_yaml_as_a_plain_list_and_csv(tmp_path):
    yaml_path = write(tmp_path, "s.yml", (
        "- {creator_id: acct_1, chatter: ana, start: 2026-10-01T00:00:00, end: 2026-10-01T08:00}\n"
    ))
    [shift] = load_shift_file(yaml_path)
    assert (shift.start_at, shift.end_at) == (utc("2026-10-01T00:00:00+00:00"),
                                              utc("2026-10-01T08:00:00+00:00"))
    csv_path = write(tmp_path, "s.csv", (
        "# exported from the scheduler\n"
        "creator_id,chatter,start,end,note\n"
        "acct_1,ana,2026-10-01T00:00:00Z,2026-10-01T08:00:00Z,\n"
        "\n"
        "acct_1,ben,2026-10-01T08:00:00Z,2026-10-01T16:00:00Z,covering\n"
    ))
    assert [(s.chatter, s.source) for s in load_shift_file(csv_path)] == [
        ("ana", f"{csv_path}:3"), ("ben", f"{csv_path}:5")]
    assert shift.shift_id == load_shift_file(csv_path)[0].shift_id  # same shift, same id


def test_yaml_errors_name_the_file_and_line(tmp_path):
    path = write(tmp_path, "shifts.yaml", """\
shifts:
  - creator_id: acct_1
    chatter: ana
    start: 2026-10-01T08:00:00Z
    end: 2026-10-01T08:00:00Z
  - creator_id: acct_1
    chatter: ben
    start: tomorrow morning
    end: 2026-10-01T16:00:00Z
    shift_lead: zoe
  - creator_id: acct_1
    start: 2026-10-01T16:00:00Z
    end: 2026-10-02
  - creator_id: ../etc
    chatter: cy
    start: 2026-10-01T16:00:00Z
    end: 2026-10-01T18:00:00Z
  - creator_id: acct_1
    chatter: dee
    start: 2026-10-01T18:00:00Z
    end: 2026-10-01T20:00:00Z
""")
    with pytest.raises(ShiftError) as raised:
        load_shift_file(path)
    errors = [str(e) for e in raised.value.errors]
    assert errors == [
        f"{path}:5: `end` (2026-10-01T08:00:00+00:00) must be after `start` "
        "(2026-10-01T08:00:00+00:00)",
        f"{path}:8: `start` is not an ISO-8601 instant: 'tomorrow morning'",
        f"{path}:10: unknown field `shift_lead` (known: creator_id, chatter, start, end, note)",
        f"{path}:11: missing `chatter`",
        f"{path}:13: `end` is a date (2026-10-02); give a date and time, e.g. "
        "2026-10-02T08:00:00Z",
        f"{path}:14: `creator_id` '../etc' is not an account id (letters, digits, _ -)",
    ]
    assert f"6 problem(s) in {path}" in str(raised.value)
    shifts, problems = parse_shift_file(path)  # what a run uses: the valid ones, and the rest
    assert [s.chatter for s in shifts] == ["dee"] and len(problems) == 6
    assert main([str(path)]) == 1


@pytest.mark.parametrize(("text", "message"), [
    ("shifts:\n  - creator_id: acct_1\n    chatter: [ana\n", ":4: not valid YAML: while parsing a "
     "flow sequence expected ',' or ']', but got '<stream end>' (from line 3)"),
    ("schedule:\n  - {}\n", ":1: unknown top-level key `schedule` (expected `shifts`)"),
    ("shifts: 5\n", ":1: expected a list of shifts"),
    ("- creator_id: acct_1\n  creator_id: acct_2\n", ":2: not valid YAML: duplicate field"),
    ("- just a string\n", " (shift 1): expected a mapping of fields"),
])
def test_malformed_yaml(tmp_path, text, message):
    path = write(tmp_path, "bad.yaml", text)
    [problem] = parse_shift_file(path)[1]
    assert str(problem).startswith(f"{path}{message}"), str(problem)


def test_duplicate_yaml_fields_are_named(tmp_path):
    path = write(tmp_path, "dup.yaml", "- creator_id: acct_1\n  creator_id: acct_2\n")
    [problem] = parse_shift_file(path)[1]
    assert "duplicate field `creator_id` (first on line 1)" in problem.message


def test_csv_errors_name_the_file_and_line(tmp_path):
    bad_header = write(tmp_path, "h.csv", "creator,chatter,start,end\n")
    [problem] = parse_shift_file(bad_header)[1]
    assert str(problem) == (f"{bad_header}:1: header: unknown column `creator`; missing column "
                            "`creator_id` (columns: creator_id, chatter, start, end, note)")
    rows = write(tmp_path, "r.csv", (
        "creator_id,chatter,start,end\n"
        "acct_1,ana,2026-10-01T08:00:00Z,2026-10-01T07:00:00Z\n"
        "acct_1,,2026-10-01T08:00:00Z,2026-10-01T09:00:00Z\n"
        "acct_1,ben,2026-10-01T08:00:00Z,2026-10-01T09:00:00Z,extra\n"
    ))
    assert [str(p) for p in parse_shift_file(rows)[1]] == [
        f"{rows}:2: `end` (2026-10-01T07:00:00+00:00) must be after `start` "
        "(2026-10-01T08:00:00+00:00)",
        f"{rows}:3: missing `chatter`",
        f"{rows}:4: 5 cells for 4 columns",
    ]


def test_missing_and_unknown_files(tmp_path):
    [problem] = parse_shift_file(tmp_path / "nope.yaml")[1]
    assert str(problem) == f"{tmp_path / 'nope.yaml'}: shift file not found"
    [problem] = parse_shift_file(write(tmp_path, "s.json", "[]"))[1]
    assert "unknown shift file type" in problem.message


def test_the_file_path_from_the_environment(monkeypatch, tmp_path):
    path, explicit = shifts_file_from_env()
    assert (path, explicit) == (tmp_path / "ofhq" / "chatter_shifts.yaml", False)
    monkeypatch.setenv("OFHQ_CHATTER_SHIFTS", str(tmp_path / "team.csv"))
    assert shifts_file_from_env() == (tmp_path / "team.csv", True)


def test_landing_store_table(landing_url):
    url = landing_url
    added = add_shifts(url, [
        {"creator_id": "acct_1", "chatter": "ana", "start": "2026-10-01T08:00:00+02:00",
         "end": "2026-10-01T16:00:00+02:00"},
        {"creator_id": "acct_2", "chatter": "ana", "start": "2026-10-01T08:00:00Z",
         "end": "2026-10-01T10:00:00Z", "note": "cover"},
    ], source="scheduler")
    assert added == 2
    # pushing the same shift again stores nothing new
    assert add_shifts(url, [{"creator_id": "acct_1", "chatter": "ana",
                             "start": "2026-10-01T06:00:00Z",
                             "end": "2026-10-01T14:00:00Z"}]) == 0
    shifts, problems = read_landing_shifts(url, "acct_1")
    assert problems == []
    [shift] = shifts
    assert (shift.start_at, shift.end_at, shift.source) == (
        utc("2026-10-01T06:00:00+00:00"), utc("2026-10-01T14:00:00+00:00"), "landing:1")
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT source FROM chatter_shifts WHERE id = 1")).scalar() \
            == "scheduler"
    engine.dispose()
    assert remove_shifts(url, "acct_2") == 1
    assert read_landing_shifts(url, "acct_2") == ([], [])


def test_landing_store_refuses_invalid_shifts_whole(landing_url):
    url = landing_url
    with pytest.raises(ShiftError) as raised:
        add_shifts(url, [
            {"creator_id": "acct_1", "chatter": "ana", "start": "2026-10-01T08:00:00Z",
             "end": "2026-10-01T16:00:00Z"},
            {"creator_id": "acct_1", "chatter": "ben", "start": "2026-10-01T16:00:00Z",
             "end": "2026-10-01T15:00:00Z"},
            {"creator_id": "acct_1", "chatter": "cy", "begin": "2026-10-01T16:00:00Z"},
        ])
    assert [str(e) for e in raised.value.errors] == [
        "row 2: `end` (2026-10-01T15:00:00+00:00) must be after `start` "
        "(2026-10-01T16:00:00+00:00)",
        "row 3: unknown field `begin` (known: creator_id, chatter, start, end, note)",
        "row 3: missing `start`",
        "row 3: missing `end`",
    ]
    assert read_landing_shifts(url) == ([], [])  # nothing stored


def test_a_row_written_past_add_shifts_is_reported_with_its_id(landing_url):
    url = landing_url
    read_landing_shifts(url)  # creates the table
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO chatter_shifts (creator_id, chatter, start_at, end_at, added_at) "
            "VALUES ('acct_1', '  ', '2026-10-01 08:00:00', '2026-10-01 09:00:00', "
            "'2026-10-01 00:00:00')"))
    engine.dispose()
    shifts, [problem] = read_landing_shifts(url)
    assert shifts == []
    assert str(problem) == "landing store chatter_shifts row id=1: `chatter` is empty"


def test_both_sources_merge_for_a_creator(tmp_path, lake: Lake, chat):
    path = write(tmp_path, "shifts.yaml", """\
- {creator_id: acct_test, chatter: ana, start: "2026-10-01T00:00:00Z", end: "2026-10-01T08:00:00Z"}
- {creator_id: acct_other, chatter: ana, start: "2026-10-01T00:00:00Z", end: "2026-10-01T08:00:00Z"}
- {creator_id: acct_test, chatter: ben, start: "2026-10-01T09:00:00Z", end: "2026-10-01T08:00:00Z"}
- {creator_id: acct_other, chatter: cy, start: "2026-10-01T09:00:00Z", end: "2026-10-01T08:00:00Z"}
""")
    url = f"sqlite:///{tmp_path / 'landing.db'}"
    add_shifts(url, [
        {"creator_id": "acct_test", "chatter": "ana", "start": "2026-10-01T00:00:00Z",
         "end": "2026-10-01T08:00:00Z"},  # the file's shift again: counted once
        {"creator_id": "acct_test", "chatter": "dee", "start": "2026-10-01T08:00:00Z",
         "end": "2026-10-01T16:00:00Z"},
    ])
    loaded = load_creator_shifts("acct_test", file=path, landing_url=url)
    assert loaded.shifts.select("chatter", "source").rows() == [
        ("ana", f"{path}:1"), ("dee", "landing:2")]
    # only this creator's problems (and those that name no creator) concern its runs
    assert loaded.problems["source"].to_list() == [f"{path}:3"]
    assert loaded.sources == (str(path), "landing:chatter_shifts")

    chat.creator(1, 60)
    chat.creator(1, 600)
    chat.write()
    marts = build_kpis(lake, loaded)
    assert {r["chatter"]: r["messages_sent"] for r in marts["chatter_performance_daily"]} == {
        "ana": 1, "dee": 1}
    [invalid] = [i for i in marts["chatter_shift_issues"] if i["kind"] == "invalid_shift"]
    assert invalid["detail"].startswith(f"{path}:3: `end`")


def test_an_explicit_file_that_is_missing_is_a_problem_the_default_is_not(tmp_path):
    missing = tmp_path / "nope.yaml"
    url = f"sqlite:///{tmp_path / 'landing.db'}"
    quiet = load_creator_shifts("acct_1", file=missing, landing_url=url)
    assert quiet.problems.height == 0 and quiet.sources == ("landing:chatter_shifts",)
    loud = load_creator_shifts("acct_1", file=missing, file_required=True, landing_url=url)
    assert loud.problems["error"].to_list() == ["shift file not found"]


def test_a_rotation_for_demos():
    t0 = utc("2026-10-01T00:00:00+00:00")
    shifts = rotating_shifts(["acct_b", "acct_a"], ["ana", "ben"], t0, t0.replace(hour=20))
    assert [(s.creator_id, s.chatter, s.start_at.hour, s.end_at.hour) for s in shifts] == [
        ("acct_a", "ana", 0, 8), ("acct_a", "ben", 8, 16), ("acct_a", "ana", 16, 20),
        ("acct_b", "ben", 0, 8), ("acct_b", "ana", 8, 16), ("acct_b", "ben", 16, 20)]
    assert shift_frame(shifts).height == 6
