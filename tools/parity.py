"""Checks pycnn's ONNX import against onnxruntime (forward) and PyTorch (gradients).

    python3 tools/export_reference.py --out /tmp/onnx_ref
    python3 tools/parity.py /tmp/onnx_ref [--rtol 1e-4]

For every MODEL_EXPORTER_opN.onnx with its .npz (see export_reference.py) it loads the file with
pycnn.onnx.load, runs the stored input in eval mode, compares the output with onnxruntime's, back-
propagates the fixed loss sum(output * loss_weights) and compares every parameter's gradient, mapped
back to its ONNX initializer, with PyTorch's; it also runs the file through pycnn.onnx.InferenceSession
(the compiled inference plan) and compares that output with onnxruntime's.
Relative error = max |pycnn - reference| / max |reference| for outputs, the 99th percentile of
|pycnn - reference| over max |reference| for gradients (gradient_error).
Prints one table row per file and exits 1 on any error above --rtol, a missing gradient or a file that
does not load.
"""
import argparse
import glob
import os
import re
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _checkout import use_checkout  # noqa: E402  (tools/ is not a package)

use_checkout()


def _errors(ours, reference, percentile=100):
    """(the ``percentile``-th |ours - reference|, the same over max |reference|); 100 is the maximum.
    The scale is floored only against zero: EfficientNet's input gradient at random weights peaks at
    6e-15, where a fixed floor such as 1e-12 would shrink its relative error 160-fold."""
    diff = float(np.percentile(np.abs(ours - reference), percentile)) if reference.size else 0.0
    return diff, diff / max(float(np.abs(reference).max()), np.finfo(np.float64).tiny)


# Whole-network gradients are compared at the 99th percentile, not the maximum: a deep ReLU network's
# gradient jumps where a unit sits within rounding of a kink, and any float32 engine may flip such a
# unit, so a max-abs comparison measures how near-ties fell, not rounding.
GRADIENT_PERCENTILE = 99


def gradient_error(ours, reference):
    """The 99th percentile of |ours - reference| over max |reference|: the metric of every whole-network
    gradient comparison (here, tests/test_models.py, tests/test_onnx_torchvision_gradients.py)."""
    return _errors(ours, reference, GRADIENT_PERCENTILE)[1]


def check_file(path):
    """A result row: model, exporter, opset, output abs/rel error vs onnxruntime, gradient abs/rel
    error vs PyTorch (99th percentile, worst parameter) and a problem string ('' when none)."""
    import onnxruntime
    import pycnn
    import pycnn.onnx

    stem = os.path.basename(path)[:-len(".onnx")]
    match = re.fullmatch(r"(.+)_(torchscript|dynamo)_op(\d+)", stem)
    model, exporter, opset = match.groups() if match else (stem, "?", "?")
    row = {"model": model, "exporter": exporter, "opset": opset, "out_abs": np.nan, "out_rel": np.nan,
           "plan_rel": np.nan, "grad_abs": np.nan, "grad_rel": np.nan, "problem": ""}
    ref = np.load(path[:-len(".onnx")] + ".npz")
    try:
        graph = pycnn.onnx.load(path)
    except ValueError as error:
        row["problem"] = f"load: {str(error).splitlines()[0]}"
        return row
    graph.eval()
    out = graph(pycnn.tensor(ref["input"]))
    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    expected = session.run(None, {session.get_inputs()[0].name: ref["input"]})[0]
    row["out_abs"], row["out_rel"] = _errors(out.numpy(), expected)
    plan = pycnn.onnx.InferenceSession(path)
    row["plan_rel"] = _errors(plan.run(None, {plan.get_inputs()[0].name: ref["input"]})[0], expected)[1]
    (out * pycnn.tensor(ref["loss_weights"])).sum().backward()
    grads = graph.onnx_arrays(grads=True)
    worst_abs, worst_rel, missing = 0.0, 0.0, []
    for key in ref.files:
        if not key.startswith("grad/"):
            continue
        name = key[len("grad/"):]
        if name not in grads:
            missing.append(name)
            continue
        a, r = _errors(grads[name], ref[key], GRADIENT_PERCENTILE)
        worst_abs, worst_rel = max(worst_abs, a), max(worst_rel, r)
    row["grad_abs"], row["grad_rel"] = worst_abs, worst_rel
    if missing:
        row["problem"] = f"no gradient for {', '.join(missing)}"
    return row


def table(rows):
    lines = [f"| {'model':<16} | {'exporter':<11} | opset | out abs  | out rel  | plan rel | grad abs | grad rel | "
             "status",
             f"|{'-' * 18}|{'-' * 13}|-------|----------|----------|----------|----------|----------|-------"]
    for r in rows:
        lines.append(f"| {r['model']:<16} | {r['exporter']:<11} | {r['opset']:>5} | {r['out_abs']:.2e} | "
                     f"{r['out_rel']:.2e} | {r['plan_rel']:.2e} | {r['grad_abs']:.2e} | {r['grad_rel']:.2e} | "
                     f"{r['status']}")
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("folder")
    p.add_argument("--rtol", type=float, default=1e-4)
    args = p.parse_args(argv)
    files = sorted(f for f in glob.glob(os.path.join(args.folder, "*.onnx"))
                   if os.path.exists(f[:-len(".onnx")] + ".npz"))
    if not files:
        print(f"parity: no .onnx files with an .npz in {args.folder}", file=sys.stderr)
        return 1
    rows = []
    for path in files:
        row = check_file(path)
        bad = row["problem"] or not (row["out_rel"] <= args.rtol and row["plan_rel"] <= args.rtol
                                     and row["grad_rel"] <= args.rtol)
        row["status"] = ("FAIL " + row["problem"]) if bad else "ok"
        rows.append(row)
    print(table(rows))
    failed = sum(r["status"] != "ok" for r in rows)
    print(f"{len(rows) - failed}/{len(rows)} files within {args.rtol:g} relative of onnxruntime and PyTorch")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
