"""``python -m pycnn``: the ``pycnn`` command (pycnn.cli) without the console script."""
import sys

from .cli import main

sys.exit(main())
