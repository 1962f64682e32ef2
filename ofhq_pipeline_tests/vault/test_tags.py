"""Vault tags: the metadata rules tagger, and the vision tagger through the real `openai` client
against the local OpenAI-compatible server (ofhq_pipeline_tests/intelligence/fake_openai.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field

import dagster as dg
import pytest

from ofhq_pipeline.defs.vault.assets import VAULT_TAGS, vault_tagging
from ofhq_pipeline.llm.chat import LLMSettings
from ofhq_pipeline.resources.lake import LakeResource
from ofhq_pipeline.resources.sync_settings import SyncSettings
from ofhq_pipeline.resources.vault_tagger import VaultTaggerResource
from ofhq_pipeline.vault.tags import RULES_MODEL, load
from ofhq_pipeline.vault.vision import RESPONSE_FORMAT, TAGS, VisionTagger
from ofhq_pipeline_tests.builders import CREATOR, make_lake
from ofhq_pipeline_tests.intelligence.fake_openai import FakeOpenAI, Reply, completion
from ofhq_pipeline_tests.servers import serve_app
from ofhq_pipeline_tests.vault.harness import Story, at, build_vault, mart

API_KEY = "sk-test-vault-0123456789abcdef"
CDN = "https://cdn.example.test/vault"


@dataclass
class FakeVision(FakeOpenAI):
    """The fake server answering image requests: tags per image URL (`answers`), a valid default
    otherwise; `invalid` URLs get an answer outside the schema."""

    answers: dict[str, list] = field(default_factory=dict)
    invalid: set[str] = field(default_factory=set)
    images: list[str] = field(default_factory=list)

    def answer(self, body: dict) -> Reply:
        user = next(m for m in body["messages"] if m["role"] == "user")  # a retry adds one
        [image] = [p for p in user["content"] if p["type"] == "image_url"]
        url = image["image_url"]["url"]
        with self._lock:
            self.images.append(url)
        path = url.split("?")[0]
        if path in self.invalid:
            content = json.dumps({"tags": [{"tag": "mood:grumpy", "confidence": 50}]})
        else:
            tags = self.answers.get(path, [["setting:bedroom", 80], ["mood:playful", 90]])
            content = json.dumps({"tags": [{"tag": t, "confidence": c} for t, c in tags]})
        return Reply(200, completion(body, content))


@pytest.fixture
def lake(tmp_path):
    return make_lake(tmp_path / "home")


@pytest.fixture
def vision_server() -> Iterator[tuple[FakeVision, str]]:
    fake = FakeVision()
    with serve_app(fake.app()) as url:
        yield fake, f"{url}/v1"


def tagger(url: str) -> VisionTagger:
    return VisionTagger(LLMSettings(api_key=API_KEY, base_url=url, max_retries=0, timeout=60))


def tags_by_item(lake, run_id="run1", source=None) -> dict[int, dict[str, int]]:
    out: dict[int, dict[str, int]] = {}
    where = f"source = '{source}'" if source else "true"
    for row in mart(lake, "vault_tags", run_id=run_id, where=where):
        out.setdefault(row["media_id"], {})[row["tag"]] = row["confidence"]
    return out


def test_rules_tag_type_duration_popularity_and_offer_price(lake):
    story = Story(lake)
    story.item(1, "photo", likes=200, tips=25.0)
    story.item(2, "video", duration=45, likes=1)
    story.item(3, "video", duration=200, likes=40)
    story.item(4, "video", duration=900, likes=30)
    story.item(5, "audio", duration=20, likes=20)
    story.item(6, "gif", likes=10)
    story.send(1, at(1), [1, 2], price=60)   # a bundle at $60: price:high for both
    story.buy(1, at(1.5), 60)
    story.send(2, at(2), [3], price=8)       # price:low
    story.send(3, at(2), [5])                # free
    story.write(at(10))
    report = build_vault(lake, at(10))
    tags = tags_by_item(lake)
    assert set(tags[1]) == {"type:photo", "likes:top", "tipped", "tips:top", "price:high",
                            "bundle", "bestseller"}
    assert set(tags[2]) == {"type:video", "duration:short", "price:high", "bundle", "bestseller",
                            "likes:low"}
    assert set(tags[3]) == {"type:video", "duration:medium", "price:low", "likes:top"}
    assert set(tags[4]) == {"type:video", "duration:long", "never_offered"}
    assert set(tags[5]) == {"type:audio", "duration:short", "never_offered", "free_teaser"}
    assert set(tags[6]) == {"type:gif", "never_offered"}
    rows = mart(lake, "vault_tags")
    assert {(r["source"], r["model"], r["confidence"]) for r in rows} == {
        ("rules", RULES_MODEL, 100)}
    assert (report.items, report.rules_tagged, report.no_image, report.vision_model) == (
        6, 6, 6, None)


def test_rules_do_not_retag_unchanged_items(lake):
    story = Story(lake)
    story.item(1, "photo", likes=5).item(2, "video", duration=100, likes=9)
    story.write(at(10))
    build_vault(lake, at(10), run_id="r1", vision=None)
    first = {(r["media_id"], r["tag"]): r["tagged_at"] for r in mart(lake, "vault_tags", run_id="r1")}
    report = build_vault(lake, at(11), run_id="r2")
    assert (report.rules_tagged, report.rules_unchanged) == (0, 2)
    second = {(r["media_id"], r["tag"]): r["tagged_at"] for r in mart(lake, "vault_tags", run_id="r2")}
    assert second == first  # same rows, same tagged_at
    # Item 2 is offered as PPV: its tags change, item 1's do not.
    story.vault, story.messages = [], []
    story.send(1, at(10.5), [2], price=25)
    story.write(at(12))
    report = build_vault(lake, at(12), run_id="r3")
    assert (report.rules_tagged, report.rules_unchanged) == (1, 1)
    third = {(r["media_id"], r["tag"]): r["tagged_at"] for r in mart(lake, "vault_tags", run_id="r3")}
    assert {k: v for k, v in third.items() if k[0] == 1} == {
        k: v for k, v in first.items() if k[0] == 1}
    assert tuple(t for (m, t) in third if m == 2 and t.startswith("price")) == ("price:mid", )
    assert ((2, "never_offered") in first) and ((2, "never_offered") not in third)
    assert len(load(lake, "vault_taggings", CREATOR)) == 3  # 2 first taggings + 1 change


def test_vision_tags_through_the_openai_client(lake, vision_server):
    fake, url = vision_server
    fake.answers[f"{CDN}/1.jpg"] = [["setting:beach", 93], ["outfit:swimwear", 88],
                                    ["mood:playful", 70], ["mood:playful", 40]]
    story = Story(lake)
    story.item(1, "photo", preview=f"{CDN}/1.jpg?sig=aaa")
    story.item(2, "video", duration=30, files={"preview": {"url": f"{CDN}/2.jpg"}})
    story.item(3, "photo")  # no picture in the API's answer: rules only
    story.write(at(10))
    report = build_vault(lake, at(10), vision=tagger(url))
    assert (report.vision_sent, report.vision_ok, report.vision_failed, report.no_image) == (
        2, 2, 0, 1)
    assert sorted(fake.images) == [f"{CDN}/1.jpg?sig=aaa", f"{CDN}/2.jpg"]
    body = fake.chat_requests[0]
    assert body["response_format"] == RESPONSE_FORMAT and body["model"] == "gpt-4o-mini"
    [user] = [m for m in body["messages"] if m["role"] == "user"]
    assert user["content"][1]["image_url"]["detail"] == "low"
    assert "7001" not in json.dumps(body) and CREATOR not in json.dumps(body)
    vision = tags_by_item(lake, source="vision")
    assert vision == {1: {"setting:beach": 93, "outfit:swimwear": 88, "mood:playful": 70},
                      2: {"setting:bedroom": 80, "mood:playful": 90}}
    assert "type:photo" in tags_by_item(lake, source="rules")[3]
    rows = mart(lake, "vault_tags", where="source = 'vision'")
    assert {r["model"] for r in rows} == {"gpt-4o-mini"}
    assert report.prompt_tokens > 0 and report.cost_usd > 0
    # A re-signed CDN link is the same picture: nothing is sent again.
    story.vault = [story.vault[0] | {"preview": f"{CDN}/1.jpg?sig=bbb"}, *story.vault[1:]]
    story.messages = []
    story.write(at(11))
    report = build_vault(lake, at(11), run_id="run2", vision=tagger(url))
    assert (report.vision_sent, report.vision_unchanged) == (0, 2)
    assert len(fake.chat_requests) == 2
    assert tags_by_item(lake, "run2", source="vision") == vision
    # A new picture is tagged again, and only it.
    story.vault = [story.vault[0] | {"preview": f"{CDN}/1-new.jpg"}, *story.vault[1:]]
    story.write(at(12))
    report = build_vault(lake, at(12), run_id="run3", vision=tagger(url))
    assert (report.vision_sent, report.vision_unchanged) == (1, 1)
    assert fake.images[-1] == f"{CDN}/1-new.jpg"
    assert tags_by_item(lake, "run3", source="vision")[1] == {"setting:bedroom": 80,
                                                             "mood:playful": 90}


def test_invalid_answers_are_retried_once_then_failed_and_left_alone(lake, vision_server):
    fake, url = vision_server
    fake.invalid.add(f"{CDN}/bad.jpg")
    story = Story(lake)
    story.item(1, "photo", url=f"{CDN}/bad.jpg").item(2, "photo", thumb=f"{CDN}/ok.jpg")
    story.write(at(10))
    report = build_vault(lake, at(10), vision=tagger(url))
    assert (report.vision_ok, report.vision_failed) == (1, 1)
    assert fake.images.count(f"{CDN}/bad.jpg") == 2  # asked again once, with the reason
    retry = [b for b in fake.chat_requests if b["messages"][-1]["role"] == "user"
             and isinstance(b["messages"][-1]["content"], str)]
    assert retry and "Invalid" in retry[0]["messages"][-1]["content"]
    assert "invalid answer" in report.errors[0]
    assert 1 not in tags_by_item(lake, source="vision")
    assert "type:photo" in tags_by_item(lake)[1]  # its rules tags stand
    build_vault(lake, at(11), run_id="run2", vision=tagger(url))  # a second failure
    report = build_vault(lake, at(12), run_id="run3", vision=tagger(url))
    assert (report.vision_sent, report.vision_skipped_failed, report.vision_unchanged) == (0, 1, 1)
    assert fake.images.count(f"{CDN}/bad.jpg") == 4
    failed = load(lake, "vault_taggings", CREATOR).filter(status="failed")
    assert failed.height == 2 and failed["error"].str.starts_with("invalid answer: schema: tags.0.tag").all()


def test_the_vocabulary_is_the_schema(lake):
    schema = RESPONSE_FORMAT["json_schema"]["schema"]
    assert schema["properties"]["tags"]["items"]["properties"]["tag"]["enum"] == list(TAGS)
    assert RESPONSE_FORMAT["json_schema"]["strict"] is True
    assert VaultTaggerResource().tagger() is None  # no key: rules only


def test_the_asset_tags_with_the_key_from_the_environment(lake, vision_server, monkeypatch,
                                                          instance):
    fake, url = vision_server
    story = Story(lake)
    story.item(1, "photo", preview=f"{CDN}/1.jpg").item(2, "video", duration=400)
    story.write(at(10))
    build_vault(lake, at(10), run_id="inputs")
    lake.commit_marts(CREATOR, "inputs")  # marts/vault_media of a finished run
    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", url)
    instance.add_dynamic_partitions("creators", [CREATOR])
    result = dg.materialize(
        [vault_tagging], partition_key=CREATOR, instance=instance,
        resources={"lake": LakeResource(home=str(lake.paths.home)),
                   "sync": SyncSettings(as_of=at(10).isoformat()),
                   "vault_tagger": VaultTaggerResource.from_env()},
    )
    assert result.success
    [event] = [e for e in result.get_asset_materialization_events() if e.asset_key == VAULT_TAGS]
    meta = {k: v.value for k, v in event.materialization.metadata.items()}
    assert (meta["vision_model"], meta["vision_ok"], meta["no_image"]) == ("gpt-4o-mini", 1, 1)
    assert meta["top_tags"]["type:photo"] == 1 and meta["dollars"] > 0
    assert API_KEY not in json.dumps(meta, default=str)
    assert fake.images == [f"{CDN}/1.jpg"]
    assert tags_by_item(lake, result.run_id, source="vision")[1]["mood:playful"] == 90
