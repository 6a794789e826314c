"""pycnn.summary of an imported ONNX graph (a row per node), torchinfo's batch-included input size, the
input type rule shared by zoo modules and imported graphs, and History's repr."""
import re

import numpy as np
import pytest

import pycnn
from pycnn import models
from pycnn.train import History

pytest.importorskip("onnx")


@pytest.fixture(scope="module")
def resnet20_onnx(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("summary") / "resnet20.onnx")
    pycnn.manual_seed(0)
    pycnn.onnx.export(models.resnet20(num_classes=10), path, (1, 3, 32, 32))
    return path


def test_graph_summary_lists_every_node(resnet20_onnx):
    graph = pycnn.onnx.load(resnet20_onnx)
    zoo = models.resnet20(num_classes=10)
    ours, theirs = pycnn.summary(graph, (3, 32, 32)), pycnn.summary(zoo, (3, 32, 32))
    assert [row.name for row in ours.rows] == [node.name for node in graph._ir.nodes]
    convs = [row for row in ours.rows if row.type == "Conv"]
    zoo_convs = [row for row in theirs.rows if row.type == "Conv2d"]
    assert len(convs) == len(zoo_convs) == 19
    for a, b in zip(convs, zoo_convs):
        assert (a.output_shape, a.params, a.macs) == (b.output_shape, b.params, b.macs)
    gemm = ours.rows[-1]
    assert (gemm.type, gemm.output_shape, gemm.params, gemm.macs) == ("Gemm", (1, 10), 650, 640)
    assert ours.total_macs == theirs.total_macs == 40_551_040
    bn = next(row for row in ours.rows if row.type == "BatchNormalization")
    assert bn.params == 32  # weight and bias; the running statistics are buffers
    text = str(ours)
    assert re.search(r"Conv_1\s+Conv\s+\[1, 16, 32, 32\]\s+432\s+442,368", text), text
    assert "Total MACs: 40,551,040 (40.55 M)" in text


def test_input_size_with_the_batch_dimension(resnet20_onnx):
    zoo = models.resnet20(num_classes=10)
    one, batch = pycnn.summary(zoo, (3, 32, 32)), pycnn.summary(zoo, (1, 3, 32, 32))
    rows = [[(r.name, r.output_shape, r.macs) for r in s.rows] for s in (one, batch)]
    assert rows[0] == rows[1]
    four = pycnn.summary(zoo, (4, 3, 32, 32))
    assert four.input_shape == (4, 3, 32, 32) and four.total_macs == 4 * one.total_macs
    assert four.rows[0].output_shape == (4, 16, 32, 32)
    graph = pycnn.onnx.load(resnet20_onnx)
    with_batch, without = pycnn.summary(graph, (1, 3, 32, 32)), pycnn.summary(graph, (3, 32, 32))
    assert with_batch.input_shape == without.input_shape == (1, 3, 32, 32)
    assert with_batch.total_macs == without.total_macs == one.total_macs


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.uint8])
def test_modules_and_graphs_take_tensors_alike(resnet20_onnx, dtype):
    x = np.zeros((1, 3, 32, 32), dtype)
    for model in (models.resnet20(num_classes=10), pycnn.onnx.load(resnet20_onnx)):
        with pytest.raises(TypeError, match=rf"expected input\b.* to be a pycnn.Tensor, got ndarray of dtype "
                                            rf"{np.dtype(dtype).name} \(Modules take pycnn Tensors"):
            model(x)
        assert model(pycnn.tensor(x.astype(np.float32))).shape == (1, 10)


def test_history_repr():
    assert repr(History()) == "History(epochs=0)"
    history = History([{"epoch": 1, "train_loss": 0.51234, "lr": 0.05}, {"epoch": 2, "train_loss": 0.25, "lr": 0.025}])
    assert repr(history) == ("History(epochs=2, keys=['epoch', 'train_loss', 'lr'], "
                             "last: epoch=2, train_loss=0.25, lr=0.025)")
