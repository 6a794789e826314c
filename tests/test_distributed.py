"""pycnn.distributed and DistributedDataParallel across real processes: each test launches
``mpiexec -n 2 python tests/test_distributed.py <scenario>`` and reads what the ranks print.

The scenarios (the ``_scenario_*`` functions, run inside the ranks) compare DDP training on half
batches with a plain model trained on the whole batches in the same process, so no second launch is
needed for the reference. They skip only when mpi4py or mpiexec is missing (``pip install
pycnn[distributed]``; CI installs it).
"""
import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest

HERE = os.path.abspath(__file__)


def _mpiexec():
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        return None
    beside = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    return beside if os.path.exists(beside) else shutil.which("mpiexec")


MPIEXEC = _mpiexec()
needs_mpi = pytest.mark.skipif(MPIEXEC is None, reason="mpi4py or mpiexec is not installed "
                               "(pip install pycnn[distributed] installs mpi4py and mpich)")


def launch(scenario, n=2, timeout=180, expect_ok=True, *args):
    """Runs the scenario on ``n`` ranks (n=0: a plain python, no launcher); returns (process, what
    each rank reported, by rank). Ranks report to files: their stdout lines may interleave."""
    import tempfile

    from helpers.subprocess_env import subprocess_env

    with tempfile.TemporaryDirectory() as reports:
        env = dict(subprocess_env(), PYCNN_TEST_REPORTS=reports)
        command = [sys.executable, HERE, scenario, *args]
        if n:
            command = [MPIEXEC, "-n", str(n)] + command
        proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env, cwd=reports)
        results = {}
        for name in os.listdir(reports):
            with open(os.path.join(reports, name)) as f:
                record = json.load(f)
            results[record["rank"]] = record
    if expect_ok:
        assert proc.returncode == 0, f"{scenario} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
        assert len(results) == max(n, 1), proc.stdout + proc.stderr
    return proc, results


# ----- the tests (pytest side) --------------------------------------------------------------------
@needs_mpi
def test_two_ranks_on_half_batches_train_like_one_process_on_whole_batches():
    _, results = launch("equivalence")
    for rank, r in results.items():
        assert r["max_rel_vs_whole_batch"] < 1e-5, r
        assert r["buckets_many"] >= 4 and r["buckets_one"] == 1
        assert r["many_equal_one_bucket"], r  # the same sums, however they are bucketed
        assert r["ranks_bitwise_equal"], r
        assert r["moved"] > 1e-3  # the steps changed the weights: the comparison is not vacuous
        assert r["launched_at_first_layer"] == [4] * 5, r  # reductions start while backward still runs
    assert results[0]["checksum"] == results[1]["checksum"]


@needs_mpi
def test_no_sync_accumulation_equals_one_big_batch():
    _, results = launch("no_sync")
    for r in results.values():
        assert r["max_rel_vs_big_batch"] < 1e-5, r
        assert r["ranks_bitwise_equal"], r


@needs_mpi
def test_unused_parameter_is_named_unless_find_unused_parameters():
    _, results = launch("unused")
    for r in results.values():
        assert "unused.weight" in r["error"] and "unused.bias" in r["error"], r
        assert "find_unused_parameters=True" in r["error"]
        assert r["unused_grad_is_none"], r
        assert r["max_rel_vs_whole_batch"] < 1e-5, r
        # A layer only rank 0 used: both ranks end with rank 0's gradient averaged with a zero.
        assert r["rank0_only_grad_rel"] < 1e-6, r
        assert len(r["uneven_steps"]) == 4 and max(r["uneven_steps"]) < 1e-6, r


@needs_mpi
def test_a_rank_that_skips_backward_times_out_within_seconds():
    began = time.monotonic()
    proc, _ = launch("skip_backward", expect_ok=False, timeout=60)
    elapsed = time.monotonic() - began
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0, output
    assert "DistBackendError" in output and "timed out after 2 s" in output, output[-4000:]
    assert "gradient bucket 0" in output, output[-4000:]
    assert elapsed < 30, elapsed  # a 2 s timeout, plus two interpreters starting; never a hang


