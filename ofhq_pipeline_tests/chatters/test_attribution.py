"""Who wrote what: shift boundaries (start inclusive, end exclusive), overlaps and gaps reported,
never guessed; tips credited through the chatter's last message."""

from __future__ import annotations

from datetime import timedelta

from ofhq_pipeline.chatters.shifts import ShiftProblem
from ofhq_pipeline_tests.chatters.conftest import at, attribution, build_kpis, shift_set

SHIFTS = shift_set(("alice", 0, 60), ("bob", 60, 120), ("carol", 90, 150))


def test_shift_boundaries_start_inclusive_end_exclusive(chat, lake):
    first = chat.creator(1, 0)  # alice's start
    last_alice = chat.creator(1, 60 - 1 / 60)  # one second before her end
    handover = chat.creator(1, 60)  # her end is bob's start
    fan_line = chat.fan(1, 61)
    carol_alone = chat.creator(1, 120)  # bob's end, inside carol's shift
    after = chat.creator(1, 150)  # carol's end: no shift
    chat.write()
    got = attribution(lake, SHIFTS)["message_attribution"]
    assert (got[first]["chatter"], got[first]["attribution"]) == ("alice", "shift")
    assert got[last_alice]["chatter"] == "alice"
    assert got[handover]["chatter"] == "bob"
    assert got[fan_line]["chatter"] == "bob"  # fan messages are placed in the shift too
    assert got[carol_alone]["chatter"] == "carol"
    assert (got[after]["chatter"], got[after]["attribution"]) == (None, "gap")


def test_overlaps_and_gaps_are_reported_not_guessed(chat, lake):
    before = chat.creator(1, -1)
    in_overlap = chat.creator(2, 90)
    also_overlap = chat.creator(3, 119)
    after = chat.creator(1, 150)
    chat.creator(1, 151, mass=True)  # a mass send in no shift is not a gap
    ppv_overlap = chat.buy(2, 100, 12.5)
    ppv_gap = chat.buy(1, 200, 9)
    chat.write()
    got = attribution(lake, SHIFTS)
    messages, purchases = got["message_attribution"], got["purchase_attribution"]
    for mid in (in_overlap, also_overlap):
        assert (messages[mid]["chatter"], messages[mid]["attribution"]) == (None, "overlap")
    assert messages[before]["attribution"] == messages[after]["attribution"] == "gap"
    assert (purchases[ppv_overlap]["chatter"], purchases[ppv_overlap]["attribution"]) == (
        None, "overlap")
    assert purchases[ppv_gap]["attribution"] == "gap"

    issues = build_kpis(lake, SHIFTS)["chatter_shift_issues"]
    [overlap] = [i for i in issues if i["kind"] == "overlap"]
    assert (overlap["chatter"], overlap["other_chatter"]) == ("bob", "carol")
    assert (overlap["start_at"], overlap["end_at"]) == (at(90), at(120))
    assert (overlap["message_count"], overlap["fan_count"]) == (2, 2)
    assert overlap["example_message_ids"] == [in_overlap, also_overlap]
    assert (overlap["purchase_count"], overlap["purchase_cents"]) == (1, 1250)
    gaps = sorted((i for i in issues if i["kind"] == "gap"),
                  key=lambda i: i["first_event_at"])
    assert [(g["start_at"], g["end_at"], g["message_count"], g["purchase_count"])
            for g in gaps] == [(None, at(0), 1, 0), (at(150), None, 1, 1)]
    assert gaps[0]["example_message_ids"] == [before]
    assert gaps[1]["purchase_cents"] == 900
    # nobody is credited with what the overlap holds
    daily = build_kpis(lake, SHIFTS, run_id="again")["chatter_performance_daily"]
    assert sum(r["messages_sent"] for r in daily) == 0
    assert sum(r["ppv_unlocked"] for r in daily) == 0


def test_a_chatter_overlapping_himself_is_credited_once(chat, lake):
    mid = chat.creator(1, 40)
    chat.write()
    shifts = shift_set(("alice", 0, 60), ("alice", 30, 90))
    got = attribution(lake, shifts)["message_attribution"][mid]
    assert (got["chatter"], got["attribution"]) == ("alice", "shift")
    marts = build_kpis(lake, shifts)
    earliest = shifts.shifts.sort("start_at")["shift_id"][0]
    assert got["shift_id"] == earliest
    per_shift = {r["shift_id"]: r["messages_sent"] for r in marts["chatter_shift_performance"]}
    assert sorted(per_shift.values()) == [0, 1] and per_shift[earliest] == 1
    [issue] = marts["chatter_shift_issues"]
    assert (issue["kind"], issue["message_count"]) == ("self_overlap", 1)


def test_tips_are_credited_through_the_last_personal_message_within_30_minutes(chat, lake):
    alice_msg = chat.creator(1, 10)
    chat.creator(1, 20, mass=True)  # mass sends credit nobody
    on_edge = chat.buy(1, 40, 5, kind="tip")  # exactly 30 minutes after alice's message
    chat.creator(2, 10)
    too_late = chat.buy(2, 40 + 1 / 60, 5, kind="tip")  # 30 minutes and one second
    alice_late = chat.creator(3, 45)
    in_bobs_shift = chat.buy(3, 60, 8, kind="tip")  # during bob's shift, after alice's message
    chat.write()
    shifts = shift_set(("alice", 0, 50), ("bob", 50, 120))
    purchases = attribution(lake, shifts)["purchase_attribution"]
    assert (purchases[on_edge]["chatter"], purchases[on_edge]["attribution"],
            purchases[on_edge]["credited_message_id"]) == ("alice", "message", alice_msg)
    assert (purchases[too_late]["chatter"], purchases[too_late]["attribution"]) == (
        None, "no_message")
    assert (purchases[in_bobs_shift]["chatter"],
            purchases[in_bobs_shift]["credited_message_id"]) == ("alice", alice_late)


def test_invalid_shift_entries_are_issues(chat, lake):
    chat.creator(1, 10)
    chat.write()
    shifts = shift_set(("alice", 0, 60),
                       problems=(ShiftProblem("shifts.yaml:7", "`end` must be after `start`"),))
    [issue] = build_kpis(lake, shifts)["chatter_shift_issues"]
    assert issue["kind"] == "invalid_shift"
    assert issue["detail"] == "shifts.yaml:7: `end` must be after `start`"


def test_a_creator_without_shifts_is_one_gap(chat, lake):
    chat.creator(1, 10)
    chat.creator(2, 20)
    chat.write()
    [issue] = build_kpis(lake, shift_set())["chatter_shift_issues"]
    assert (issue["kind"], issue["start_at"], issue["end_at"], issue["message_count"]) == (
        "gap", None, None, 2)
    assert issue["detail"] == "no shift covers this creator"


def test_only_what_happened_by_as_of_counts(chat, lake):
    chat.creator(1, 10)
    chat.creator(1, 30)
    chat.write()
    shifts = shift_set(("alice", 0, 60))
    marts = build_kpis(lake, shifts, as_of=at(20))
    [day] = marts["chatter_performance_daily"]
    assert (day["messages_sent"], day["shift_hours"]) == (1, round(20 / 60, 2))
    [shift] = marts["chatter_shift_performance"]
    assert shift["in_progress"] is True
    assert shift["as_of"] == at(20)
    assert build_kpis(lake, shifts, as_of=at(0) - timedelta(minutes=1),
                      run_id="before")["chatter_shift_performance"] == []
