"""The error of the ``pycnn`` command's arguments and data (pycnn.cli, pycnn.cli_data, pycnn.cli_onnx)."""


class UsageError(Exception):
    """An error in the command line or the data, shown as one line."""
