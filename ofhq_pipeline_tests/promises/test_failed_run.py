"""A creator whose run fails keeps, in the analysts' file, the marts of his last good run."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ofhq_pipeline.lake import Lake
from ofhq_pipeline.settings import Paths
from ofhq_pipeline.sync import sync, sync_creator
from ofhq_pipeline.warehouse import publish as publishing
from ofhq_pipeline_tests.conftest import point_at
from ofhq_pipeline_tests.promises.conftest import busiest_creators, creator_rows

# Whole syncs and daemons: the second CI step, `make test-slow` (see docs/testing.md).
pytestmark = pytest.mark.slow


def test_a_failed_run_keeps_the_last_good_marts(monkeypatch, tmp_path, agency, api, instance):
    [creator] = busiest_creators(agency, 1)
    defs = point_at(monkeypatch, api.url, tmp_path / "home", as_of=agency.end.isoformat())
    api.simulator.set_clock(agency.end - timedelta(days=3))
    assert [r.error for r in sync(defs, instance, creators=[creator])] == [None]
    analysts_file = Paths.from_env().analysts_marts
    good = creator_rows(analysts_file, creator)
    assert good["fan_profile"] and good["transactions"] and good["creators"]

    # Three days on, his fans, chats and messages have news; the run reads and stages all of it
    # and writes its first marts, then writing `fan_profile` fails (a full disk, say).
    api.simulator.set_clock(agency.end)
    write_model = Lake.write_model

    def disk_full(self, con, model, path, refresh_view=None):
        if model == "marts/fan_profile":
            raise OSError(28, "No space left on device")
        return write_model(self, con, model, path, refresh_view)

    monkeypatch.setattr(Lake, "write_model", disk_full)
    failed = sync_creator(defs, instance, creator)
    monkeypatch.setattr(Lake, "write_model", write_model)
    assert not failed.success and "No space left on device" in failed.error

    assert creator_rows(analysts_file, creator) == good
    # Also once the file is rebuilt whole from the lake, as a later publish may do.
    publishing.publish(Lake(Paths.from_env()))
    assert creator_rows(analysts_file, creator) == good
