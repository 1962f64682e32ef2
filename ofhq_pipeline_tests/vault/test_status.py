"""fan_asset_status from real message and purchase histories, through the real SQL models."""

from __future__ import annotations

import duckdb
import pytest

from ofhq_pipeline.vault.status import fan_vault_status, install_analyst_macros
from ofhq_pipeline.warehouse.publish import marts_schema, publish
from ofhq_pipeline_tests.builders import CREATOR, make_lake
from ofhq_pipeline_tests.vault.harness import Story, at, build_vault, mart, statuses


@pytest.fixture
def lake(tmp_path):
    return make_lake(tmp_path / "home")


@pytest.fixture
def story(lake):
    s = Story(lake)
    for media_id, kind in [(1, "photo"), (2, "video"), (3, "video"), (4, "audio"), (5, "photo"),
                           (6, "gif")]:
        s.item(media_id, kind)
    return s


def test_a_purchase_unlocks_every_item_of_the_offer_it_pays_for(story, lake):
    story.send(1, at(1), [1, 2], price=15)
    story.buy(1, at(1.1), 15)
    story.send(1, at(2), [3], price=20)  # never bought
    story.write(at(10))
    build_vault(lake, at(10))
    assert statuses(lake) == {(1, 1): "bought", (1, 2): "bought", (1, 3): "offered_unbought"}
    [row] = mart(lake, "fan_asset_status", where="media_id = 1")
    assert row["bought_price_cents"] == 1500 and row["times_offered"] == 1
    assert row["bought_transaction_id"] == "tr1" and row["bought_at"] == at(1.1)


def test_the_most_recent_open_offer_at_or_before_with_the_same_price(story, lake):
    story.send(1, at(1), [1], price=15)
    story.send(1, at(2), [2], price=25)   # other price: a $15 purchase never unlocks it
    story.send(1, at(3), [3], price=15)
    story.buy(1, at(4), 15)               # → the offer of day 3, the most recent $15 one
    story.write(at(10))
    build_vault(lake, at(10))
    assert statuses(lake) == {(1, 1): "offered_unbought", (1, 2): "offered_unbought",
                              (1, 3): "bought"}


def test_each_offer_unlocks_once_so_two_purchases_take_two_offers(story, lake):
    story.send(1, at(1), [1], price=15)
    story.send(1, at(2), [2], price=15)
    story.buy(1, at(3), 15)   # → day 2
    story.buy(1, at(4), 15)   # day 2's is taken: → day 1
    story.buy(1, at(5), 15)   # no open offer left: unlocks nothing
    story.write(at(10))
    build_vault(lake, at(10))
    assert statuses(lake) == {(1, 1): "bought", (1, 2): "bought"}
    rows = {r["media_id"]: r["bought_transaction_id"] for r in mart(lake, "fan_asset_status")}
    assert rows == {2: "tr1", 1: "tr2"}


def test_purchases_before_an_offer_or_at_another_price_unlock_nothing(story, lake):
    story.buy(1, at(0.5), 15)             # before any offer
    story.send(1, at(1), [1], price=15)
    story.buy(1, at(2), 14.99)            # a cent off
    story.send(1, at(3), [2], price=10)
    story.buy(1, at(3), 10)               # same instant: the offer comes first
    story.write(at(10))
    build_vault(lake, at(10))
    assert statuses(lake) == {(1, 1): "offered_unbought", (1, 2): "bought"}


def test_offers_to_other_fans_are_not_his(story, lake):
    story.send(2, at(1), [1], price=15)
    story.buy(1, at(2), 15)
    story.write(at(10))
    build_vault(lake, at(10))
    assert statuses(lake) == {(2, 1): "offered_unbought"}


def test_free_sends_mass_offers_and_what_wins(story, lake):
    story.send(1, at(1), [1])                       # free
    story.send(1, at(2), [1, 2], price=12)          # offered again, unbought: he has item 1
    story.send(1, at(3), [3], price=9, mass=True)   # a mass PPV, bought
    story.buy(1, at(3.2), 9)
    story.send(1, at(4), [3])                       # sent free after he bought it
    story.write(at(10))
    build_vault(lake, at(10))
    assert statuses(lake) == {(1, 1): "sent_free", (1, 2): "offered_unbought", (1, 3): "bought"}
    by_media = {r["media_id"]: r for r in mart(lake, "fan_asset_status")}
    assert by_media[3]["times_offered_mass"] == 1 and by_media[3]["times_sent_free"] == 1
    assert by_media[1]["times_sent_free"] == 1 and by_media[1]["times_offered"] == 1


