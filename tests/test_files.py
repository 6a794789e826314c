"""Files pycnn writes and reads: state dicts and checkpoints carry a format version; newer, damaged,
truncated and pickled files are refused with a message naming the file, never half-loaded; files get
the umask's permissions; a missing folder is FileNotFoundError, never created."""
import json
import os
import pathlib
import re
import zipfile

import numpy as np
import pytest

import pycnn
from pycnn import nn, optim
from pycnn.files import FORMAT_VERSIONS
from pycnn.train import Checkpoint, fit, load_checkpoint

PACKAGE = pathlib.Path(pycnn.__file__).parent


def small_model(seed=3):
    pycnn.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 5))


def weights(model):
    return {k: v.copy() for k, v in model.state_dict().items()}


def assert_same(a, b):
    assert list(a) == list(b)
    for key in a:
        assert a[key].dtype == b[key].dtype and np.array_equal(a[key], b[key]), key


def set_comment(path, comment):
    with zipfile.ZipFile(path, "a") as archive:
        archive.comment = comment


@pytest.fixture
def umask():
    """Sets the process umask for one test and restores it afterwards."""
    previous = os.umask(0o022)
    os.umask(previous)
    yield lambda mask: os.umask(mask)
    os.umask(previous)


def test_save_load_round_trip_is_a_tagged_plain_npz(tmp_path):
    model = small_model()
    path = tmp_path / "model.npz"
    assert pycnn.save(model.state_dict(), path) is None
    loaded = pycnn.load(path)
    assert_same(loaded, weights(model))
    with zipfile.ZipFile(path) as archive:  # the format version rides in the zip comment...
        assert archive.comment == f"pycnn state-dict {FORMAT_VERSIONS['state-dict']} arrays={len(loaded)}".encode()
    with np.load(path, allow_pickle=False) as plain:  # ...so numpy reads exactly the state dict
        assert_same({k: plain[k] for k in plain.files}, loaded)
    other = small_model(seed=4)
    assert not np.array_equal(other.state_dict()["0.weight"], loaded["0.weight"])
    other.load_state_dict(pycnn.load(path))
    assert_same(weights(other), weights(model))
    # Tensors save as their arrays; a plain np.savez of numbers (a converted torch state dict) loads.
    pycnn.save({"t": pycnn.tensor([1.5, 2.5])}, tmp_path / "t.npz")
    assert np.array_equal(pycnn.load(tmp_path / "t.npz")["t"], np.array([1.5, 2.5], np.float32))
    np.savez(tmp_path / "plain.npz", w=np.arange(6.0).reshape(2, 3))
    assert np.array_equal(pycnn.load(tmp_path / "plain.npz")["w"], np.arange(6.0).reshape(2, 3))


def test_no_pickle_anywhere(tmp_path):
    """No code path of the package can unpickle: every np.load passes allow_pickle=False, pickle itself
    is imported only by the CIFAR reader (its batches are pickles; it allows numpy arrays and lists
    only), and files holding object arrays are refused on write and on read."""
    for source in PACKAGE.rglob("*.py"):
        text = source.read_text()
        assert "allow_pickle=True" not in text, source
        for call in re.findall(r"np\.load\((.*)", text):
            assert "allow_pickle=False" in call, (source, call)
        if re.search(r"^\s*import pickle|^\s*from pickle|cPickle|dill|joblib", text, re.M):
            assert source == PACKAGE / "data" / "datasets.py", source
    with pytest.raises(TypeError, match="'bad' has dtype object; .* never objects"):
        pycnn.save({"bad": np.array([{"a": 1}], dtype=object)}, tmp_path / "x.npz")
    assert not os.listdir(tmp_path)
    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, w=np.zeros(2), evil=np.array([print], dtype=object))
    with pytest.raises(ValueError, match=r"pickled.npz' is not a readable pycnn state-dict \(it holds an object "
                                         r"array, which would need pickle\)"):
        pycnn.load(pickled)
    set_comment(pickled, b"pycnn checkpoint 1 arrays=2")
    with pytest.raises(ValueError, match="object array"):
        load_checkpoint(pickled)