@needs_mpi
def test_a_rank_that_skips_a_collective_times_out():
    began = time.monotonic()
    proc, _ = launch("skip_collective", expect_ok=False, timeout=60)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0, output
    assert "all_reduce timed out after 2 s on rank 0 of 2" in output, output[-4000:]
    assert "later: DistBackendError: barrier: the process group is broken" in output, output[-4000:]
    assert time.monotonic() - began < 30


@needs_mpi
def test_collectives():
    _, results = launch("collectives")
    for rank, r in results.items():
        assert r["sum"] == [3.0, 3.0, 3.0] and r["avg"] == [1.5, 1.5, 1.5] and r["max"] == [2.0, 2.0, 2.0]
        assert r["int_sum"] == [1, 3]
        assert r["async_sum"] == [10.0, 20.0]
        assert r["broadcast"] == [7.0, 8.0]
        assert r["gathered"] == [[0.0, 0.0], [1.0, 10.0]]
        assert r["unique_id_same"] and r["unique_id_calls"] == (1 if rank == 0 else 0)
        made_id = ["ncclGetUniqueId"] if rank == 0 else []
        assert r["nccl_init_calls"] == made_id + [["ncclCommInitRank", 2, rank, True]]
        assert r["buffers_from_rank0"], r
        assert r["shape_mismatch_error"].startswith("DistributedDataParallel: rank"), r


@needs_mpi
def test_fit_under_ddp_writes_one_checkpoint_and_resumes_on_every_rank(tmp_path):
    _, results = launch("fit", 2, 180, True, str(tmp_path))
    assert results[0]["history"] == results[1]["history"]  # metrics all-reduced: the same logs
    for r in results.values():
        assert r["seen_per_rank"] == 48
        assert r["resumed_equal"], r
        assert r["val_error"] < 1e-6, r
        assert r["weights_bitwise_equal_across_ranks"], r
    assert results[0]["checkpoint_written"]
    assert sorted(os.listdir(tmp_path)) == ["run.ckpt"]


@needs_mpi
def test_cli_train_nproc_launches_mpiexec(tmp_path):
    from helpers.subprocess_env import subprocess_env

    env = subprocess_env()
    out = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-m", "pycnn.cli", "train", "--nproc", "2", "--model", "lenet5", "--data",
                           "digits", "--epochs", "1", "--quiet", "--threads", "1", "--out", str(out)],
                          capture_output=True, text=True, timeout=180, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("pycnn train: lenet5 on digits") == 1 and ", 2 processes" in proc.stdout
    assert proc.stdout.count("test top-1") == 1  # rank 0 alone reports and writes
    assert sorted(os.listdir(out)) == ["checkpoint.npz", "curves.png", "filters.png", "history.csv", "history.json",
                                       "model.npz"]
    with np.load(out / "model.npz") as weights:
        assert not any(k.startswith("module.") for k in weights.files)  # the plain model's keys
    evaluated = subprocess.run([sys.executable, "-m", "pycnn.cli", "eval", "--model", "lenet5", "--data", "digits",
                                "--weights", str(out / "model.npz")], capture_output=True, text=True, timeout=120,
                               env=env, cwd=tmp_path)
    assert evaluated.returncode == 0 and "top-1" in evaluated.stdout, evaluated.stdout + evaluated.stderr


def test_cli_nproc_must_be_positive(tmp_path, capsys):
    from pycnn.cli import main

    assert main(["train", "--nproc", "0", "--out", str(tmp_path)]) == 2
    assert "--nproc: expected a positive number of processes, got 0" in capsys.readouterr().err


def test_nccl_library_not_found_is_named(monkeypatch):
    from pycnn.distributed import nccl

    monkeypatch.setenv("PYCNN_NCCL_LIBRARY", "/nonexistent/libnccl.so.2")
    try:
        nccl.load_library()
    except RuntimeError as error:
        message = str(error)
        assert "Tried: /nonexistent/libnccl.so.2 (" in message and "pip install nvidia-nccl-cu12" in message
    else:
        pytest.skip("a libnccl is installed here: the error path cannot be shown")
    assert nccl.is_available() is False


