"""The blast job against the simulator over HTTP: one creator of the seed-7 agency, built through
the real asset graph (vault_graph's harness), with its segments; a blast is a real
`segment_blast` run; the ledger is the real one (SQLite under the test's OFHQ_HOME).

What it must never do: send when not confirmed, send a fan twice (a crash, a lost answer, a
429, a re-run), send to a fan a rule excludes, or let a re-run change what the blast says.
"""

from __future__ import annotations

import os
import shutil
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl
import pytest

from ofhq_pipeline.blasts.ledger import BlastLedger
from ofhq_pipeline.blasts.plan import TAGS
from ofhq_pipeline.lake import Lake
from ofhq_pipeline.resources.blasts import BlastSettingsResource
from ofhq_pipeline.resources.sync_settings import AS_OF_TAG
from ofhq_pipeline.source.client import OfapiClient, OfapiError
from ofhq_pipeline.source.simulator import SimulatorServer
from ofhq_pipeline.sync import step_failure
from ofhq_pipeline_tests.builders import make_lake
from ofhq_pipeline_tests.conftest import API_KEY
from ofhq_pipeline_tests.defs.test_run_config_attacks import listener
from ofhq_pipeline_tests.vault.harness import full_definitions, simulated_graph

# Every fan of the creator, and the expired ones only when the segment says so.
SEGMENTS = """
segments:
  - name: everyone
    where: {field: lifetime_spend_cents, op: gte, value: 0}
  - name: everyone_even_expired
    include_expired: true
    where: {field: lifetime_spend_cents, op: gte, value: 0}
"""


@dataclass
class Lab:
    home: Path
    lake: Lake
    creator_id: str
    server: SimulatorServer
    segments_path: Path
    as_of: str
    instance: dg.DagsterInstance | None = None

    def run(self, *, segment: str = "everyone", confirm: bool, blast_id: str = "b1",
            media: str = "", price: str = "0", at: str = "now", text: str = "New set tonight",
            fans_per_request: int = 1_000, holdout: float = 0.1,
            raise_on_error: bool = False, run_config: dict | None = None,
            **extra_tags: str) -> dg.ExecuteInProcessResult:
        defs = self.defs(fans_per_request, holdout)
        tags = {TAGS["segment"]: segment, TAGS["text"]: text, TAGS["media"]: media,
                TAGS["price"]: price, TAGS["at"]: at, TAGS["confirm"]: str(confirm).lower(),
                TAGS["id"]: blast_id, AS_OF_TAG: self.as_of, **extra_tags}
        return defs.resolve_job_def("segment_blast").execute_in_process(
            instance=self.instance, partition_key=self.creator_id, tags=tags,
            raise_on_error=raise_on_error, run_config=run_config)

    def defs(self, fans_per_request: int = 1_000, holdout: float = 0.1) -> dg.Definitions:
        return full_definitions(self.home, segments_path=self.segments_path, extra_resources={
            "blast_settings": BlastSettingsResource(fans_per_request=fans_per_request,
                                                    holdout_share=holdout)})

    def recipients(self, blast_id: str = "b1") -> pl.DataFrame:
        with BlastLedger() as ledger:
            _, rows = ledger.frames(self.creator_id)
        return rows.filter(pl.col("blast_id") == blast_id)

    def delivered(self) -> Counter:
        """Fan → how many mass messages the API delivered to him."""
        return Counter({fan: len(queues) for fan, queues in
                        self.server.sim.mass_messaging.deliveries(self.creator_id).items()})

    def posts(self) -> int:
        return self.server.stats()["requests"].get("mass_message_send", 0)

    def profile(self) -> pl.DataFrame:
        with self.lake.session(self.creator_id, as_of=None, run_id="none") as con:
            return con.execute("SELECT * FROM marts.fan_profile").pl()


