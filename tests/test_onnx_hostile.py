"""Model files are untrusted input: every bad file gives OnnxImportError (or another clean Python
error), nothing crashes, hangs or reads outside the model's folder."""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import pycnn
import pycnn.onnx
from helpers.subprocess_env import PYCNN_PARENT
from pycnn.onnx import OnnxImportError

onnx = pytest.importorskip("onnx")
from helpers.onnx_builders import make_external_initializer, make_model  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402


def _model(nodes, initializers):
    """x (N, 4) -> y at opset 13 and onnx's current IR version: the file every case here starts from."""
    return make_model(nodes, initializers, {"x": ["N", 4]}, 13, ir_version=onnx.IR_VERSION)


def _small():
    w = numpy_helper.from_array(np.ones((3, 4), np.float32), "w")
    b = numpy_helper.from_array(np.zeros(3, np.float32), "b")
    return _model([helper.make_node("Gemm", ["x", "w", "b"], ["h"], transB=1),
                   helper.make_node("Relu", ["h"], ["y"])], [w, b])


def test_random_bytes_and_truncated_file(tmp_path):
    with pytest.raises(OnnxImportError, match="not an ONNX model"):
        pycnn.onnx.load(np.random.default_rng(0).bytes(1000))
    data = _small().SerializeToString()
    for cut in (1, len(data) // 3, len(data) - 3):
        with pytest.raises(OnnxImportError):
            pycnn.onnx.load(data[:cut])
    with pytest.raises(OnnxImportError):
        pycnn.onnx.load(b"")
    with pytest.raises(FileNotFoundError, match="no file"):
        pycnn.onnx.load(str(tmp_path / "absent.onnx"))
    with pytest.raises(TypeError, match="path or bytes"):
        pycnn.onnx.load(12)


def test_cycle_missing_initializer_and_unknown_ops_all_reported():
    cycle = _model([helper.make_node("Relu", ["x", "z"][:1], ["a"]), helper.make_node("Add", ["a", "c"], ["b"]),
                    helper.make_node("Relu", ["b"], ["c"]), helper.make_node("Relu", ["c"], ["y"])], [])
    with pytest.raises(OnnxImportError, match="cycle"):
        pycnn.onnx.load(cycle.SerializeToString())
    missing = _model([helper.make_node("Gemm", ["x", "w_missing"], ["y"], transB=1)], [])
    with pytest.raises(OnnxImportError, match="w_missing.*missing initializer"):
        pycnn.onnx.load(missing.SerializeToString())
    unknown = _model([helper.make_node("Relu", ["x"], ["a"], name="first"),
                      helper.make_node("Einsum", ["a"], ["b"], name="einsum1", equation="ij->ji"),
                      helper.make_node("MaxPool", ["b"], ["c"], name="pool1", kernel_shape=[2, 2], storage_order=1),
                      helper.make_node("NonZero", ["c"], ["y"], name="nonzero")],
                     [numpy_helper.from_array(np.ones((4, 4), np.float32), "w")])
    with pytest.raises(OnnxImportError) as info:
        pycnn.onnx.load(unknown.SerializeToString())
    problems = {(p["node"], p["op"], p["opset"]) for p in info.value.problems}
    assert problems == {("einsum1", "Einsum", 13), ("pool1", "MaxPool", 13), ("nonzero", "NonZero", 13)}
    assert isinstance(info.value, ValueError)
    report = pycnn.onnx.check(unknown.SerializeToString())
    assert len(report.problems) == 3 and not report.ok
    assert "UNSUPPORTED node 'einsum1' (Einsum, opset 13)" in str(report)


def test_tensor_data_that_does_not_match_its_shape():
    bad = onnx.TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[3, 4], raw_data=b"\0" * 20)
    model = _model([helper.make_node("Gemm", ["x", "w"], ["y"], transB=1)], [bad])
    with pytest.raises(OnnxImportError, match="raw data has 20 bytes, shape \\[3, 4\\] needs 48"):
        pycnn.onnx.load(model.SerializeToString())
    typed = onnx.TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[3, 4], float_data=[1.0] * 5)
    with pytest.raises(OnnxImportError, match="5 values stored"):
        pycnn.onnx.load(_model([helper.make_node("Gemm", ["x", "w"], ["y"], transB=1)], [typed]).SerializeToString())
    huge = onnx.TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[1 << 20, 1 << 20], raw_data=b"")
    with pytest.raises(OnnxImportError, match="more than 2\\^31"):
        pycnn.onnx.load(_model([helper.make_node("Gemm", ["x", "w"], ["y"], transB=1)], [huge]).SerializeToString())


def _external_model(location):
    t = make_external_initializer("w", [3, 4], location, "48")
    b = numpy_helper.from_array(np.zeros(3, np.float32), "b")
    return _model([helper.make_node("Gemm", ["x", "w", "b"], ["y"], transB=1)], [t, b])


