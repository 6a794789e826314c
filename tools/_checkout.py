"""Which pycnn the tools import: the checkout's own when it has been built in place (a developer build
puts _C next to the sources), otherwise the installed one. A checkout without _C first on sys.path
would shadow the installed package with sources that cannot import (no compiled core)."""
import glob
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def use_checkout():
    """Puts the repository root first on sys.path if its pycnn/ holds a built _C; returns whether it did."""
    if glob.glob(os.path.join(ROOT, "pycnn", "_C.*")):
        sys.path.insert(0, ROOT)
        return True
    return False
