"""pycnn.nn: layers (Modules) and the functional ops they are built from."""
from . import functional
