"""pycnn.viz: the filter grid's geometry, feature maps, and the PNGs the plots write."""
import os

import numpy as np
import pytest

import pycnn
from pycnn import models, viz
from pycnn.train import History

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def assert_png(path):
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE and len(data) > 1000
    assert os.listdir(path.parent) == [path.name]  # no temporary file left


def test_filter_grid_grey_geometry():
    # 5 filters of 2x3 (first input channel shown): ceil(sqrt(5)) = 3 columns, 2 rows of tiles with
    # 1-pixel white borders.
    weight = np.zeros((5, 2, 2, 3), dtype=np.float32)
    for i in range(5):
        weight[i, 0] = np.arange(6).reshape(2, 3) * (i + 1) - 7.0  # scaled per filter to [0, 1]
    weight[:, 1] = 100.0  # the second channel is not shown
    weight[4, 0] = 3.0  # a constant filter maps to 0
    grid = viz.filter_grid(weight)
    assert grid.shape == (2 * (2 + 1) + 1, 3 * (3 + 1) + 1) == (7, 13)
    ramp = np.arange(6).reshape(2, 3) / 5.0
    for i in range(4):
        r, c = divmod(i, 3)
        tile = grid[1 + 3 * r: 3 + 3 * r, 1 + 4 * c: 4 + 4 * c]
        np.testing.assert_allclose(tile, ramp, atol=1e-6)
    np.testing.assert_array_equal(grid[4:6, 5:8], 0.0)  # filter 4 at row 1, column 1
    for border in (grid[0], grid[3], grid[6], grid[:, 0], grid[:, 4], grid[:, 8], grid[:, 12]):
        np.testing.assert_array_equal(border, 1.0)
    np.testing.assert_array_equal(grid[4:6, 9:12], 1.0)  # the grid's empty cell is background


def test_filter_grid_rgb():
    weight = np.zeros((2, 3, 1, 1), dtype=np.float32)
    weight[0, :, 0, 0] = [1.0, 0.0, 0.5]
    weight[1, :, 0, 0] = [-2.0, 2.0, 0.0]
    grid = viz.filter_grid(pycnn.tensor(weight))
    assert grid.shape == (1 * 2 + 1, 2 * 2 + 1, 3) == (3, 5, 3)  # ceil(sqrt(2)) = 2 columns, 1 row
    np.testing.assert_allclose(grid[1, 1], [1.0, 0.0, 0.5])
    np.testing.assert_allclose(grid[1, 3], [0.0, 1.0, 0.5])
    with pytest.raises(ValueError, match=r"filter_grid: expected a 4-d conv weight .* got shape \(3, 3\)"):
        viz.filter_grid(np.zeros((3, 3)))


def test_plot_filters_png(tmp_path):
    pycnn.manual_seed(0)
    viz.plot_filters(models.lenet5().features[0].weight, tmp_path / "filters.png")
    assert_png(tmp_path / "filters.png")


def test_feature_maps_shape_mode_and_forward_intact(tmp_path):
    pycnn.manual_seed(0)
    model = models.lenet5()
    model.train()
    image = np.random.default_rng(0).random((1, 28, 28), dtype=np.float32)
    batch = pycnn.tensor(image[None])
    before = model(batch).numpy()
    maps = viz.feature_maps(model, "features.3", image)
    assert maps.shape == (16, 10, 10)
    # the maps are what that layer computes: conv2 of relu/pool of conv1
    x = model.features[2](model.features[1](model.features[0](batch)))
    np.testing.assert_allclose(maps, model.features[3](x).numpy()[0], rtol=1e-6, atol=1e-6)
    assert viz.feature_maps(model, "classifier.4", image).shape == (10,)
    assert model.training and all(m.training for m in model.modules())
    assert "forward" not in model.features[3].__dict__ and not model.features[3]._forward_hooks
    np.testing.assert_array_equal(model(batch).numpy(), before)
    model.eval()
    viz.feature_maps(model, "features.0", image)
    assert not model.training
    viz.plot_feature_maps(model, "features.0", image, tmp_path / "maps.png")
    assert_png(tmp_path / "maps.png")


def test_feature_maps_errors():
    model = models.lenet5()
    with pytest.raises(ValueError, match="feature_maps: no layer named 'conv9'; layers: .*'features.0'"):
        viz.feature_maps(model, "conv9", np.zeros((1, 28, 28), np.float32))
    with pytest.raises(ValueError, match=r"feature_maps: expected one image \(C, H, W\), got shape \(2, 1, 28, 28\)"):
        viz.feature_maps(model, "features.0", np.zeros((2, 1, 28, 28), np.float32))


def test_plot_history_png(tmp_path):
    records = [{"epoch": e, "train_loss": 1.0 / e, "train_acc": 1 - 0.5 / e, "val_loss": 1.2 / e,
                "val_top1": 1 - 0.6 / e} for e in (1, 2, 3)]
    (tmp_path / "a").mkdir()
    viz.plot_history(History(records), tmp_path / "a" / "curves.png")
    assert_png(tmp_path / "a" / "curves.png")
    (tmp_path / "b").mkdir()
    History([{k: r[k] for k in ("epoch", "train_loss", "train_acc")} for r in records]).plot(tmp_path / "b" / "c.png")
    assert_png(tmp_path / "b" / "c.png")