def test_external_data_inside_the_folder_loads_and_outside_is_refused(tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    weights = np.arange(12, dtype=np.float32).reshape(3, 4)
    (folder / "w.bin").write_bytes(weights.tobytes())
    (folder / "ok.onnx").write_bytes(_external_model("w.bin").SerializeToString())
    graph = pycnn.onnx.load(str(folder / "ok.onnx"))
    np.testing.assert_array_equal(graph.w.numpy(), weights)
    secret = tmp_path / "secret.bin"
    secret.write_bytes(weights.tobytes())
    for location in ("../secret.bin", str(secret), "sub/../../secret.bin"):
        (folder / "bad.onnx").write_bytes(_external_model(location).SerializeToString())
        with pytest.raises(OnnxImportError, match="refused"):
            pycnn.onnx.load(str(folder / "bad.onnx"))
    os.symlink(secret, folder / "link.bin")
    (folder / "bad.onnx").write_bytes(_external_model("link.bin").SerializeToString())
    with pytest.raises(OnnxImportError, match="outside the model's folder"):
        pycnn.onnx.load(str(folder / "bad.onnx"))
    with pytest.raises(OnnxImportError, match="given as bytes"):
        pycnn.onnx.load(_external_model("w.bin").SerializeToString())
    (folder / "short.bin").write_bytes(b"\0" * 8)
    (folder / "bad.onnx").write_bytes(_external_model("short.bin").SerializeToString())
    with pytest.raises(OnnxImportError, match="past the end"):
        pycnn.onnx.load(str(folder / "bad.onnx"))


FUZZ = textwrap.dedent("""
    import sys
    import numpy as np
    sys.path.insert(0, sys.argv[1])
    import pycnn, pycnn.onnx
    clean = (ValueError, TypeError, KeyError, IndexError, RuntimeError, OverflowError, MemoryError,
             RecursionError)
    seeds = open(sys.argv[2], "rb").read().split(b"\\n--pycnn-fuzz--\\n")
    rng = np.random.default_rng(0)
    ran = load_errors = run_errors = 0
    for i in range(int(sys.argv[3])):
        data = bytearray(seeds[i % len(seeds)])
        kind = rng.integers(4)
        if kind == 0:      # flip bytes
            for _ in range(rng.integers(1, 8)):
                data[rng.integers(len(data))] = int(rng.integers(256))
        elif kind == 1:    # truncate
            data = data[: rng.integers(1, len(data))]
        elif kind == 2:    # duplicate a slice
            a = int(rng.integers(len(data))); b = min(len(data), a + int(rng.integers(1, 64)))
            data = data[:b] + data[a:b] + data[b:]
        else:              # small integers, where protobuf keeps dims, lengths and attribute values
            for _ in range(rng.integers(1, 4)):
                data[rng.integers(len(data))] = int(rng.choice([0, 1, 2, 3, 0x7f, 0xff]))
        try:
            graph = pycnn.onnx.load(bytes(data))
        except clean:
            load_errors += 1
            continue
        try:
            graph.eval()
            with pycnn.no_grad():
                graph(pycnn.randn(2, 1, 28, 28, seed=i))
            ran += 1
        except clean:
            run_errors += 1
    print("fuzz", ran, load_errors, run_errors)
""")


def test_mutation_fuzz_never_crashes_or_hangs(tmp_path):
    """1,000 mutated models: each loads (and runs) or raises a Python error; a crash or any other
    exception makes the subprocess fail, a hang hits the time limit."""
    rng = np.random.default_rng(0)
    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[2, 2, 2, 2]),
             helper.make_node("Relu", ["c1"], ["r1"]),
             helper.make_node("MaxPool", ["r1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("Shape", ["p1"], ["s"]),
             helper.make_node("Gather", ["s", "zero"], ["n"], axis=0),
             helper.make_node("Unsqueeze", ["n", "zeros"], ["n1"]),
             helper.make_node("Concat", ["n1", "minus1"], ["shape"], axis=0),
             helper.make_node("Reshape", ["p1", "shape"], ["flat"]),
             helper.make_node("Gemm", ["flat", "w2", "b2"], ["y"], transB=1)]
    inits = [numpy_helper.from_array(rng.standard_normal((4, 1, 5, 5)).astype(np.float32), "w1"),
             numpy_helper.from_array(np.zeros(4, np.float32), "b1"),
             numpy_helper.from_array(np.array(0, np.int64), "zero"),
             numpy_helper.from_array(np.array([0], np.int64), "zeros"),
             numpy_helper.from_array(np.array([-1], np.int64), "minus1"),
             numpy_helper.from_array(rng.standard_normal((10, 4 * 14 * 14)).astype(np.float32), "w2"),
             numpy_helper.from_array(np.zeros(10, np.float32), "b2")]
    seed = make_model(nodes, inits, {"x": ["N", 1, 28, 28]}, 13, outputs={"y": ["N", 10]}, ir_version=onnx.IR_VERSION,
                      name="fuzz").SerializeToString()
    assert pycnn.onnx.load(seed)(pycnn.randn(2, 1, 28, 28, seed=0)).shape == (2, 10)
    seeds = tmp_path / "seeds.bin"
    seeds.write_bytes(seed + b"\n--pycnn-fuzz--\n" + _small().SerializeToString())
    script = tmp_path / "fuzz.py"
    script.write_text(FUZZ)
    result = subprocess.run([sys.executable, str(script), PYCNN_PARENT, str(seeds), "1000"], capture_output=True,
                            text=True, timeout=240)
    assert result.returncode == 0, result.stderr[-2000:]
    ran, load_errors, run_errors = map(int, result.stdout.split()[1:4])
    print(f"\nfuzz: {ran} ran, {load_errors} rejected at load, {run_errors} rejected when run")
    assert ran + load_errors + run_errors == 1000
    assert load_errors > 100 and ran > 10
