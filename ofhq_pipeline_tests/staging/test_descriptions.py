"""What a transaction's description says (source-api.md): its text without HTML, its type (the
explicit one a webhook sends when we know it, else read from the text) and whether it is a
custom order. staging.transactions works it out once per distinct description; each transaction
must still get what its own description and type say."""

from __future__ import annotations

from ofhq_pipeline_tests.builders import CREATOR, day, make_lake, parquet_dicts, txn

LINK = '<a href="https://onlyfans.com/custom_clips">Fan 7</a>'


def test_each_transaction_gets_what_its_own_description_says(tmp_path):
    lake = make_lake(tmp_path / "home")
    tip = f"Tip from {LINK}"
    feed = [
        # The same description twice: one result serves both.
        {**txn("tr_1", 7, 10.0, day(1)), "description": tip},
        {**txn("tr_2", 7, 12.0, day(2)), "description": tip},
        # A link whose address says "custom" is no custom order: the tag goes first.
        {**txn("tr_3", 7, 15.0, day(3)), "description": f"Payment for message from {LINK}"},
        {**txn("tr_4", 7, 40.0, day(4)), "description": f"Payment for message from {LINK} (Custom)"},
        # No description at all.
        {k: v for k, v in txn("tr_5", 7, 5.0, day(5)).items() if k != "description"},
    ]
    lake.write_raw_batch("transactions", CREATOR, feed, fetched_at=day(6), sync_mode="test")
    # The tip's description again, from a webhook that says it was a post: its type stands.
    lake.write_raw_batch(
        "webhook_events", CREATOR, [{**txn("tr_6", 7, 9.0, day(5)), "description": tip,
                                     "type": "post"}],
        fetched_at=[day(6)], sync_mode="webhook",
        extra={"event": ["transactions.new"], "event_id": [1], "occurred_at": [day(6)]})
    for table in ("cast_rejects", "transactions"):
        with lake.session(CREATOR) as con:
            lake.write_model(con, f"staging/{table}", lake.staging_path(table, CREATOR))

    rows = {row["transaction_id"]: row
            for row in parquet_dicts(lake.staging_path("transactions", CREATOR))}
    said = {tid: (row["description"], row["type"], row["is_custom"]) for tid, row in rows.items()}
    assert said == {
        "tr_1": ("Tip from Fan 7", "tip", False),
        "tr_2": ("Tip from Fan 7", "tip", False),
        "tr_3": ("Payment for message from Fan 7", "message", False),
        "tr_4": ("Payment for message from Fan 7 (Custom)", "message", True),
        "tr_5": ("", "other", False),
        "tr_6": ("Tip from Fan 7", "post", False),
    }