@pytest.mark.parametrize("mpi", ["with mpi4py", "without mpi4py"])
def test_world_of_one_needs_no_launcher(mpi):
    if mpi == "with mpi4py" and MPIEXEC is None:
        pytest.skip("mpi4py is not installed (pip install pycnn[distributed])")
    _, results = launch("world_of_one", 0, 180, True, mpi)
    r = results[0]
    assert r["size"] == 1 and r["rank"] == 0 and r["mpi"] == (mpi == "with mpi4py")
    assert r["max_rel_vs_plain"] == 0.0  # averaging over one rank changes nothing
    assert r["nccl_error"].startswith("init_process_group(backend='nccl'): NCCL needs a CUDA GPU") or \
        r["nccl_error"].startswith("init_process_group: mpi4py is not installed")
    assert r["uninitialized_error"].startswith("DistributedDataParallel: the default process group")
    e = r["errors"]
    assert e["backend"] == "ValueError: init_process_group: backend must be 'auto', 'mpi' or 'nccl', got 'gloo'"
    assert e["timeout"].startswith("ValueError: init_process_group: timeout must be a positive number")
    if mpi == "with mpi4py":
        assert "world_size=4, rank=-1 were asked for, but the launcher started rank 0 of 1" in e["world_size"]
    else:
        assert "mpi4py is not installed, so pycnn can join no world of more than one" in e["world_size"]
    assert "initialize the default process group twice" in e["twice"]
    assert "op must be one of sum, avg, product, min, max, got 'mean'" in e["op"]
    assert "expected a contiguous, writable tensor" in e["strided"]
    assert "expected a pycnn.Tensor or a numpy array, got list" in e["list"]
    assert "src must be a rank in [0, 1), got 3" in e["src"]
    assert "expected a list of 1 tensors (one per rank), got 0" in e["gather_count"]
    assert "every output must be float32 of shape (2,)" in e["gather_shape"]
    assert "bucket_cap_mb must be a positive number, got 0" in e["bucket_cap"]


# ----- the scenarios (rank side) ------------------------------------------------------------------
def _report(**values):
    import pycnn.distributed as dist

    values["rank"] = dist.get_rank()
    with open(os.path.join(os.environ["PYCNN_TEST_REPORTS"], f"{values['rank']}.json"), "w") as f:
        json.dump(values, f)


def _net(pycnn, seed, extra=False):
    from pycnn import nn

    pycnn.manual_seed(seed)
    layers = [nn.Conv2d(3, 6, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 8, 3), nn.ReLU(),
              nn.Flatten(), nn.Linear(8 * 2 * 2, 5)]
    model = nn.Sequential(*layers)
    if not extra:
        return model

    class WithUnused(nn.Module):  # a layer the forward never calls
        def __init__(self):
            super().__init__()
            self.body, self.unused = model, nn.Linear(3, 3)

        def forward(self, x):
            return self.body(x)
    return WithUnused()


def _batches(steps, batch, seed=1):
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal((batch, 3, 8, 8)).astype(np.float32), rng.integers(0, 5, batch))
            for _ in range(steps)]


def _max_rel(a_model, b_model):
    worst = 0.0
    for (_, a), (_, b) in zip(a_model.named_parameters(), b_model.named_parameters()):
        a, b = a.numpy(), b.numpy()
        worst = max(worst, float(np.max(np.abs(a - b) / (np.abs(b) + 1e-3))))
    return worst


def _flat(model):
    return np.concatenate([p.numpy().ravel() for p in model.parameters()])


def _ranks_equal(dist, model):
    flat = _flat(model)
    gathered = [np.zeros_like(flat) for _ in range(dist.get_world_size())]
    dist.all_gather(gathered, flat)
    return all(np.array_equal(g, gathered[0]) for g in gathered)


def _train(pycnn, model, loss_model, steps, rank, size, sync_every=1):
    """SGD with momentum over _batches; this rank takes its slice of each whole batch."""
    from pycnn import nn

    optimizer = pycnn.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-3)
    for images, labels in _batches(steps, 8):
        share = len(images) // size
        x = pycnn.tensor(images[rank * share:(rank + 1) * share])
        y = pycnn.tensor(labels[rank * share:(rank + 1) * share])
        optimizer.zero_grad()
        nn.functional.cross_entropy(loss_model(x), y).backward()
        optimizer.step()


