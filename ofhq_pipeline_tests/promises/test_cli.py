"""The `ofhq` command, run as operators run it: `ofhq sync` and `ofhq demo`."""

from __future__ import annotations

import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from ofhq_pipeline.settings import Paths
from ofhq_pipeline_tests.conftest import API_KEY
from ofhq_pipeline_tests.promises.conftest import busiest_creators

# Whole syncs and daemons: the second CI step, `make test-slow` (see docs/testing.md).
pytestmark = pytest.mark.slow

OFHQ = str(Path(sys.executable).with_name("ofhq"))


def ofhq(*args: str, **env: str) -> subprocess.CompletedProcess:
    """The console script in a process of its own, wide enough that no table is cut."""
    return subprocess.run([OFHQ, *args], env={**os.environ, "COLUMNS": "200", **env},
                          capture_output=True, text=True, timeout=600)


def test_ofhq_sync_exits_1_when_a_creator_fails(agency, api):
    failing, good = busiest_creators(agency, 2)
    api.break_contract(failing)
    done = ofhq("sync", "--creator", failing, "--creator", good, OFAPI_BASE_URL=api.url,
                OFAPI_API_KEY=API_KEY, OFHQ_AS_OF=agency.end.isoformat())

    assert done.returncode == 1, done.stdout + done.stderr
    assert f"{failing}: FAILED" in done.stdout and f"{good}: ok" in done.stdout
    assert "1/2 creators synced" in done.stdout


def printed_table(output: str, *headings: str) -> list[list[str]]:
    """The rows of the table the demo printed under these column headings."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines)
                 if [cell.strip() for cell in line.strip("┃").split("┃")] == list(headings))
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("│"):
            return rows
        rows.append([cell.strip() for cell in line.strip("│").split("│")])
    return rows


def number(text: str) -> Decimal:
    return Decimal(text.replace(",", ""))


def test_ofhq_demo_prints_the_marts_of_the_analysts_file():
    done = ofhq("demo", "--scale", "0.02")  # one small creator
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    for section in ("marts.creators", "marts.fan_profile", "marts.fan_personality",
                    "marts.fan_facts", "marts.system_stats", "System Intelligence"):
        assert section in out

    con = duckdb.connect(str(Paths.from_env().analysts_marts), read_only=True)
    try:
        creators = con.execute("SELECT creator_id, username, fan_count, paying_fans, whales, "
                               "lifetime_revenue_cents FROM marts.creators").fetchall()
        buyers = con.execute("SELECT buyer_type, count(*), sum(lifetime_spend_cents) "
                             "FROM marts.fan_profile GROUP BY 1").fetchall()
        stats = con.execute(
            "SELECT layer, table_name, row_count FROM marts.system_stats").fetchall()
    finally:
        con.close()

    printed = printed_table(out, "creator", "username", "fans", "paying", "whales", "revenue $")
    assert sorted((c, u, number(f), number(p), number(w), number(r) * 100)
                  for c, u, f, p, w, r in printed) == sorted(creators)
    printed = printed_table(out, "buyer_type", "fans", "spend $")
    assert sorted((t, number(n), number(s) * 100) for t, n, s in printed) == sorted(buyers)
    printed = printed_table(out, "layer", "table", "rows")
    assert sorted((layer, t, number(n)) for layer, t, n in printed) == sorted(stats)
    assert any(n > 0 for *_, n in stats)
    assert "A blast to segment" in out and "to_send: " in out  # the demo's dry run

    # A dry run from the command line: who would get it and who not; nothing sent or recorded.
    [creator] = [c for c, *_ in creators]
    dry = ofhq("segments", "send", "ready_to_buy", "--text", "hi", "--creator", creator)
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert "dry run" in dry.stdout and "excluded_by_reason: " in dry.stdout
    refused = ofhq("segments", "send", "ready_to_buy", "--text", "hi", "--price", "250")
    assert refused.returncode != 0 and "ofhq/blast_price" in refused.stdout + refused.stderr
