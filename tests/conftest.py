"""Shared test fixtures: the devices every op test runs on (CUDA skipped without a GPU)."""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

import pycnn  # noqa: E402

CUDA = pycnn.cuda.is_available()

# Every op test takes `device` and runs the same assertions on each.
DEVICES = ["cpu", pytest.param("cuda", marks=[pytest.mark.cuda, pytest.mark.skipif(
    not CUDA, reason="no CUDA GPU: the CUDA kernels are tested on a machine with one")])]


@pytest.fixture(params=DEVICES)
def device(request):
    return request.param


def pytest_addoption(parser):
    parser.addoption("--slow", action="store_true", help="also run the tests marked slow")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--slow"):
        return
    skip = pytest.mark.skip(reason="slow: run with --slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
