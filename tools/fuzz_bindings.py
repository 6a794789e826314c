"""Fuzzes every binding of pycnn._C: each call must return or raise a Python exception, never crash.

    python tools/fuzz_bindings.py --calls 100000 [--seed 0] [--replay INDEX]

Every public function of ``_C``, every method of ``_C.Tensor``, ``PreparedConv2d`` and ``InferencePlan``
is called with arguments generated from its nanobind signature: tensors of random shapes and dtypes
(often consistent with each other, so that the kernels run, not only the checks), backward inputs
shaped by running the matching forward first, and hostile values mixed in (negative, zero and extreme
sizes, strides, paddings, dilations and groups; NaN and infinite floats; odd strings; non-contiguous,
negative-stride, broadcast (aliased), read-only and wrongly typed numpy arrays; one tensor passed as
several arguments). Calls run in a child process; when it dies (a signal, a sanitizer report) the
call that killed it is reported with its index, the child restarts at the next call, and the run ends
with the counts. ``--replay INDEX`` runs one call in this process and prints its arguments.

Under the sanitizer build (PYCNN_SANITIZE=address,undefined) run it as tools/sanitize.sh does, with
the ASan runtime and libstdc++ preloaded:
    LD_PRELOAD="$(c++ -print-file-name=libasan.so) $(c++ -print-file-name=libstdc++.so)" \
        ASAN_OPTIONS=detect_leaks=0 python tools/fuzz_bindings.py --calls 100000
(the harness adds allocator_may_return_null=1 and max_allocation_size_mb=2048, so a huge request is
an exception, as it is in a normal build, not a report; in a normal build the child's address space
is capped at 6 GiB for the same reason).
"""
import argparse
import os
import resource
import subprocess
import sys
import threading
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _checkout import use_checkout  # noqa: E402  (tools/ is not a package)

use_checkout()  # the checkout's pycnn when it is built in place, else the installed one
from pycnn import _C  # noqa: E402

# Exceptions a binding may raise for bad input; anything else (SystemError, ...) is a finding too.
ALLOWED = (ValueError, TypeError, RuntimeError, MemoryError, IndexError, OverflowError, NotImplementedError)
EXTREME_INTS = [0, -1, -2, 2**31 - 1, -2**31, 2**31, 2**32 + 1, 2**62, 2**63 - 1, -2**63, 2**64, 70000]
STRINGS = ["", "relu", "tanh", "none", "add", "sub", "mul", "div", "sigmoid", "max_pool2d", "avg_pool2d",
           "cpu", "cuda", "cuda:1", "float32", "int64", "float16", "x" * 300, "\x00", "é"]
SKIP = {"set_num_threads", "cuda_set_allow_tf32"}  # process-wide settings, fuzzed only with valid values


def parse_params(function):
    """[(name, type string, has default)] from a nanobind docstring's first line."""
    head = (function.__doc__ or "").split("\n")[0]
    inner = head[head.index("(") + 1: head.rindex(")")] if "(" in head else ""
    params, depth, current = [], 0, ""
    for ch in inner + ",":
        if ch == "," and depth == 0:
            part = current.strip()
            current = ""
            if not part or part in ("/", "self") or part.startswith("self"):
                continue
            name, _, rest = part.partition(":")
            kind, _, default = rest.partition(" = ")
            params.append((name.strip(), kind.strip(), bool(default)))
            continue
        depth += ch in "[(" and 1 or 0
        depth -= ch in "])" and 1 or 0
        current += ch
    return params