def _scenario_equivalence():
    import pycnn
    import pycnn.distributed as dist
    from pycnn.nn.parallel import DistributedDataParallel

    dist.init_process_group(timeout=60)
    rank, size = dist.get_rank(), dist.get_world_size()
    # Rank 1 starts from other weights: DDP's construction must broadcast rank 0's.
    many = _net(pycnn, seed=10 + rank)
    ddp_many = DistributedDataParallel(many, bucket_cap_mb=0.0002)  # about 200 bytes: a bucket a tensor
    one = _net(pycnn, seed=10 + rank)
    ddp_one = DistributedDataParallel(one, bucket_cap_mb=1000)
    whole = _net(pycnn, seed=10)
    start = _flat(whole).copy()
    # Overlap: when the first layer's weight gradient arrives, the buckets of the later layers' must
    # already be with the communication thread (6 buckets: 6.bias, 6.weight, 3.bias, 3.weight, 0.bias,
    # 0.weight; 0.bias's gradient comes after 0.weight's from the same conv backward).
    launched = []
    many[0].weight.register_post_accumulate_grad_hook(lambda p: launched.append(ddp_many._next_bucket))
    _train(pycnn, many, ddp_many, 5, rank, size)
    _train(pycnn, one, ddp_one, 5, rank, size)
    _train(pycnn, whole, whole, 5, 0, 1)
    _report(max_rel_vs_whole_batch=_max_rel(many, whole), buckets_many=len(ddp_many.bucket_names()),
            buckets_one=len(ddp_one.bucket_names()),
            many_equal_one_bucket=bool(np.array_equal(_flat(many), _flat(one))),
            ranks_bitwise_equal=_ranks_equal(dist, many), moved=float(np.max(np.abs(_flat(whole) - start))),
            checksum=float(_flat(many).astype(np.float64).sum()), launched_at_first_layer=launched)


def _scenario_no_sync():
    import pycnn
    import pycnn.distributed as dist
    from pycnn import nn
    from pycnn.nn.parallel import DistributedDataParallel

    dist.init_process_group(timeout=60)
    rank, size = dist.get_rank(), dist.get_world_size()
    model = _net(pycnn, seed=3)
    ddp = DistributedDataParallel(model, bucket_cap_mb=0.0005)
    big = _net(pycnn, seed=3)
    opt = pycnn.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    opt_big = pycnn.optim.SGD(big.parameters(), lr=0.1, momentum=0.9)
    micro = 3  # micro-batches a rank accumulates per step
    for images, labels in _batches(4, 4 * micro * size, seed=5):
        mine = slice(rank * 4 * micro, (rank + 1) * 4 * micro)
        parts = np.split(np.arange(len(images))[mine], micro)
        opt.zero_grad(set_to_none=(rank == 0))  # .grad as the bucket view, and as a fresh copy
        for k, part in enumerate(parts):
            context = ddp.no_sync() if k < micro - 1 else _nothing()
            with context:
                loss = nn.functional.cross_entropy(ddp(pycnn.tensor(images[part])), pycnn.tensor(labels[part]))
                (loss * (1.0 / micro)).backward()
        opt.step()
        opt_big.zero_grad()
        nn.functional.cross_entropy(big(pycnn.tensor(images)), pycnn.tensor(labels)).backward()
        opt_big.step()
    _report(max_rel_vs_big_batch=_max_rel(model, big), ranks_bitwise_equal=_ranks_equal(dist, model))


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _scenario_unused():
    import pycnn
    import pycnn.distributed as dist
    from pycnn import nn
    from pycnn.nn.parallel import DistributedDataParallel

    dist.init_process_group(timeout=60)
    rank, size = dist.get_rank(), dist.get_world_size()
    model = _net(pycnn, seed=4, extra=True)
    ddp = DistributedDataParallel(model)
    images, labels = _batches(1, 8)[0]
    x, y = pycnn.tensor(images[rank * 4:(rank + 1) * 4]), pycnn.tensor(labels[rank * 4:(rank + 1) * 4])
    try:
        nn.functional.cross_entropy(ddp(x), y).backward()
        error = ""
    except RuntimeError as caught:
        error = str(caught)
    # With find_unused_parameters the unused layer keeps no gradient and the rest trains as usual.
    model = _net(pycnn, seed=4, extra=True)
    ddp = DistributedDataParallel(model, find_unused_parameters=True)
    whole = _net(pycnn, seed=4, extra=True)
    _train(pycnn, model, ddp, 3, rank, size)
    _train(pycnn, whole, whole, 3, 0, 1)
    unused_grad_is_none = model.unused.weight.grad is None and model.unused.bias.grad is None
    model.unused = nn.Linear(3, 3)  # out of the comparison: it never trains
    whole.unused = model.unused
    rel = _max_rel(model, whole)
    # A layer that only rank 0 uses this step: rank 1's part counts as zero in the average.
    side = nn.Linear(4, 2)
    holder = nn.Sequential(side)
    ddp = DistributedDataParallel(holder, find_unused_parameters=True)
    if rank == 0:
        ddp(pycnn.tensor(np.ones((1, 4), np.float32))).sum().backward()
    else:
        (ddp.module[0].weight.sum() * 0.0 + ddp.module[0].bias.sum()).backward()  # uses only the bias
    expected_weight = np.ones((2, 4), np.float32) / size  # rank 0's d(sum)/dW, averaged with a zero
    got = side.weight.grad.numpy()
    # A weight only rank 0 uses, three steps running (rank 1's backward never reaches it), then a
    # step where both use it: each rank reduces the used map every step, whatever it used, so the
    # collectives pair up step after step (they went out of step when only a rank with unused
    # parameters reduced the map).
    side = nn.Linear(4, 2)
    ddp = DistributedDataParallel(nn.Sequential(side), find_unused_parameters=True)
    uneven = []
    for step in range(4):
        side.zero_grad()
        if rank == 0 or step == 3:
            ddp(pycnn.tensor(np.ones((1, 4), np.float32))).sum().backward()
        else:
            ddp.module[0].bias.sum().backward()
        expected = np.ones((2, 4), np.float32) / (size if step < 3 else 1)
        uneven.append(float(np.max(np.abs(side.weight.grad.numpy() - expected))))
    _report(error=error, unused_grad_is_none=unused_grad_is_none, max_rel_vs_whole_batch=rel,
            rank0_only_grad_rel=float(np.max(np.abs(got - expected_weight))), uneven_steps=uneven)