def test_newer_other_kind_and_bad_tags_are_refused(tmp_path):
    path = tmp_path / "m.npz"
    pycnn.save({"w": np.ones(3, np.float32)}, path)
    newer = FORMAT_VERSIONS["state-dict"] + 1
    set_comment(path, f"pycnn state-dict {newer} arrays=1".encode())
    with pytest.raises(ValueError, match=rf"m.npz' is a pycnn state-dict file of format version {newer}, written "
                                         rf"by a newer pycnn; this pycnn reads versions up to 1: upgrade pycnn"):
        pycnn.load(path)
    set_comment(path, b"pycnn checkpoint 1 arrays=1")
    with pytest.raises(ValueError, match="m.npz' is a pycnn checkpoint file, expected a pycnn state-dict file"):
        pycnn.load(path)
    for tag in (b"pycnn state-dict x9 arrays=1", b"pycnn state-dict 1", b"pycnn state-dict 1 arrays=x"):
        set_comment(path, tag)
        with pytest.raises(ValueError, match="unreadable pycnn format tag"):
            pycnn.load(path)
    set_comment(path, b"pycnn state-dict 1 arrays=2")
    with pytest.raises(ValueError, match="m.npz' is not a readable pycnn state-dict: its tag promises 2 arrays, its "
                                         "directory lists 1"):
        pycnn.load(path)
    with pytest.raises(FileNotFoundError, match="load: no state-dict at .*missing.npz"):
        pycnn.load(tmp_path / "missing.npz")


