"""A synthetic OnlyFans agency and an HTTP simulator of the API that serves it."""

from ofhq_pipeline.source.simulator.agency import DEFAULT_END, Agency, generate_agency
from ofhq_pipeline.source.simulator.server import SimulatorServer, create_app

__all__ = ["DEFAULT_END", "Agency", "SimulatorServer", "create_app", "generate_agency"]
