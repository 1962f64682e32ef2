"""The simulated creator through the whole asset graph, shared by the vault, segment and LTV
tests (built once per test process)."""

from __future__ import annotations

import pytest

from ofhq_pipeline_tests.vault.harness import Graph, simulated_graph


@pytest.fixture
def graph(agency) -> Graph:
    return simulated_graph(agency)