def _scenario_skip_backward():
    import pycnn
    import pycnn.distributed as dist
    from pycnn import nn
    from pycnn.nn.parallel import DistributedDataParallel

    dist.init_process_group(timeout=2)
    rank = dist.get_rank()
    model = _net(pycnn, seed=1)
    ddp = DistributedDataParallel(model)
    images, labels = _batches(1, 4)[0]
    loss = nn.functional.cross_entropy(ddp(pycnn.tensor(images)), pycnn.tensor(labels))
    if rank == 1:
        time.sleep(120)  # skips backward: rank 0's all-reduce waits for a peer that never comes
    loss.backward()  # raises DistBackendError on rank 0 after 2 s; MPI_Abort at exit ends rank 1


def _scenario_skip_collective():
    import pycnn
    import pycnn.distributed as dist

    dist.init_process_group(timeout=2)
    if dist.get_rank() == 1:
        time.sleep(120)  # never joins: rank 0's all_reduce must give up, and MPI_Abort end this rank
    try:
        dist.all_reduce(pycnn.tensor(np.ones(3)))
    except dist.DistBackendError as error:
        print(f"caught: {error}", flush=True)
    try:
        dist.barrier()
    except dist.DistBackendError as error:
        print(f"later: DistBackendError: {error}", flush=True)
        raise


