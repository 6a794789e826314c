"""For tests that start a Python subprocess: it must import the same pycnn as the test process (the
installed package in CI, the checkout in a development build), never a source checkout that happens
to be its working directory or the tests' parent folder."""
import os

import pycnn

PYCNN_PARENT = os.path.dirname(os.path.dirname(os.path.abspath(pycnn.__file__)))


def subprocess_env():
    """os.environ with PYTHONPATH starting at the folder that holds the pycnn under test. Run the
    subprocess with cwd outside the checkout too: `python -m`/`-c` put the working directory first."""
    path = [PYCNN_PARENT] + ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else [])
    return dict(os.environ, PYTHONPATH=os.pathsep.join(path))
