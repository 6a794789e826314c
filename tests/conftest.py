"""Shared test fixtures: the devices every op test runs on (CUDA skipped without a GPU), and the thread
governor off for the in-process tests."""
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


@pytest.fixture(autouse=True, scope="session")
def _whole_teams():
    """The thread governor off (pycnn/_threads.py): next to other work on the machine it may run a step
    on one thread and the next on two, and tests that compare two runs of the same computation bitwise
    would then see the rounding of two thread counts. tests/test_threads.py turns it on to test it;
    subprocesses run with it as it ships."""
    pycnn._C.set_thread_governor(False)
    yield
    pycnn._C.set_thread_governor(True)


def pytest_addoption(parser):
    parser.addoption("--slow", action="store_true", help="also run the tests marked slow")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--slow"):
        return
    skip = pytest.mark.skip(reason="slow: run with --slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