class Generator:
    """Random arguments for one call, from one numpy Generator (so a call's index reproduces it)."""

    def __init__(self, rng):
        self.rng = rng
        self.base = self.shape(4)
        self.made = []  # tensors made for this call, reused to alias arguments

    def small(self):
        return int(self.rng.choice([1, 1, 2, 2, 3, 3, 4, 5, 7, 8, 0]))

    def int_(self, name=""):
        r = self.rng.random()
        if r < 0.12:
            return int(self.rng.choice(EXTREME_INTS))
        if r < 0.2:
            return int(self.rng.integers(-5, 0))
        if "group" in name:
            return int(self.rng.choice([1, 1, 1, 2, 3, 4]))
        if "threads" in name:
            return int(self.rng.integers(0, 3))
        if "step" in name or "seed" in name:
            return int(self.rng.integers(0, 10))
        if "dim" in name:
            return int(self.rng.integers(-4, 4))
        if "stride" in name or "dilation" in name or "size" in name or "kernel" in name:
            return int(self.rng.integers(1, 4))
        return int(self.rng.integers(0, 4))

    def float_(self, name=""):
        r = self.rng.random()
        if r < 0.1:
            return float(self.rng.choice([np.nan, np.inf, -np.inf, 0.0, -0.0, 1e308, -1e308, 5e-324, 1e38]))
        if "eps" in name or name in ("p", "alpha", "beta", "momentum", "beta1", "beta2", "label_smoothing"):
            return float(self.rng.uniform(0, 1))
        return float(self.rng.uniform(-3, 3))

    def shape(self, ndim=None):
        ndim = int(self.rng.integers(0, 6)) if ndim is None else ndim
        return [self.small() for _ in range(ndim)]

    def array(self, shape=None, dtype=np.float32):
        shape = self.shape() if shape is None else shape
        values = self.rng.standard_normal(shape) * 3
        if dtype == np.int64:
            small = np.abs(values).astype(np.int64) % 5
            if self.rng.random() < 0.25:  # hostile indices: past any plane, negative, the extremes
                hostile = self.rng.choice(np.array([-1, -2, -100, 5, 1000, 2**31, 2**62, -2**63, 2**63 - 1]),
                                          size=small.shape)
                small = np.where(self.rng.random(small.shape) < 0.5, hostile, small)
            return np.ascontiguousarray(small, dtype=np.int64)
        return np.ascontiguousarray(values, dtype=dtype)

    def tensor(self, shape=None, name=""):
        r = self.rng.random()
        if self.made and r < 0.08:
            return self.made[int(self.rng.integers(len(self.made)))]  # aliasing: the same tensor again
        if shape is None:
            shape = list(self.base) if r < 0.6 else self.shape()
            if self.rng.random() < 0.15 and shape:
                shape[int(self.rng.integers(len(shape)))] = self.small()
        dtype = np.int64 if (("target" in name or "indices" in name) and self.rng.random() < 0.8) \
            or self.rng.random() < 0.05 else np.float32
        t = _C.from_numpy(self.array(shape, dtype))
        if self.rng.random() < 0.05 and t.numel() > 1:
            t = t.view([t.numel()])
        self.made.append(t)
        return t

    def hostile_array(self):
        """numpy arrays from_numpy and the plan's constants must refuse or copy correctly."""
        base = self.array([self.small() + 1, self.small() + 1])
        choice = int(self.rng.integers(0, 11))
        if choice == 0:
            return base[:, ::2]
        if choice == 1:
            return base[::-1]
        if choice == 2:
            return np.broadcast_to(base[:1], (4,) + base.shape[1:])  # stride 0: every row aliases one
        if choice == 3:
            base.setflags(write=False)
            return base
        if choice == 4:
            return base.astype(self.rng.choice([np.float64, np.float16, np.int32, np.int8, np.uint8, np.bool_,
                                                np.complex64]))
        if choice == 5:
            return np.array([object(), 1], dtype=object)
        if choice == 6:
            return np.zeros((0, 3), np.float32)
        if choice == 7:
            return np.float32(3.0) * np.ones((), np.float32)
        if choice == 8:
            return np.lib.stride_tricks.as_strided(base, shape=(2**20, 2**20), strides=(0, 0), writeable=False)
        if choice == 9:
            return np.zeros(3, dtype=[("a", np.float32), ("b", np.int64)])
        return base.T

    def value(self, name, kind):
        """One value of the nanobind type ``kind`` for the parameter ``name``."""
        if kind.endswith("| None"):
            if self.rng.random() < 0.25:
                return None
            kind = kind[: -len("| None")].strip()
        if kind == "pycnn._C.Tensor":
            return self.tensor(name=name)
        if kind == "int":
            return self.int_(name)
        if kind == "float":
            return self.float_(name)
        if kind == "bool":
            return bool(self.rng.random() < 0.5)
        if kind == "str":
            return str(self.rng.choice(STRINGS))
        if kind == "tuple[int, int]":
            return (self.int_(name), self.int_(name)) if self.rng.random() < 0.7 else (self.int_(name),) * 2
        if kind.startswith("collections.abc.Sequence[int]"):
            if "shape" in name and self.made and self.rng.random() < 0.6:
                return list(self.made[0].shape)
            return self.shape() if self.rng.random() < 0.9 else [self.int_() for _ in range(4)]
        if kind.startswith("collections.abc.Sequence[pycnn._C.Tensor]"):
            return [self.tensor() for _ in range(int(self.rng.integers(0, 4)))]
        if kind.startswith("collections.abc.Sequence[bool]"):
            return [bool(b) for b in self.rng.random(int(self.rng.integers(0, 5))) < 0.5]
        if kind.startswith("collections.abc.Sequence[ndarray"):
            return [None if self.rng.random() < 0.5 else self.array() for _ in range(int(self.rng.integers(0, 4)))]
        if kind.startswith("ndarray") or kind.startswith("numpy.ndarray"):
            if self.rng.random() < 0.25:
                return self.hostile_array()
            return self.array([int(self.rng.integers(0, 200))] if "shape=(*)" in kind else None)
        if kind == "object":
            return self.rng.choice([None, 1, "x", self.array()])
        raise KeyError(f"no generator for {kind!r} ({name})")


