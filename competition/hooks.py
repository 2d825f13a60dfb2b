"""Layer 6. The hooks the pytest plugin calls, for a conftest.py or another plugin to implement.

# conftest.py: every gate's figures, as each test finishes
def pytest_competition_gate(item, figure):
    if figure.gate == "regression":
        print(item.nodeid, figure.experiment, figure.figures["new"], figure.figures["baseline"])
"""

from __future__ import annotations

import pytest
from pluggy import HookspecMarker

from .gates import GateFigure

hookspec = HookspecMarker("pytest")


@hookspec
def pytest_competition_gate(item: pytest.Item, figure: GateFigure) -> None:
    """Called once for every figure a gate published while `item` ran (competition.gates.GateFigure), after
    the test's call, whether it passed or failed. Not called for a claim the plugin deferred to a later pass
    (its figures are those of the pass that decides it)."""
