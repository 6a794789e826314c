"""Transfer learning end to end: LeNet-5 pretrained in PyTorch on MNIST digits, exported to ONNX,
adapted in pycnn to scikit-learn's 8x8 digits (scaled to 28x28) from 10 images per class; plus what
"frozen" means (no gradient, no update, batch-norm statistics fixed) and the CLI."""
import os
import sys

import numpy as np
import pytest

import pycnn
import pycnn.onnx
import pycnn.transfer
from pycnn import data, nn, optim
from pycnn.nn import functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tools"))

MEAN, STD = 0.1307, 0.3081


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    """LeNet-5 trained 2 epochs in PyTorch on the 5,000 embedded MNIST digits, exported to ONNX."""
    torch = pytest.importorskip("torch")
    import reference_models

    mnist = data.load_mnist_sample()
    x = torch.from_numpy((mnist.images - MEAN) / STD)
    y = torch.from_numpy(mnist.labels)
    torch.set_num_threads(1)  # two OpenMP runtimes in one process (torch's and pycnn's) oversubscribe
    torch.manual_seed(0)
    model = reference_models.lenet5(10)
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    for _ in range(2):
        order = torch.randperm(len(y))
        for i in range(0, len(y), 64):
            batch = order[i:i + 64]
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(x[batch]), y[batch]).backward()
            opt.step()
    model.eval()
    path = str(tmp_path_factory.mktemp("transfer") / "lenet5.onnx")
    torch.onnx.export(model, (x[:1],), path, dynamo=False, opset_version=17, input_names=["input"],
                      output_names=["logits"], dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}})
    return path


@pytest.fixture(scope="module")
def digits():
    ds = data.load_digits_8x8(size=28)
    images = ((ds.images - MEAN) / STD).astype(np.float32)
    rng = np.random.default_rng(0)
    train = np.concatenate([rng.choice(np.flatnonzero(ds.labels == c), 10, replace=False) for c in range(10)])
    test = np.setdiff1d(np.arange(len(ds.labels)), train)
    return images, ds.labels, train, test


def _fit(model, images, labels, train, epochs=30, lr=0.01):
    optimizer = optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    rng = np.random.default_rng(1)
    model.train()
    for _ in range(epochs):
        order = rng.permutation(train)
        for i in range(0, len(order), 10):
            batch = order[i:i + 10]
            optimizer.zero_grad()
            F.cross_entropy(model(pycnn.tensor(images[batch])), pycnn.tensor(labels[batch])).backward()
            optimizer.step()
    model.eval()


def _predict(model, images):
    with pycnn.no_grad():
        return model(pycnn.tensor(images)).numpy().argmax(1)


def _lenet():
    return nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2, 2), nn.Conv2d(6, 16, 5), nn.ReLU(),
                         nn.MaxPool2d(2, 2), nn.Flatten(), nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84),
                         nn.ReLU(), nn.Linear(84, 10))


def test_transfer_from_mnist_to_sklearn_digits(pretrained, digits, tmp_path):
    pytest.importorskip("onnxruntime")
    from helpers.onnx_builders import run_onnxruntime
    images, labels, train, test = digits
    accuracy = {}
    for strategy in ("feature_extractor", "partial", "fine_tune"):
        pycnn.manual_seed(0)
        graph = pycnn.onnx.load(pretrained)
        pycnn.transfer.prepare(graph, 10, strategy)
        frozen = {n: p.numpy().copy() for n, p in graph.named_parameters() if not p.requires_grad}
        expected_frozen = {"feature_extractor": 8, "partial": 6, "fine_tune": 0}[strategy]
        assert len(frozen) == expected_frozen, sorted(frozen)
        _fit(graph, images, labels, train)
        for name, before in frozen.items():  # frozen weights are bit-identical after training
            assert np.array_equal(getattr(graph, name).numpy(), before), name
            assert getattr(graph, name).grad is None
        predictions = _predict(graph, images[test])
        accuracy[strategy] = float((predictions == labels[test]).mean())
        if strategy == "fine_tune":
            path = str(tmp_path / "fine_tuned.onnx")
            pycnn.onnx.export(graph, path, (1, 1, 28, 28))
            theirs = run_onnxruntime(path, {"input": images[test]})[0].argmax(1)
            assert np.array_equal(theirs, predictions)
    pycnn.manual_seed(0)
    scratch = _lenet()
    _fit(scratch, images, labels, train)
    accuracy["from_scratch"] = float((_predict(scratch, images[test]) == labels[test]).mean())
    print("\ntransfer accuracy on", len(test), "held-out digits:", {k: round(v, 4) for k, v in accuracy.items()})
    assert accuracy["feature_extractor"] >= 0.75
    assert accuracy["fine_tune"] >= 0.80


def _bn_model():
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Conv2d(4, 4, 3), nn.BatchNorm2d(4),
                         nn.ReLU(), nn.Flatten(), nn.Linear(4 * 4 * 4, 5))


