"""pytest plugin (entry point ``pytest11``): options, markers and fixtures."""
from __future__ import annotations

import pytest

from .data import BUILTINS, data_dir, open_competition

BUDGETS = ("smoke", "standard", "full")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("competition", "image-classification competition experiments")
    group.addoption("--budget", choices=BUDGETS, default=None,
                    help="experiment budget: smoke (CI), standard (2-core CPU, default), full (GPU)")
    group.addoption("--data-dir", default=None, help="where competitions live (default $COMPETITION_DATA_DIR or ./data)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "experiment: an experiment case (trains or scores models)")
    config.addinivalue_line("markers", "slow: takes minutes even at the smoke budget")
    config.addinivalue_line("markers", "gpu: needs a CUDA device")


@pytest.fixture(scope="session")
def competition_data_dir(pytestconfig):
    return data_dir(pytestconfig.getoption("--data-dir"))


@pytest.fixture(scope="session")
def open_competition_fixture(competition_data_dir):
    """Open a built-in competition by name, or one's own by path."""
    return lambda name_or_path: open_competition(str(name_or_path), competition_data_dir)


@pytest.fixture(scope="session")
def fashion(open_competition_fixture):
    return open_competition_fixture("fashion")


@pytest.fixture(scope="session")
def fashion_lt(open_competition_fixture):
    return open_competition_fixture("fashion-lt")


@pytest.fixture(scope="session")
def digits(open_competition_fixture):
    return open_competition_fixture("digits")