@pytest.fixture
def lab(agency, tmp_path, monkeypatch):
    graph = simulated_graph(agency)
    home = tmp_path / "home"
    shutil.copytree(graph.lake.paths.home, home)  # a private copy: blasts publish into it
    lake = make_lake(home)
    lake.commit_marts(graph.creator_id, graph.run_id)  # the graph's marts, current
    segments_path = tmp_path / "segments.yaml"
    segments_path.write_text(SEGMENTS)
    with SimulatorServer(agency, api_key=API_KEY) as server:
        monkeypatch.setenv("OFAPI_BASE_URL", server.url)
        monkeypatch.setenv("OFAPI_API_KEY", API_KEY)
        monkeypatch.setenv("OFHQ_SEGMENTS_PATH", str(segments_path))
        monkeypatch.setenv("OFHQ_AS_OF", agency.end.isoformat())
        the_lab = Lab(home, lake, graph.creator_id, server, segments_path, agency.end.isoformat())
        # The segments of this file, built for the creator as a sync would.
        defs = full_definitions(home, segments_path=segments_path)
        (tmp_path / "dagster").mkdir(exist_ok=True)
        with dg.instance_for_test(temp_dir=str(tmp_path / "dagster")) as instance:
            instance.add_dynamic_partitions("creators", [graph.creator_id])
            the_lab.instance = instance
            result = dg.materialize(
                list(defs.assets), partition_key=graph.creator_id, instance=instance,
                resources=defs.resources,
                selection=dg.AssetSelection.assets(["segments", "everyone"],
                                                   ["segments", "everyone_even_expired"]))
            assert result.success
            yield the_lab


def observed(result: dg.ExecuteInProcessResult) -> dict:
    [event] = [e for e in result.all_events if e.event_type_value == "ASSET_OBSERVATION"]
    return {k: v.value for k, v in event.asset_observation_data.asset_observation.metadata.items()}


def test_a_dry_run_shows_who_would_get_what_and_changes_nothing(lab: Lab):
    fans = lab.profile().height
    result = lab.run(confirm=False)
    assert result.success
    preview = observed(result)
    assert preview["dry_run"] is True
    assert preview["to_send"] + preview["held_out"] + preview["excluded"] == fans
    assert preview["to_send"] > 0 and preview["held_out"] > 0
    assert sum(preview["excluded_by_reason"].values()) == preview["excluded"]
    # Nothing sent, nothing recorded, nothing built after it.
    assert lab.posts() == 0 and not lab.delivered()
    assert lab.recipients().is_empty()
    assert not [e for e in result.get_asset_materialization_events()]