def test_a_refunded_purchase_unlocks_nothing(story, lake):
    story.send(1, at(1), [1], price=15)
    story.buy(1, at(2), 15, status="refunded")
    story.send(1, at(3), [2], price=15)
    story.buy(1, at(4), 15, kind="tip")  # a tip of the same amount is no unlock
    story.write(at(10))
    build_vault(lake, at(10))
    assert statuses(lake) == {(1, 1): "offered_unbought", (1, 2): "offered_unbought"}


def test_status_transitions_as_history_grows(story, lake):
    """never_sent (no row) → offered_unbought → bought, each as of its own instant."""
    story.send(1, at(2), [1, 5], price=15)
    story.buy(1, at(5), 15)
    story.write(at(10))
    build_vault(lake, at(1), run_id="before")
    build_vault(lake, at(3), run_id="offered")
    build_vault(lake, at(6), run_id="bought")
    assert statuses(lake, "before") == {}
    assert statuses(lake, "offered") == {(1, 1): "offered_unbought", (1, 5): "offered_unbought"}
    assert statuses(lake, "bought") == {(1, 1): "bought", (1, 5): "bought"}


@pytest.mark.parametrize("file_name", ["marts.duckdb", "analysts.duckdb"])
def test_analysts_ask_about_any_item(tmp_path, file_name):
    """The macros answer for every (fan, item): never_sent where fan_asset_status has no row."""
    from ofhq_pipeline.lake import Lake
    from ofhq_pipeline.settings import Paths

    home = tmp_path / "home"
    lake = Lake(Paths(home=home, warehouse=home / "warehouse.duckdb",
                      analysts_marts=home / file_name))
    story = Story(lake)
    for media_id in (1, 2, 3):
        story.item(media_id)
    story.send(1, at(1), [1], price=15)
    story.buy(1, at(2), 15)
    story.send(1, at(3), [2])
    story.write(at(10))
    build_vault(lake, at(10))
    publish(lake, CREATOR, "run1")
    target = lake.paths.analysts_marts
    con = duckdb.connect()
    try:  # what publish.build_analysts_file will do once it calls the installer
        con.execute(f"ATTACH '{target}' AS analysts")
        assert install_analyst_macros(con, f"analysts.{marts_schema(target)}")
        con.execute("DETACH analysts")
    finally:
        con.close()
    con = duckdb.connect(str(target), read_only=True)
    try:
        one = [con.execute(f"SELECT marts.asset_status('{CREATOR}', 1, {m})").fetchone()[0]
               for m in (1, 2, 3)]
        assert one == ["bought", "sent_free", "never_sent"]
        table = con.execute(
            f"SELECT media_id, status FROM marts.fan_vault_status('{CREATOR}', 2)").fetchall()
        assert table == [(1, "never_sent"), (2, "never_sent"), (3, "never_sent")]
    finally:
        con.close()
    rows = fan_vault_status(target, CREATOR, 1)
    assert [(r["media_id"], r["status"]) for r in rows] == [
        (1, "bought"), (2, "sent_free"), (3, "never_sent")]


def test_the_command_answers_for_every_item(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from ofhq_pipeline.vault.commands import vault

    lake = make_lake(tmp_path / "home")
    story = Story(lake)
    story.item(1).item(2)
    story.send(1, at(1), [2], price=15)
    story.write(at(10))
    build_vault(lake, at(10))
    publish(lake, CREATOR, "run1")
    monkeypatch.setenv("OFHQ_MARTS_DUCKDB_PATH", str(lake.paths.analysts_marts))
    result = CliRunner().invoke(vault, ["status", "--creator", CREATOR, "--fan", "1"])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if line.strip("│ ").startswith(("1", "2"))]
    assert "never_sent" in lines[0] and "offered_unbought" in lines[1]