def consistent(gen, name, args):
    """Shapes that fit together for the structured ops, so the kernels run (then mutated at random)."""
    rng = gen.rng
    n, c, h, w = gen.small() or 1, gen.small() or 1, gen.small() + 2, gen.small() + 2
    if name.startswith("conv2d") or name == "PreparedConv2d":
        groups = int(rng.choice([1, 1, 2, 3])) if "groups" in args else 1
        c_in, c_out = c * groups, (gen.small() or 1) * groups
        k = int(rng.integers(1, 4))
        args.update(input=gen.tensor([n, c_in, h, w]), weight=gen.tensor([c_out, c, k, k]), groups=groups,
                    bias=gen.tensor([c_out]) if rng.random() < 0.5 else None, input_shape=[n, c_in, h, w])
    elif name.startswith("linear"):
        k = gen.small() or 1
        args.update(input=gen.tensor([n, k]), weight=gen.tensor([c, k]), bias=gen.tensor([c]))
    elif name.startswith("batch_norm"):
        args.update(input=gen.tensor([n, c, h, w]), running_mean=gen.tensor([c]), running_var=gen.tensor([c]),
                    weight=gen.tensor([c]), bias=gen.tensor([c]))
    elif name.startswith("prelu"):
        args.update(input=gen.tensor([n, c, h, w]), weight=gen.tensor([int(rng.choice([1, c]))]))
    elif name.startswith("cross_entropy"):
        target = _C.from_numpy(rng.integers(-1, c + 1, n).astype(np.int64))
        args.update(input=gen.tensor([n, c]), target=target, valid=n, ignore_index=int(rng.choice([-100, 0, -1])),
                    reduction=int(rng.integers(0, 4)))
    elif name.startswith(("mse_loss", "binary", "add_inplace", "dropout_backward")):
        shape = gen.shape()
        args.update(input=gen.tensor(shape), target=gen.tensor(shape), other=gen.tensor(shape),
                    self=gen.tensor(shape), mask=gen.tensor(shape))
    elif name.endswith("_update"):
        shape = gen.shape()
        for key in ("param", "grad", "exp_avg", "exp_avg_sq", "max_exp_avg_sq", "momentum_buffer", "square_avg",
                    "grad_avg"):
            args[key] = gen.tensor(shape)
    elif name.startswith("cat"):
        shape = gen.shape(int(rng.integers(1, 5)))
        args["tensors"] = [gen.tensor(shape) for _ in range(int(rng.integers(1, 4)))]
        args["dim"] = int(rng.integers(-len(shape), len(shape)))


FORWARD_OUTPUTS = {  # backward argument -> index of the forward's result that feeds it
    "max_pool2d_backward": {"indices": 1}, "dropout_backward": {"mask": 1},
    "local_response_norm_backward": {"scale": 1}, "batch_norm_backward": {"mean": 1, "rstd": 2},
    "relu_backward": {"output": 0}, "sigmoid_backward": {"output": 0}, "tanh_backward": {"output": 0},
    "softmax_backward": {"output": 0}, "log_softmax_backward": {"output": 0},
}


def with_forward(gen, name, args, functions, note):
    """For a *_backward: runs the matching forward on the same arguments and shapes grad_output (and
    indices, masks, saved statistics) from its results, so the backward kernel itself runs."""
    forward = functions.get(name.replace("_backward", "_forward"))
    if forward is None:
        return
    fargs = {}
    for pname, kind, has_default in parse_params(forward):
        fargs[pname] = args[pname] if pname in args else gen.value(pname, kind)
    note(f"{forward.__name__}({', '.join(f'{k}={describe(v)}' for k, v in fargs.items())}) [the forward of "
         f"{name}, run to shape its arguments]")
    try:
        result = forward(**fargs)
    except ALLOWED:
        return
    outputs = result if isinstance(result, tuple) else (result,)
    if gen.rng.random() < 0.9 and isinstance(outputs[0], _C.Tensor) and max(outputs[0].shape, default=0) < 4096:
        args["grad_output"] = gen.tensor(list(outputs[0].shape))
    for key, index in FORWARD_OUTPUTS.get(name, {}).items():
        if index < len(outputs) and isinstance(outputs[index], _C.Tensor):
            args[key] = outputs[index]
    if "input_shape" in args and "input" in fargs and isinstance(fargs["input"], _C.Tensor):
        args["input_shape"] = list(fargs["input"].shape)


