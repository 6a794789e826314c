"""The two errors of pycnn.onnx: a model pycnn cannot load, a model pycnn cannot write."""


class OnnxImportError(ValueError):
    """An ONNX model pycnn cannot load. ``problems`` lists every reason, each a dict with ``node``
    (node name, or '' for the file or graph), ``op`` (op type or ''), ``opset`` and ``message``."""

    def __init__(self, message, problems=None):
        self.problems = list(problems or [])
        if self.problems:
            lines = [problem_line(p) for p in self.problems]
            message = f"{message}:\n  " + "\n  ".join(lines)
        super().__init__(message)


class OnnxExportError(ValueError):
    """A model pycnn cannot write as ONNX; the message names every op that stopped it."""


def problem_line(problem):
    """One problem (see :class:`OnnxImportError`) as a line: where, then what."""
    where = f"node {problem['node']!r} ({problem['op']}, opset {problem['opset']})" if problem["op"] \
        else "model"
    return f"{where}: {problem['message']}"
