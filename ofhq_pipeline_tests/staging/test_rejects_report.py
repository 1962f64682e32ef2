"""The System Intelligence report lists, per creator, the raw rows staging set aside and the most
common reasons; "none" when there are none."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from ofhq_pipeline.report.render import collect, render_html, render_markdown, render_summary
from ofhq_pipeline_tests.builders import CREATOR, day, fan, make_lake, txn, write_sync
from ofhq_pipeline_tests.staging.hostile import land_webhooks, sale

NOW = datetime(2026, 12, 1, tzinfo=UTC)


def write_rejects(lake, creator_id: str) -> None:
    with lake.session(creator_id) as con:
        lake.write_model(con, "staging/cast_rejects", lake.staging_path("cast_rejects", creator_id))


def section(markdown: str) -> str:
    return markdown.split("## Rejected raw rows", 1)[1].split("\n## ", 1)[0]


def test_rejected_rows_per_creator_with_the_most_common_reasons(tmp_path):
    lake = make_lake(tmp_path / "home")
    write_sync(lake, fetched_at=day(5), fans=[fan(1), {**fan(2), "lastSeen": "yesterday"}],
               transactions=[txn("t1", 1, 5.0, day(1)), {**txn("t2", 1, 5.0, day(1)), "amount": "x"}])
    land_webhooks(lake, [("transactions.new", json.dumps(sale(f"w{n}", amount=float("nan"))))
                         for n in range(3)], day(6))
    write_sync(lake, fetched_at=day(5), creator_id="acct_clean", fans=[fan(1)])
    write_rejects(lake, CREATOR)
    write_rejects(lake, "acct_clean")

    data = collect(tmp_path / "no-analysts-file.duckdb", None, NOW, lake.root)

    [summary] = data.rejects  # the clean creator has none, so is not listed
    assert (summary.creator_id, summary.rows, summary.values) == (CREATOR, 5, 5)
    assert summary.reasons == [("webhook_events transactions.new amount: not finite", 3),
                               ("fans lastSeen: not an instant", 1),
                               ("transactions amount: not a number", 1)]
    rows = section(render_markdown(data))
    assert f"| {CREATOR} | 5 | 5 | webhook_events transactions.new amount: not finite (3); " \
           "fans lastSeen: not an instant (1); transactions amount: not a number (1) |" in rows
    assert "acct_clean" not in rows
    page = render_html(data)
    assert "<h2>Rejected raw rows</h2>" in page and f"<td>{CREATOR}</td>" in page
    assert "rejected raw rows: 5 (1 creator(s)" in render_summary(data, tmp_path / "index.html")


def test_none_when_nothing_was_set_aside(tmp_path):
    lake = make_lake(tmp_path / "home")
    write_sync(lake, fetched_at=day(5), fans=[fan(1)], transactions=[txn("t1", 1, 5.0, day(1))])
    write_rejects(lake, CREATOR)

    data = collect(tmp_path / "no-analysts-file.duckdb", None, NOW, lake.root)

    assert data.rejects == []
    assert section(render_markdown(data)).strip().endswith("none")
    assert "<h2>Rejected raw rows</h2>" in render_html(data)
    assert "rejected raw rows" not in render_summary(data, tmp_path / "index.html")