def targets():
    """(name, callable, bound-object factory or None) for every binding fuzzed."""
    functions = {n: getattr(_C, n) for n in dir(_C) if not n.startswith("_") and callable(getattr(_C, n))
                 and not isinstance(getattr(_C, n), type) and n not in SKIP}
    out = [(n, f, None) for n, f in sorted(functions.items())]
    for method in sorted(m for m in dir(_C.Tensor) if not m.startswith("_") or m == "__dlpack__"):
        if callable(getattr(_C.Tensor, method)):
            out.append((f"Tensor.{method}", getattr(_C.Tensor, method), "Tensor"))
    out.append(("PreparedConv2d", _C.PreparedConv2d, None))
    out.append(("PreparedConv2d.forward", _C.PreparedConv2d.forward, "PreparedConv2d"))
    for method in sorted(m for m in dir(_C.InferencePlan) if m.startswith(("add_", "run"))):
        out.append((f"InferencePlan.{method}", getattr(_C.InferencePlan, method), "InferencePlan"))
    return out, functions


def make_call(index, seed, targets_, functions, note=lambda text: None):
    """The (description, thunk) of call ``index``: everything drawn from (seed, index)."""
    rng = np.random.default_rng([seed, index])
    name, function, owner = targets_[int(rng.integers(len(targets_)))]
    gen = Generator(rng)
    params = parse_params(function)
    args = {}
    consistent(gen, name.split(".")[-1] if owner == "PreparedConv2d" else name, args)
    if owner == "PreparedConv2d":
        consistent(gen, "PreparedConv2d", args)
    with_forward(gen, name, args, functions, note)
    call = {}
    for pname, kind, has_default in params:
        if has_default and rng.random() < 0.3:
            continue
        call[pname] = args[pname] if pname in args and rng.random() < 0.9 else gen.value(pname, kind)
    if rng.random() < 0.3 and params:  # one argument replaced by a hostile value of its type
        pname, kind, _ = params[int(rng.integers(len(params)))]
        call[pname] = gen.value(pname, kind) if kind != "int" else int(rng.choice(EXTREME_INTS))
    this = None
    if owner == "Tensor":
        this = gen.tensor() if rng.random() < 0.9 else _C.zeros(gen.shape(), "float32", "cpu")
    elif owner == "PreparedConv2d":
        cargs = {p: args.get(p, gen.value(p, k)) for p, k, _ in parse_params(_C.PreparedConv2d.__init__)}
        cargs.update(stride=(1, 1), padding=(1, 1), dilation=(1, 1))
        try:
            this = _C.PreparedConv2d(**cargs)
        except ALLOWED:
            this = None
        if rng.random() < 0.8 and "input" in args:
            call["input"] = args["input"]
    elif owner == "InferencePlan":
        this = _C.InferencePlan(int(rng.choice([0, 16, 1000, 10**5])))
        if name.endswith("run"):  # a plan with one random step, then run over a random arena
            adders = [t for t in dir(this) if t.startswith("add_")]
            adder = getattr(_C.InferencePlan, adders[int(rng.integers(len(adders)))])
            step = {p: gen.value(p, k) for p, k, d in parse_params(adder) if not (d and rng.random() < 0.5)}
            try:
                adder(this, **step)
            except ALLOWED:
                pass
    positional = [this] if owner else []
    if owner and this is None:
        return f"{name}: (no object)", lambda: None
    description = f"{name}({', '.join(f'{k}={describe(v)}' for k, v in call.items())})"
    return description, lambda: function(*positional, **call)


def describe(value):
    if isinstance(value, _C.Tensor):
        return f"Tensor{list(value.shape)}:{value.dtype}"
    if isinstance(value, np.ndarray):
        return f"ndarray{list(value.shape)}:{value.dtype}:strides{value.strides}"
    if isinstance(value, list):
        return "[" + ", ".join(describe(v) for v in value) + "]"
    return repr(value)