def test_a_confirmed_blast_sends_each_eligible_fan_once_and_reports_back(lab: Lab):
    result = lab.run(confirm=True, fans_per_request=50)
    assert result.success
    rows = lab.recipients()
    to_send = set(rows.filter(pl.col("cohort") == "send")["fan_id"])
    never = set(rows.filter(pl.col("cohort") != "send")["fan_id"])
    delivered = lab.delivered()
    assert set(delivered) <= to_send and not set(delivered) & never
    assert max(delivered.values()) == 1
    # The fewest requests the endpoint allows: one per 50 fans of one price and time.
    assert lab.posts() == -(-len(to_send) // 50)
    # Every sent fan is reported back: sent, or failed with the API's reason.
    states = dict(rows.group_by("state").len().iter_rows())
    assert states.get("sent", 0) == len(delivered)
    assert states.get("sent", 0) + states.get("failed", 0) == len(to_send)
    failed = rows.filter(pl.col("state") == "failed")
    assert failed["failure_reason"].is_not_null().all()
    # The results reach the analysts' file in the same run.
    with duckdb.connect(str(lab.home / "marts.duckdb"), read_only=True) as con:
        sent, held_out = con.execute(
            "SELECT sent, held_out FROM marts.blasts WHERE blast_id = 'b1'").fetchone()
    assert sent == len(delivered) and held_out == states["held_out"]


def test_a_blast_cut_short_before_its_request_left_sends_the_rest_once(lab: Lab, monkeypatch):
    real = OfapiClient.send_mass_message
    calls = {"n": 0}

    def dies_on_the_third(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:  # the worker died after recording `sending`, before the POST
            raise RuntimeError("run worker killed")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(OfapiClient, "send_mass_message", dies_on_the_third)
    assert not lab.run(confirm=True, fans_per_request=20).success
    assert "sending" in set(lab.recipients()["state"])
    monkeypatch.setattr(OfapiClient, "send_mass_message", real)
    assert lab.run(confirm=True, fans_per_request=20).success
    rows = lab.recipients()
    to_send = set(rows.filter(pl.col("cohort") == "send")["fan_id"])
    delivered = lab.delivered()
    assert max(delivered.values()) == 1 and set(delivered) <= to_send
    assert rows.filter(pl.col("cohort") == "send")["state"].is_in(["sent", "failed"]).all()


@pytest.mark.slow
def test_a_blast_whose_answer_was_lost_is_reconciled_not_sent_again(lab: Lab, monkeypatch):
    """The API took chunk 2 but its answer never came, and then the queue could not be read
    either: the run stops; the next run finds chunk 2 in the queue and sends only the rest."""
    lab.server.sim.mass_messaging.lose_answers = {2}
    real = OfapiClient.mass_message_queue

    def down(self, creator_id):
        raise OfapiError("GET /api/{creator}/mass-messaging", creator_id, "HTTP 503")

    monkeypatch.setattr(OfapiClient, "mass_message_queue", down)
    assert not lab.run(confirm=True, fans_per_request=20).success
    assert lab.posts() == 2  # chunk 2 was not retried blindly
    monkeypatch.setattr(OfapiClient, "mass_message_queue", real)
    assert lab.run(confirm=True, fans_per_request=20).success
    rows = lab.recipients()
    to_send = rows.filter(pl.col("cohort") == "send")
    delivered = lab.delivered()
    assert max(delivered.values()) == 1
    assert len(delivered) == to_send.filter(pl.col("state") == "sent").height
    assert lab.posts() == to_send["chunk_no"].n_unique()  # no chunk posted twice


@pytest.mark.slow
def test_a_429_mid_blast_is_waited_out_and_nothing_is_sent_twice(lab: Lab):
    lab.server.sim.throttle_every = 3
    lab.server.sim.retry_after = 0
    assert lab.run(confirm=True, fans_per_request=25).success
    assert lab.server.stats()["throttled"] > 0
    delivered = lab.delivered()
    rows = lab.recipients()
    assert max(delivered.values()) == 1
    assert len(delivered) == rows.filter(pl.col("state") == "sent").height


def deprioritize(lab: Lab, fans: int) -> list[int]:
    """The profile deprioritizes a few more fans (time wasters who never paid), as a later run
    would: their current fan_profile rows say so until a week after as_of."""
    path = lab.lake.root / lab.lake.read_manifest(lab.creator_id)["fan_profile"]
    with duckdb.connect() as con:
        chosen = [f for (f,) in con.execute(
            f"SELECT fan_id FROM read_parquet('{path}') WHERE subscription_status = 'active' "
            f"ORDER BY fan_id LIMIT {fans}").fetchall()]
        con.execute(
            f"COPY (SELECT * REPLACE (CASE WHEN fan_id IN ({','.join(map(str, chosen))}) "
            f"THEN TIMESTAMPTZ '{lab.as_of}' + INTERVAL 7 DAY ELSE deprioritized_until END "
            f"AS deprioritized_until) FROM read_parquet('{path}')) TO '{path}.new' (FORMAT parquet)")
    Path(f"{path}.new").replace(path)
    return chosen


def test_every_exclusion_rule_names_its_reason(lab: Lab):
    """Each reason is judged from the marts the blast reads, first rule first."""
    deprioritized = deprioritize(lab, 5)
    profile = lab.profile()
    # A first blast reaches a few fans; a second one a little later must leave them out.
    assert lab.run(confirm=True, blast_id="first").success
    first = lab.recipients("first")
    recently = set(first.filter(pl.col("state") == "sent")["fan_id"])
    media = _media_someone_bought(lab)
    assert lab.run(confirm=True, blast_id="second", media=media, price="9.99").success
    second = {r["fan_id"]: r for r in lab.recipients("second").to_dicts()}
    with lab.lake.session(lab.creator_id, as_of=None, run_id="none") as con:
        has_it = {f for (f,) in con.execute(
            "SELECT fan_id FROM marts.fan_asset_status WHERE media_id = ? AND status IN "
            "('bought', 'sent_free')", [int(media)]).fetchall()}
    as_of = pl.lit(lab.as_of).str.to_datetime(time_zone="UTC")
    judged = profile.select(
        "fan_id",
        expired=(pl.col("subscription_status") == "expired")
        | (pl.col("subscription_expires_at") < as_of).fill_null(False),
        deprioritized=(pl.col("deprioritized_until") > as_of).fill_null(False))
    expected = {}
    for row in judged.to_dicts():
        fan = row["fan_id"]
        expected[fan] = ("bought_media" if fan in has_it else "subscription_expired"
                         if row["expired"] else "deprioritized" if row["deprioritized"]
                         else "recent_mass_message" if fan in recently else None)
    got = {fan: r["reason"] if r["cohort"] == "excluded" else None for fan, r in second.items()}
    assert got == expected
    reasons = Counter(v for v in got.values() if v)
    assert set(reasons) == {"bought_media", "subscription_expired", "deprioritized",
                            "recent_mass_message"}
    assert any(got[f] == "deprioritized" for f in deprioritized)
    # Never sent to an excluded fan.
    delivered_second = {f for f, n in lab.delivered().items() if n == 2}
    assert not delivered_second & {f for f, v in got.items() if v}


@pytest.mark.slow
def test_a_segment_that_includes_expired_fans_sends_to_them(lab: Lab):
    assert lab.run(segment="everyone_even_expired", confirm=False).success
    assert lab.run(segment="everyone", confirm=False, blast_id="b2").success
    assert lab.run(segment="everyone_even_expired", confirm=True).success
    reasons = set(lab.recipients()["reason"].drop_nulls())
    assert "subscription_expired" not in reasons


@pytest.mark.slow
def test_a_rerun_with_other_parameters_is_refused(lab: Lab):
    assert lab.run(confirm=True).success
    posts = lab.posts()
    result = lab.run(confirm=True, text="Another text under the same id")
    assert not result.success
    assert lab.posts() == posts


# Every tag's refusals: test_request.py; here, that a refused run sends and records nothing.
@pytest.mark.slow
@pytest.mark.parametrize("tags, named", [
    ({"blast_id": "../../etc"}, TAGS["id"]),
    ({"segment": "nope"}, "nope"),
])
def test_a_bad_request_fails_naming_its_tag_and_sends_nothing(lab: Lab, tags, named):
    result = lab.run(confirm=True, **tags)
    assert not result.success
    assert named in step_failure(result)
    assert lab.posts() == 0 and lab.recipients().is_empty()


@pytest.mark.slow
def test_recommended_prices_and_best_hours_split_the_requests(lab: Lab):
    media = _media_someone_bought(lab)
    assert lab.run(confirm=True, media=media, price="recommended", at="best").success
    rows = lab.recipients().filter(pl.col("cohort") == "send")
    assert rows["price_basis"].is_in(["recommended_item", "recommended_top", "default"]).all()
    groups = rows.select("price_cents", "scheduled_at").unique().height
    assert lab.posts() >= groups > 1
    # A fan scheduled for later is not delivered before his hour: the queue holds him pending.
    later = rows.filter(pl.col("scheduled_at").is_not_null())
    assert not set(later["fan_id"]) & set(lab.delivered())
    assert later["state"].eq("queued").all()
    # A day later every hour has come: a tick of the sensor resumes the blast, whose run sends
    # nothing new and reads back what the API delivered.
    lab.server.set_clock(lab.server.clock + timedelta(days=1))
    posts = lab.posts()
    [request] = tick(lab)
    assert request.partition_key == lab.creator_id and request.tags[TAGS["confirm"]] == "true"
    result = lab.defs().resolve_job_def("segment_blast").execute_in_process(
        instance=lab.instance, partition_key=request.partition_key, tags=request.tags)
    assert result.success and lab.posts() == posts
    after = lab.recipients().filter(pl.col("cohort") == "send")
    assert after["state"].is_in(["sent", "failed"]).all()
    assert max(lab.delivered().values()) == 1
    assert set(later["fan_id"]) & set(lab.delivered())
    assert isinstance(tick(lab), dg.SkipReason)  # nothing left to read back


def tick(lab: Lab):
    from ofhq_pipeline.defs.blasts.sensors import blast_outcomes_sensor
    from ofhq_pipeline.resources.landing import LandingResource

    context = dg.build_sensor_context(instance=lab.instance,
                                      resources={"landing": LandingResource()})
    return blast_outcomes_sensor(context)


def _media_someone_bought(lab: Lab) -> str:
    with lab.lake.session(lab.creator_id, as_of=None, run_id="none") as con:
        (media,) = con.execute(
            "SELECT media_id FROM marts.fan_asset_status WHERE status = 'bought' "
            "GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1").fetchone()
    return str(media)


@pytest.mark.slow
def test_a_run_config_cannot_point_a_blast_at_another_api_or_ledger(lab: Lab, tmp_path):
    elsewhere = tmp_path / "elsewhere.db"
    with listener() as (url, heard):
        attack = {"resources": {
            "ofapi": {"config": {"base_url": url}},
            "landing": {"config": {"url": f"sqlite:///{elsewhere}"}},
        }}
        result = lab.run(confirm=True, run_config=attack)
    assert not result.success
    assert " is locked (set by " in step_failure(result)
    assert heard == [] and lab.posts() == 0
    assert not elsewhere.exists() and lab.recipients().is_empty()


@pytest.mark.slow
def test_the_report_lists_each_blast_against_its_holdout(lab: Lab):
    from ofhq_pipeline.report.render import collect, render_html, render_markdown

    assert lab.run(confirm=True).success
    data = collect(lab.home / "marts.duckdb", [], datetime.now(UTC))
    [row] = data.blasts
    assert row[0] == "b1" and row[4] == lab.recipients().filter(pl.col("state") == "sent").height
    assert "## Blasts" in render_markdown(data) and "<h2>Blasts</h2>" in render_html(data)


@pytest.mark.slow
def test_the_marts_read_each_blasts_copy_in_the_lake_rewritten_only_by_its_own_runs(lab: Lab):
    """What a marts run reads of the ledger costs what changed: each blast's copy is rewritten
    by that blast's runs only, and the marts build from the copies without the database."""
    from ofhq_pipeline.blasts.mirror import folder

    assert lab.run(confirm=True, blast_id="one").success
    assert lab.run(confirm=True, blast_id="two").success
    copies = {t: folder(lab.lake, t, lab.creator_id) for t in ("blasts", "blast_recipients")}
    first = {t: (f / "one.parquet").stat().st_mtime_ns for t, f in copies.items()}
    assert lab.run(confirm=True, blast_id="two").success  # a resume of "two" only
    assert {t: (f / "one.parquet").stat().st_mtime_ns for t, f in copies.items()} == first
    # The copies hold what the ledger holds.
    copied = pl.read_parquet(copies["blast_recipients"] / "two.parquet").sort("fan_id")
    assert copied.equals(lab.recipients("two").sort("fan_id"))
    # A marts run reads the copies alone: with the ledger's database gone, the same rows.
    ledger_file = Path(os.environ["OFHQ_HOME"]) / "landing.db"
    ledger_file.rename(ledger_file.with_suffix(".away"))
    keys = [dg.AssetKey(["marts", "blast_recipients"]), dg.AssetKey(["marts", "blasts"])]
    defs = lab.defs()
    result = dg.materialize(list(defs.assets), selection=dg.AssetSelection.assets(*keys),
                            partition_key=lab.creator_id, instance=lab.instance,
                            resources=defs.resources, tags={AS_OF_TAG: lab.as_of})
    assert result.success
    built = pl.read_parquet(lab.lake.mart_path("blasts", lab.creator_id, result.run_id))
    assert sorted(built["blast_id"]) == ["one", "two"]
    assert not ledger_file.exists()  # nothing recreated it: the marts never opened it
