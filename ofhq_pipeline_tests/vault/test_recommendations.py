"""fan_recommendations: what is left out, how preferences rank items, what price is suggested."""

from __future__ import annotations

import duckdb
import polars as pl
import pytest

from ofhq_pipeline.lake import atomic_write
from ofhq_pipeline.vault.models import MatchingConfig
from ofhq_pipeline_tests.builders import CREATOR, build_model, make_lake
from ofhq_pipeline_tests.vault.harness import Story, at, build_vault, mart


@pytest.fixture
def lake(tmp_path):
    return make_lake(tmp_path / "home")


def recommended(lake, fan_id: int, run_id: str = "run1") -> list[int]:
    return [r["media_id"] for r in mart(lake, "fan_recommendations", run_id=run_id,
                                        where=f"fan_id = {fan_id}", order="rank")]


def preferences(lake, run_id: str, rows: dict[int, dict]) -> None:
    """marts.fan_preferences as the classifier writes it, for this run."""
    frame = pl.DataFrame([{"creator_id": CREATOR, "fan_id": fan, **prefs}
                          for fan, prefs in rows.items()])
    atomic_write(lake.mart_path("fan_preferences", CREATOR, run_id),
                 lambda tmp: frame.write_parquet(tmp))


def test_never_what_he_has_nor_what_he_was_offered_lately(lake):
    story = Story(lake)
    for media_id in range(1, 8):
        story.item(media_id, "photo", likes=media_id * 10)
    story.send(1, at(1), [7], price=10)      # bought
    story.buy(1, at(1.5), 10)
    story.send(1, at(2), [6])                # sent free: he has it
    story.send(1, at(50), [5], price=12)     # offered 10 days ago: left out
    story.send(1, at(5), [4], price=12)      # offered 55 days ago: may come back
    story.write(at(60))
    build_vault(lake, at(60), config=MatchingConfig(top_k=10, exclude_offered_days=30))
    assert recommended(lake, 1) == [4, 3, 2, 1]  # popularity order, 7 6 5 left out
    rows = {r["media_id"]: r for r in mart(lake, "fan_recommendations", where="fan_id = 1")}
    assert rows[4]["item_status"] == "offered_unbought"
    assert "offered before" in rows[4]["reason"]
    assert rows[3]["item_status"] == "never_sent"
    # Another fan has nothing: the whole vault, most popular first, top K.
    story.say(2, at(59))
    story.vault, story.messages, story.transactions = [], [], []
    story.say(2, at(59))
    story.write(at(60))
    build_vault(lake, at(60), run_id="run2", config=MatchingConfig(top_k=3))
    assert recommended(lake, 2, "run2") == [7, 6, 5]
    # exclude_offered_days = 0: a recent offer is fair game again; what he has never is.
    build_vault(lake, at(60), run_id="run3", config=MatchingConfig(top_k=10,
                                                                   exclude_offered_days=0))
    assert 5 in recommended(lake, 1, "run3")
    assert {6, 7}.isdisjoint(recommended(lake, 1, "run3"))


def test_preferences_and_purchases_rank_the_vault(lake):
    story = Story(lake)
    story.item(1, "photo", likes=500)      # the most popular
    story.item(2, "video", duration=40, likes=1)
    story.item(3, "video", duration=400, likes=2)
    story.item(4, "audio", duration=30, likes=3)
    story.item(5, "video", duration=100, likes=4)
    story.send(3, at(1), [5], price=20)     # fan 3 bought a video
    story.buy(3, at(2), 20)
    for fan in (1, 2, 4):
        story.say(fan, at(3))
    story.write(at(10))
    build_vault(lake, at(10), run_id="run1")  # builds the tables the preferences join
    preferences(lake, "run1", {
        1: {"content_format_preference": "video", "length_preference": "long"},
        2: {"content_format_preference": "audio"},
    })
    build_model(lake, "marts/fan_recommendations", as_of=at(10),
                prepare=MatchingConfig().set_variables)
    assert recommended(lake, 1)[:3] == [3, 5, 2]   # video + long, then videos by popularity
    assert recommended(lake, 2)[0] == 4            # audio
    assert recommended(lake, 3)[:2] == [3, 2]      # revealed: he buys videos (not 5 again)
    assert recommended(lake, 4)[:2] == [5, 1]       # nothing known: popularity (sold, liked)
    top = mart(lake, "fan_recommendations", where="fan_id = 1 AND rank = 1")[0]
    assert top["format_fit"] == 1 and top["length_fit"] == 1
    assert top["reason"].startswith("a video (he prefers video); long (he prefers long)")
    assert "he bought 1 video before" in mart(
        lake, "fan_recommendations", where="fan_id = 3 AND rank = 1")[0]["reason"]


def test_suggested_prices_follow_his_price_range(lake):
    story = Story(lake)
    story.item(1, "photo").item(2, "video", duration=60)
    story.send(1, at(1), [9], price=6)
    story.buy(1, at(1.1), 6)                 # low spender: $6 PPVs
    story.send(2, at(1), [9], price=80)
    story.buy(2, at(1.1), 80)                # high
    story.buy(3, at(1), 1200, kind="tip")    # whale by one tip
    story.say(4, at(2))                      # never bought
    story.write(at(10))
    build_vault(lake, at(10))
    prices = {r["fan_id"]: (r["suggested_price_cents"], r["price_basis"], r["price_range"])
              for r in mart(lake, "fan_recommendations", where="rank = 1")}
    assert prices[1] == (599, "his_median_ppv", "low")
    assert prices[2] == (7999, "his_median_ppv", "high")
    assert prices[3] == (20000, "his_avg_order", "whale")   # $1,200 held to the $200 maximum
    assert prices[4][2] is None and 300 <= prices[4][0] <= 1499


def test_on_the_simulated_creator_nothing_he_has_is_ever_recommended(graph):
    con = duckdb.connect()
    try:
        recs, fans = con.execute(
            f"SELECT count(*), count(DISTINCT fan_id) FROM '{graph.mart('fan_recommendations')}'"
        ).fetchone()
        (clashes,) = con.execute(
            f"SELECT count(*) FROM '{graph.mart('fan_recommendations')}' r "
            f"JOIN '{graph.mart('fan_asset_status')}' s USING (fan_id, media_id) "
            "WHERE s.status IN ('bought', 'sent_free') "
            "OR s.last_offered_at >= r.as_of - INTERVAL 30 DAY"
        ).fetchone()
        (profiles,) = con.execute(f"SELECT count(*) FROM '{graph.mart('fan_profile')}'").fetchone()
        (bought,) = con.execute(
            f"SELECT count(*) FROM '{graph.mart('fan_asset_status')}' WHERE status = 'bought'"
        ).fetchone()
        bad_prices = con.execute(
            f"SELECT count(*) FROM '{graph.mart('fan_recommendations')}' "
            "WHERE suggested_price_cents NOT BETWEEN 300 AND 20000"
        ).fetchone()[0]
    finally:
        con.close()
    assert bought > 100 and clashes == 0 and bad_prices == 0
    assert fans == profiles and recs == 5 * profiles
    meta = graph.metadata["marts/fan_asset_status"]
    assert meta["ppv_purchases"] > 50 and meta["ppv_purchases_unmatched"] == 0