def run_calls(seed, start, count, report):
    """The child: calls start..start+count-1. Before each it writes the index, then the call's
    description; after it '+' (returned) or '-' (raised), so the parent knows where a crash hit."""
    targets_, functions = targets()
    for index in range(start, start + count):
        os.write(report, f"{index}\n".encode())
        def note(text):
            os.write(report, ("D " + text.replace("\n", " ") + "\n").encode())
        description, thunk = make_call(index, seed, targets_, functions, note)  # may run a matching forward
        note(description)
        try:
            thunk()
            os.write(report, b"+\n")
        except ALLOWED as error:
            if not str(error):
                raise SystemExit(f"call {index}: {type(error).__name__} with no message: {description}")
            os.write(report, b"-\n")
        except Exception as error:
            raise SystemExit(f"call {index}: unexpected {type(error).__name__}: {error}: {description}")
    os.write(report, b"done\n")


def child_env():
    env = dict(os.environ)
    extra = "allocator_may_return_null=1:max_allocation_size_mb=2048:detect_leaks=0"
    env["ASAN_OPTIONS"] = (env["ASAN_OPTIONS"] + ":" + extra) if env.get("ASAN_OPTIONS") else extra
    env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
    env.setdefault("OMP_NUM_THREADS", "2")
    return env


def fuzz(calls, seed=0, log=sys.stdout, hang_seconds=120):
    """Runs calls 0..calls-1 in child processes (a new one after each crash); returns {'calls', 'ok',
    'refused', 'crashes': [{'index', 'exit', 'call', 'stderr'}]}. A call running hang_seconds is a hang."""
    result = {"calls": 0, "ok": 0, "refused": 0, "crashes": []}
    start = 0
    while start < calls:
        stderr_path = f"/tmp/fuzz_bindings-{os.getpid()}-{start}.err"
        with open(stderr_path, "wb") as stderr:
            proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--child", str(seed), str(start),
                                     str(calls - start)], stdout=subprocess.PIPE, stderr=stderr, env=child_env())
        state = {"index": start - 1, "call": "(before any call)", "seen": time.monotonic(), "done": False}

        def watch():
            while proc.poll() is None:
                if time.monotonic() - state["seen"] > hang_seconds:
                    state["call"] += f" [hung over {hang_seconds} s]"
                    proc.kill()
                    return
                time.sleep(0.5)
        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        for line in proc.stdout:
            state["seen"] = time.monotonic()
            text = line.decode("utf-8", "replace").rstrip("\n")
            if text == "+":
                result["ok"] += 1
            elif text == "-":
                result["refused"] += 1
            elif text.startswith("D "):
                state["call"] = text[2:]
            elif text == "done":
                state["done"] = True
            elif text.isdigit():
                state["index"], state["call"] = int(text), "(while drawing its arguments: a matching forward)"
        code = proc.wait()
        watcher.join()
        with open(stderr_path, "rb") as f:
            tail = f.read().decode("utf-8", "replace")[-4000:]
        os.unlink(stderr_path)
        if state["done"] and code == 0:
            result["calls"] += calls - start
            break
        last = state["index"]
        if last < start:  # the child died before its first call (pycnn does not import): no call to skip
            raise RuntimeError(f"fuzz_bindings: the child process exited with {code} before call {start}:\n{tail}")
        result["crashes"].append({"index": last, "exit": code, "call": state["call"], "stderr": tail})
        print(f"CRASH at call {last} (exit {code}): {state['call']}\n{tail}", file=log, flush=True)
        result["calls"] += last - start + 1
        start = last + 1
    return result


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--calls", type=int, default=10000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--replay", type=int, help="run call INDEX here and print it")
    p.add_argument("--child", nargs=3, type=int, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if "asan" not in os.environ.get("LD_PRELOAD", ""):  # ASan maps terabytes of shadow: its own cap
            resource.setrlimit(resource.RLIMIT_AS, (6 << 30, 6 << 30))  # a huge request fails, not swaps
        return run_calls(*args.child[:2], args.child[2], sys.stdout.fileno())
    if args.replay is not None:
        targets_, functions = targets()
        description, thunk = make_call(args.replay, args.seed, targets_, functions, lambda t: print(t, flush=True))
        print(description, flush=True)
        print(thunk())
        return 0
    began = time.perf_counter()
    result = fuzz(args.calls, args.seed)
    seconds = time.perf_counter() - began
    print(f"fuzz_bindings: {result['calls']} calls ({result['ok']} returned, {result['refused']} raised) in "
          f"{seconds:.0f} s, {len(result['crashes'])} crashes (seed {args.seed})")
    return 1 if result["crashes"] else 0


if __name__ == "__main__":
    sys.exit(main())