def _scenario_collectives():
    import pycnn
    import pycnn.distributed as dist
    from pycnn import nn
    from pycnn.distributed import nccl
    from pycnn.nn.parallel import DistributedDataParallel

    dist.init_process_group(timeout=60)
    rank, size = dist.get_rank(), dist.get_world_size()
    out = {}
    for op in ("sum", "avg", "max"):
        t = pycnn.tensor(np.full(3, rank + 1.0))
        dist.all_reduce(t, op=op)
        out[op] = t.numpy().tolist()
    labels = pycnn.tensor(np.array([rank, rank + 1]))  # int64
    dist.all_reduce(labels)
    out["int_sum"] = labels.numpy().tolist()
    t = pycnn.tensor(np.array([5.0, 10.0]) * (rank + 1) * 2 / 3)
    work = dist.all_reduce(t, async_op=True)
    work.wait()
    out["async_sum"] = np.round(t.numpy(), 4).tolist()
    t = pycnn.tensor(np.array([7.0, 8.0]) if rank == 0 else np.zeros(2))
    dist.broadcast(t, src=0)
    out["broadcast"] = t.numpy().tolist()
    parts = [pycnn.tensor(np.zeros(2)) for _ in range(size)]
    dist.all_gather(parts, pycnn.tensor(np.array([rank, 10.0 * rank])))
    out["gathered"] = [p.numpy().tolist() for p in parts]
    dist.barrier()
    calls = []

    def make_unique_id():
        calls.append(1)
        return bytes(range(128))
    unique_id = nccl.broadcast_unique_id(dist.process_group._group.comm, make_unique_id)
    out["unique_id_same"] = unique_id == bytes(range(128))
    out["unique_id_calls"] = len(calls)
    out["nccl_init_calls"] = _fake_nccl_communicator(dist, nccl)
    # Buffers: rank 1's running statistics differ; the forward broadcasts rank 0's.
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
    model.train(False)
    ddp = DistributedDataParallel(model)
    if rank == 1:
        with pycnn.no_grad():
            model[1].running_mean.copy_(np.full(4, 5.0, np.float32))
    ddp(pycnn.tensor(np.ones((1, 3, 5, 5), np.float32)))
    out["buffers_from_rank0"] = bool(np.all(model[1].running_mean.numpy() == 0.0))
    try:
        DistributedDataParallel(nn.Linear(3, 2 + rank))
        out["shape_mismatch_error"] = ""
    except ValueError as error:
        out["shape_mismatch_error"] = str(error)
    _report(**out)


def _fake_nccl_communicator(dist, nccl):
    """Communicator's logic with a stand-in for libnccl and the GPU (there is none here): rank 0 alone
    makes the id, every rank passes the same id, the world size and its rank to ncclCommInitRank."""
    import ctypes

    calls = []

    def ncclGetUniqueId(buffer):
        calls.append("ncclGetUniqueId")
        ctypes.memmove(buffer, bytes(range(1, 129)), 128)
        return 0

    def ncclCommInitRank(handle, size, unique_id, rank):
        calls.append(["ncclCommInitRank", size, rank, unique_id.internal == bytes(range(1, 129))])
        return 0

    class FakeNccl:  # functions as attributes, so that argtypes can be set on them as on a CDLL's
        def __init__(self):
            self.ncclGetUniqueId, self.ncclCommInitRank = ncclGetUniqueId, ncclCommInitRank
    real = nccl.load_library, nccl.cuda.is_available
    nccl.load_library, nccl.cuda.is_available = FakeNccl, lambda: True
    try:
        nccl.Communicator(dist.process_group._group)
    finally:
        nccl.load_library, nccl.cuda.is_available = real
    return calls


