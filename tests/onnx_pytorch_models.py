"""The ONNX model files that the onnx wheel ships with their inputs and outputs (its backend test
data: ``pytorch-converted``, 82 torch.nn modules exported by PyTorch's early exporter, mostly opset 6;
``pytorch-operator``, 35 torch operators), run through ``pycnn.onnx.load`` and compared with the stored
outputs: pass / refused (OnnxImportError) / wrong / error, as tests/onnx_backend_suite.py.

Run as a script for the list: ``python tests/onnx_pytorch_models.py``.
"""
import glob
import os
import sys
import traceback

import numpy as np

KINDS = ("pytorch-converted", "pytorch-operator")


def model_dirs():
    import onnx

    root = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data")
    return sorted(d for kind in KINDS for d in glob.glob(os.path.join(root, kind, "*")) if os.path.isdir(d))


def _read(path):
    import onnx
    from onnx import numpy_helper

    t = onnx.TensorProto()
    with open(path, "rb") as f:
        t.ParseFromString(f.read())
    return numpy_helper.to_array(t)


def data_sets(model_dir):
    for folder in sorted(glob.glob(os.path.join(model_dir, "test_data_set_*"))):
        inputs = [_read(p) for p in sorted(glob.glob(os.path.join(folder, "input_*.pb")),
                                           key=lambda p: int(p.rsplit("_", 1)[1][:-3]))]
        outputs = [_read(p) for p in sorted(glob.glob(os.path.join(folder, "output_*.pb")),
                                            key=lambda p: int(p.rsplit("_", 1)[1][:-3]))]
        yield inputs, outputs


def _float32_representable(arrays):
    """False when a float array holds values float32 cannot (beyond 3.4e38: inf in float32)."""
    return all(np.isfinite(a.astype(np.float32)).all() for a in arrays if a.dtype.kind == "f" and np.isfinite(a).all())


def _fresh_data_set(model_dir, inputs):
    """Random inputs of the stored ones' shapes and types, and the outputs onnx's reference evaluator
    (numpy, in the model's own types) gives for them (onnxruntime has no legacy opset-6 Add)."""
    import onnx
    from onnx.reference import ReferenceEvaluator

    rng = np.random.default_rng(0)
    fresh = [rng.standard_normal(a.shape).astype(a.dtype) if a.dtype.kind == "f" else a for a in inputs]
    model = onnx.load(os.path.join(model_dir, "model.onnx"))
    initializers = {t.name for t in model.graph.initializer}
    names = [i.name for i in model.graph.input if i.name not in initializers]
    return fresh, ReferenceEvaluator(model).run(None, dict(zip(names, fresh)))


def run_model(model_dir, rtol=1e-3, atol=1e-5):
    """(outcome, detail, worst relative error) of one model folder over its data sets.

    pycnn computes in float32. Some double models' stored data are uninitialised memory (values such
    as 2.4e198) that float32 cannot hold: those data sets are replaced by random inputs of the same
    shapes, against onnx's reference evaluator, and the detail says so."""
    import pycnn
    import pycnn.onnx

    try:
        graph = pycnn.onnx.load(os.path.join(model_dir, "model.onnx"))
    except pycnn.onnx.OnnxImportError as error:
        return "refused", str(error).splitlines()[-1].strip(), None
    except Exception as error:  # noqa: BLE001 - counted, with its traceback
        return "error", f"load: {type(error).__name__}: {error}\n{traceback.format_exc(limit=-3)}", None
    graph.eval()
    worst = 0.0
    detail = ""
    for inputs, expected in data_sets(model_dir):
        if not _float32_representable(inputs + expected):
            inputs, expected = _fresh_data_set(model_dir, inputs)
            detail = "stored data beyond float32's range: checked on random inputs against onnx's reference"
        try:
            out = graph(*[pycnn.tensor(x) for x in inputs])
        except Exception as error:  # noqa: BLE001
            return "error", f"run: {type(error).__name__}: {error}\n{traceback.format_exc(limit=-3)}", None
        out = out if isinstance(out, tuple) else (out,)
        if len(out) != len(expected):
            return "wrong", f"{len(out)} outputs, expected {len(expected)}", None
        for k, (o, e) in enumerate(zip(out, expected)):
            g = np.asarray(o.numpy(), dtype=np.float64)
            e = np.asarray(e, dtype=np.float64)
            if g.shape != e.shape:
                return "wrong", f"output {k}: shape {g.shape}, expected {e.shape}", None
            scale = max(float(np.abs(e).max(initial=0.0)), 1e-6)
            worst = max(worst, float(np.nan_to_num(np.abs(g - e)).max(initial=0.0)) / scale)
            if not np.allclose(g, e, rtol=rtol, atol=atol, equal_nan=True):
                return "wrong", f"output {k}: relative error {worst:.3g}", worst
    return "pass", detail, worst


def run_all():
    return {os.path.relpath(d, os.path.dirname(os.path.dirname(d))): run_model(d) for d in model_dirs()}


def main():
    results = run_all()
    for name, (outcome, detail, worst) in results.items():
        err = f"{worst:.2g}" if worst is not None else "-"
        print(f"{outcome:>8} {err:>8} {name} {detail.splitlines()[0][:200] if detail else ''}")
    counts = {o: sum(r[0] == o for r in results.values()) for o in ("pass", "refused", "wrong", "error")}
    print(counts)
    return 0


if __name__ == "__main__":
    sys.exit(main())