def test_every_damaged_byte_is_refused_or_harmless(tmp_path):
    """Flip each byte of a saved state dict in turn: the load either raises ValueError naming the file
    or returns exactly the saved arrays (a flip in an unused zip field); never other numbers."""
    saved = {"w": np.arange(24, dtype=np.float32).reshape(2, 3, 4), "n": np.array(7, np.int64)}
    path = tmp_path / "good.npz"
    pycnn.save(saved, path)
    good = path.read_bytes()
    damaged = tmp_path / "damaged.npz"
    refused = 0
    for i in range(len(good)):
        data = bytearray(good)
        data[i] ^= 0x5A
        damaged.write_bytes(bytes(data))
        try:
            loaded = pycnn.load(damaged)
        except ValueError as error:
            assert "damaged.npz" in str(error)
            refused += 1
            continue
        assert_same(loaded, saved)
    assert refused > len(good) // 2, (refused, len(good))
    for size in (0, 1, 30, len(good) // 2, len(good) - 22, len(good) - 1):  # truncated anywhere
        damaged.write_bytes(good[:size])
        with pytest.raises(ValueError, match="damaged.npz' (is not a readable|has an unreadable)"):
            pycnn.load(damaged)


def make_run():
    pycnn.manual_seed(0)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((16, 1, 8, 8)).astype(np.float32)
    y = rng.integers(0, 5, 16)
    model = small_model()
    return model, [(x[:8], y[:8]), (x[8:], y[8:])], optim.SGD(model.parameters(), lr=0.1, momentum=0.9)


def test_checkpoint_versions_and_damage_leave_the_run_untouched(tmp_path):
    path = tmp_path / "run.npz"
    model, loader, optimizer = make_run()
    fit(model, loader, nn.CrossEntropyLoss(), optimizer, 1, callbacks=[Checkpoint(path)], progress=False)
    with zipfile.ZipFile(path) as archive:
        comment = archive.comment
        assert re.fullmatch(rb"pycnn checkpoint 1 arrays=\d+", comment), comment
    good = path.read_bytes()
    fresh, loader, optimizer = make_run()
    before = weights(fresh)

    def resume_fails(match):
        with pytest.raises(ValueError, match=match):
            fit(fresh, loader, nn.CrossEntropyLoss(), optimizer, 2, progress=False, resume=path,
                callbacks=[Checkpoint(tmp_path / "other.npz")])
        assert_same(weights(fresh), before)
        assert optimizer.state_dict()["state"] == {}

    path.write_bytes(good[: len(good) * 2 // 3])
    resume_fails("run.npz' is not a readable pycnn checkpoint")
    path.write_bytes(good)
    set_comment(path, comment.replace(b" 1 ", b" 2 "))
    resume_fails("run.npz' is a pycnn checkpoint file of format version 2, written by a newer pycnn")
    path.write_bytes(good)
    set_comment(path, comment.replace(b"checkpoint", b"state-dict"))
    resume_fails("run.npz' is a pycnn state-dict file, expected a pycnn checkpoint file")
    # A checkpoint whose model loads but whose optimizer does not: the model gets its weights back.
    path.write_bytes(good)
    state = load_checkpoint(path)
    with np.load(path, allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    meta = json.loads(str(arrays["__meta__"]))
    meta["optimizer"]["__dict__"]["param_groups"]["__list__"].append(
        meta["optimizer"]["__dict__"]["param_groups"]["__list__"][0])
    arrays["__meta__"] = np.array(json.dumps(meta))
    np.savez(path, **arrays)  # untagged, as pycnn before format versions wrote them: still read
    assert load_checkpoint(path)["next_epoch"] == state["next_epoch"]
    resume_fails(r"run.npz' does not fit this run's SGD .*nothing was loaded")
    # A reference to an array the file lacks is refused by load_checkpoint itself.
    del arrays[meta["model"]["__dict__"]["0.weight"]["__array__"]]
    np.savez(path, **arrays)
    resume_fails("run.npz' is inconsistent")


def test_files_get_the_umask_permissions(tmp_path, umask):
    pytest.importorskip("onnx")
    import pycnn.onnx

    model = small_model()
    for mask, mode in ((0o022, 0o644), (0o077, 0o600), (0o002, 0o664)):
        umask(mask)
        folder = tmp_path / f"m{mask:o}"
        folder.mkdir()
        pycnn.save(model.state_dict(), folder / "model.npz")
        pycnn.onnx.export(model, folder / "model.onnx", (1, 1, 8, 8))
        model_, loader, optimizer = make_run()
        history = fit(model_, loader, nn.CrossEntropyLoss(), optimizer, 1, progress=False,
                      callbacks=[Checkpoint(folder / "run.npz")])
        history.save_json(folder / "history.json")
        history.save_csv(folder / "history.csv")
        for name in sorted(os.listdir(folder)):
            assert os.stat(folder / name).st_mode & 0o777 == mode, (name, oct(mask))
    umask(0o022)
    target = tmp_path / "kept.npz"
    target.write_bytes(b"")
    os.chmod(target, 0o640)
    pycnn.save(model.state_dict(), target)  # replacing a file keeps its permissions, as open() does
    assert os.stat(target).st_mode & 0o777 == 0o640


def test_a_missing_folder_is_file_not_found_and_never_created(tmp_path):
    pytest.importorskip("onnx")
    import pycnn.onnx

    model = small_model()
    missing = tmp_path / "nonexistent" / "dir"
    with pytest.raises(FileNotFoundError, match=r"export: cannot write .*x.onnx': the folder .*dir' does not exist"):
        pycnn.onnx.export(model, missing / "x.onnx", (1, 1, 8, 8))
    with pytest.raises(FileNotFoundError, match="save: cannot write"):
        pycnn.save(model.state_dict(), missing / "m.npz")
    history = pycnn.train.History([{"epoch": 1}])
    with pytest.raises(FileNotFoundError):
        history.save_json(missing / "h.json")
    assert not (tmp_path / "nonexistent").exists()