def test_frozen_batch_norm_keeps_statistics_through_train_mode():
    pycnn.manual_seed(0)
    model = _bn_model()
    pycnn.transfer.prepare(model, 3, "feature_extractor")
    assert isinstance(model[7], nn.Linear) and model[7].out_features == 3
    stats = {k: v.copy() for k, v in model.state_dict().items() if "running" in k or "num_batches" in k}
    frozen = {n: p.numpy().copy() for n, p in model.named_parameters() if not p.requires_grad}
    assert sorted(frozen) == ["0.bias", "0.weight", "1.bias", "1.weight", "3.bias", "3.weight", "4.bias", "4.weight"]
    optimizer = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)  # every parameter handed over on purpose
    model.train()
    x = pycnn.randn(6, 1, 8, 8, seed=1)
    y = pycnn.tensor(np.array([0, 1, 2, 0, 1, 2]))
    head_before = model[7].weight.numpy().copy()
    for _ in range(3):
        optimizer.zero_grad()
        F.cross_entropy(model(x), y).backward()
        optimizer.step()
    for key, value in stats.items():
        assert np.array_equal(model.state_dict()[key], value), key
    for name, value in frozen.items():
        assert np.array_equal(dict(model.named_parameters())[name].numpy(), value), name
    assert not np.array_equal(model[7].weight.numpy(), head_before)
    # the same frozen model in eval mode gives the same outputs as in train mode (running statistics)
    with pycnn.no_grad():
        train_out = model(x).numpy()
        model.eval()
        np.testing.assert_allclose(model(x).numpy(), train_out, rtol=1e-6)


def test_partial_counts_layers_from_the_end_and_fine_tune_unfreezes():
    model = _bn_model()
    pycnn.transfer.prepare(model, 2, "partial", trainable_layers=2)
    trainable = sorted(n for n, p in model.named_parameters() if p.requires_grad)
    assert trainable == ["3.bias", "3.weight", "4.bias", "4.weight", "7.bias", "7.weight"]
    pycnn.transfer.prepare(model, 2, "fine_tune")
    assert all(p.requires_grad for p in model.parameters())
    with pytest.raises(ValueError, match="strategy"):
        pycnn.transfer.prepare(model, 2, "freeze_all")
    with pytest.raises(ValueError, match="trainable_layers"):
        pycnn.transfer.prepare(model, 2, "fine_tune", trainable_layers=1)
    with pytest.raises(ValueError, match="num_classes"):
        pycnn.transfer.prepare(model, 0)


def test_graph_head_found_through_softmax_and_1x1_conv(tmp_path):
    onnx = pytest.importorskip("onnx")
    from helpers.onnx_builders import make_initializer, make_model
    from onnx import helper

    rng = np.random.default_rng(0)
    w1 = rng.standard_normal((8, 3, 3, 3)).astype(np.float32)
    w2 = rng.standard_normal((1000, 8, 1, 1)).astype(np.float32)
    b2 = rng.standard_normal(1000).astype(np.float32)
    nodes = [helper.make_node("Conv", ["x", "w1"], ["c1"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c1"], ["r1"]),
             helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"]),
             helper.make_node("Relu", ["c2"], ["r2"]),
             helper.make_node("GlobalAveragePool", ["r2"], ["g"]),
             helper.make_node("Reshape", ["g", "shape"], ["flat"]),
             helper.make_node("Softmax", ["flat"], ["prob"], axis=1)]
    inits = [make_initializer("w1", w1), make_initializer("w2", w2), make_initializer("b2", b2),
             make_initializer("shape", np.array([2, 1000], np.int64))]
    model = make_model(nodes, inits, {"x": ["N", 3, 8, 8]}, 13, outputs={"prob": ["N", 1000]},
                       ir_version=onnx.IR_VERSION, name="squeeze")
    g = pycnn.onnx.load(model.SerializeToString())
    pycnn.transfer.prepare(g, 4, "feature_extractor")
    out = g(pycnn.randn(2, 3, 8, 8, seed=0))
    assert out.shape == (2, 4)
    assert not np.allclose(out.numpy().sum(1), 1.0)  # the softmax is gone: logits come out
    assert [n for n, p in g.named_parameters() if p.requires_grad] == ["w2", "b2"]


def _write_folder(root, images, labels):
    from PIL import Image

    for k, (image, label) in enumerate(zip(images, labels)):
        folder = root / f"digit{label}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray((image[0] * 255).astype(np.uint8)).save(folder / f"{k}.png")


def test_cli_import_and_finetune(pretrained, tmp_path, capsys):
    from pycnn import cli

    assert cli.main(["import", pretrained]) == 0
    report = capsys.readouterr().out
    assert "Gemm" in report and "run on cpu: forward and backward ok" in report
    ds = data.load_digits_8x8(size=28)
    picks = np.concatenate([np.flatnonzero(ds.labels == c)[:12] for c in range(3)])
    _write_folder(tmp_path / "digits", ds.images[picks], ds.labels[picks])
    out = tmp_path / "run"
    code = cli.main(["finetune", pretrained, "--data", f"folder:{tmp_path / 'digits'}", "--strategy", "partial",
                     "--epochs", "2", "--out", str(out), "--quiet"])
    assert code == 0, capsys.readouterr().err
    tuned = pycnn.onnx.load(str(out / "model.onnx"))
    assert tuned(pycnn.randn(2, 1, 28, 28, seed=0)).shape == (2, 3)
    assert cli.main(["import", str(tmp_path / "missing.onnx")]) == 2
    assert "no file" in capsys.readouterr().err