def _scenario_fit(folder):
    import pycnn
    import pycnn.distributed as dist
    from pycnn import data, nn, train
    from pycnn.nn.parallel import DistributedDataParallel

    dist.init_process_group(timeout=60)
    rank = dist.get_rank()
    rng = np.random.default_rng(0)
    dataset = data.ArrayDataset(rng.standard_normal((95, 3, 8, 8)).astype(np.float32), rng.integers(0, 5, 95))
    validation = data.ArrayDataset(rng.standard_normal((40, 3, 8, 8)).astype(np.float32), rng.integers(0, 5, 40))
    val_shard = data.DataLoader(validation, batch_size=8,
                                sampler=data.DistributedSampler(validation, shuffle=False))  # 20 a rank
    path = os.path.join(folder, "run.ckpt")

    def run(epochs, resume=None):
        model = DistributedDataParallel(_net(pycnn, seed=2))
        sampler = data.DistributedSampler(dataset, seed=3)
        loader = data.DataLoader(dataset, batch_size=16, sampler=sampler, seed=0)
        optimizer = pycnn.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        history = train.fit(model, loader, nn.functional.cross_entropy, optimizer, epochs, val_loader=val_shard,
                            progress=False, callbacks=[train.Checkpoint(path)], resume=resume)
        return model, history, len(sampler)

    full, history, seen = run(3)
    # The logged validation metrics are the whole validation set's, though each rank saw half of it.
    whole = train.evaluate(full.module, data.DataLoader(validation, batch_size=40), loss=nn.functional.cross_entropy)
    val_error = max(abs(history.records[-1]["val_loss"] - whole["loss"]), abs(history.records[-1]["val_top1"] -
                                                                                whole["top1"]))
    dist.barrier()
    written = os.path.exists(path)
    if rank == 0:
        os.unlink(path)
    dist.barrier()
    run(1)
    resumed, _, _ = run(3, resume=path)
    _report(history=[{k: v for k, v in r.items() if k not in ("seconds", "images_per_s")} for r in history.records],
            seen_per_rank=seen,
            resumed_equal=bool(np.array_equal(_flat(full), _flat(resumed))),
            weights_bitwise_equal_across_ranks=_ranks_equal(dist, full), checkpoint_written=written,
            val_error=val_error)


def _scenario_world_of_one(mpi):
    if mpi == "without mpi4py":  # as where pycnn[distributed] is not installed
        sys.modules["mpi4py"] = None
    import pycnn
    import pycnn.distributed as dist
    from pycnn.nn.parallel import DistributedDataParallel

    try:
        DistributedDataParallel(_net(pycnn, seed=1))
        uninitialized = ""
    except RuntimeError as error:
        uninitialized = str(error)
    try:
        dist.init_process_group(backend="nccl")
        nccl_error = ""
    except RuntimeError as error:
        nccl_error = str(error)
    errors = {}

    def expect(name, call):
        try:
            call()
            errors[name] = ""
        except (ValueError, TypeError, RuntimeError) as error:
            errors[name] = f"{type(error).__name__}: {error}"
    expect("backend", lambda: dist.init_process_group(backend="gloo"))
    expect("timeout", lambda: dist.init_process_group(timeout=-1))
    expect("world_size", lambda: dist.init_process_group(world_size=4))
    dist.init_process_group()
    expect("twice", lambda: dist.init_process_group())
    expect("op", lambda: dist.all_reduce(pycnn.tensor(np.ones(2)), op="mean"))
    expect("strided", lambda: dist.all_reduce(np.ones((4, 4), np.float32)[:, 1]))
    expect("list", lambda: dist.all_reduce([1.0, 2.0]))
    expect("src", lambda: dist.broadcast(pycnn.tensor(np.ones(2)), src=3))
    expect("gather_count", lambda: dist.all_gather([], pycnn.tensor(np.ones(2))))
    expect("gather_shape", lambda: dist.all_gather([pycnn.tensor(np.ones(3))], pycnn.tensor(np.ones(2))))
    expect("bucket_cap", lambda: DistributedDataParallel(_net(pycnn, seed=1), bucket_cap_mb=0))
    model = _net(pycnn, seed=7)
    ddp = DistributedDataParallel(model, bucket_cap_mb=0.001)
    # A backward that fails half-way (here: a hook raising once) leaves the next backward intact.
    failing = [True]

    def fail_once(param):
        if failing.pop() if failing else False:
            raise KeyError("interrupted")
    model[0].weight.register_post_accumulate_grad_hook(fail_once)
    images, labels = _batches(1, 8)[0]
    try:
        pycnn.nn.functional.cross_entropy(ddp(pycnn.tensor(images)), pycnn.tensor(labels)).backward()
    except KeyError:
        pass
    plain = _net(pycnn, seed=7)
    _train(pycnn, model, ddp, 3, 0, 1)
    _train(pycnn, plain, plain, 3, 0, 1)
    _report(size=dist.get_world_size(), rank=dist.get_rank(), max_rel_vs_plain=_max_rel(model, plain),
            nccl_error=nccl_error, uninitialized_error=uninitialized, errors=errors, mpi=dist.is_available())


if __name__ == "__main__":
    import pycnn

    pycnn.set_num_threads(1)
    globals()["_scenario_" + sys.argv[1]](*sys.argv[2:])
