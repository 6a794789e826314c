"""Module machinery against torch.nn: names, state_dict keys and round trips, modes, devices, hooks."""
from collections import OrderedDict

import numpy as np
import pytest
import torch

import pycnn
from pycnn import nn


def torch_state(torch_model):
    return OrderedDict((k, v.detach().numpy().copy()) for k, v in torch_model.state_dict().items())


def build_net(lib, make_tensor):
    """The same nested model in torch.nn (lib=torch.nn) and pycnn.nn (lib=pycnn.nn)."""

    class Block(lib.Module):
        def __init__(self, channels):
            super().__init__()
            self.conv = lib.Conv2d(channels, channels, 3, padding=1, bias=False)
            self.bn = lib.BatchNorm2d(channels)

    class Net(lib.Module):
        def __init__(self):
            super().__init__()
            self.features = lib.Sequential(lib.Conv2d(3, 4, 3), lib.ReLU(), lib.Conv2d(4, 6, 3, stride=2))
            self.bn1 = lib.BatchNorm2d(6)
            self.blocks = lib.ModuleList([Block(6), Block(6)])
            self.heads = lib.ModuleDict({"cls": lib.Linear(6, 10), "box": lib.Linear(6, 4, bias=False)})
            self.register_buffer("scale", make_tensor(np.ones(3, dtype=np.float32)))
            self.register_buffer("cache", make_tensor(np.zeros(2, dtype=np.float32)), persistent=False)
            self.classifier = lib.Sequential(OrderedDict([("flat", lib.Flatten()), ("fc", lib.Linear(24, 5))]))

    return Net()


def both_nets():
    return build_net(torch.nn, torch.from_numpy), build_net(nn, pycnn.tensor)


def simple_pair(bias=True):
    """Conv2d, Flatten, Linear (and an Identity where a ReLU would be: this file tests the
    machinery with ops every branch has)."""
    torch_model = torch.nn.Sequential(torch.nn.Conv2d(3, 5, 3, stride=2, padding=1, bias=bias), torch.nn.Identity(),
                                      torch.nn.Flatten(), torch.nn.Linear(5 * 4 * 3, 7))
    model = nn.Sequential(nn.Conv2d(3, 5, 3, stride=2, padding=1, bias=bias), nn.Identity(), nn.Flatten(),
                          nn.Linear(5 * 4 * 3, 7))
    return torch_model, model


# ----- names ----------------------------------------------------------------------------------------
def test_named_parameters_match_torch_for_sequential():
    torch_model = torch.nn.Sequential(torch.nn.Conv2d(3, 5, 3, stride=2, padding=1), torch.nn.ReLU(),
                                      torch.nn.Flatten(), torch.nn.Linear(5 * 4 * 3, 7))
    model = nn.Sequential(nn.Conv2d(3, 5, 3, stride=2, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(5 * 4 * 3, 7))
    names = [(k, tuple(v.shape)) for k, v in model.named_parameters()]
    assert names == [(k, tuple(v.shape)) for k, v in torch_model.named_parameters()]
    assert names[0] == ("0.weight", (5, 3, 3, 3))
    assert all(isinstance(p, nn.Parameter) and p.requires_grad for p in model.parameters())


def test_names_match_torch_for_nested_model():
    torch_net, net = both_nets()
    assert [k for k, _ in net.named_parameters()] == [k for k, _ in torch_net.named_parameters()]
    assert [k for k, _ in net.named_buffers()] == [k for k, _ in torch_net.named_buffers()]
    assert [k for k, _ in net.named_modules()] == [k for k, _ in torch_net.named_modules()]
    assert [k for k, _ in net.named_children()] == [k for k, _ in torch_net.named_children()]
    assert [k for k, _ in net.named_parameters(recurse=False)] == []
    assert [k for k, _ in net.blocks.named_parameters(prefix="blocks")] == \
        [k for k, _ in torch_net.blocks.named_parameters(prefix="blocks")]
    assert len(list(net.modules())) == len(list(torch_net.modules())) == 19


def test_state_dict_keys_and_shapes_match_torch():
    torch_net, net = both_nets()
    state, expected = net.state_dict(), torch_state(torch_net)
    assert list(state) == list(expected)
    assert "bn1.running_mean" in state and "blocks.1.bn.num_batches_tracked" in state
    assert "cache" not in state and "scale" in state
    for key in state:
        assert state[key].shape == expected[key].shape, key
        assert state[key].dtype == expected[key].dtype, key
    assert state["bn1.num_batches_tracked"].dtype == np.int64


def test_state_dict_values_are_copies():
    model = nn.Linear(3, 2)
    state = model.state_dict()
    state["weight"][...] = 7.0
    assert not np.any(model.weight.numpy() == 7.0)
    kept = model.state_dict(keep_vars=True)
    assert kept["weight"] is model.weight


def test_shared_parameter_listed_once_but_saved_under_each_name():
    torch_model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Linear(4, 4))
    torch_model[1].weight = torch_model[0].weight
    model = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 4))
    model[1].weight = model[0].weight
    assert [k for k, _ in model.named_parameters()] == [k for k, _ in torch_model.named_parameters()]
    assert list(model.state_dict()) == list(torch_model.state_dict())


# ----- loading ----------------------------------------------------------------------------------------
def test_load_torch_state_dict_then_forward_and_backward_match():
    torch.manual_seed(0)
    torch_model, model = simple_pair()
    result = model.load_state_dict(torch_state(torch_model))
    assert result.missing_keys == [] and result.unexpected_keys == []
    x = np.random.default_rng(0).standard_normal((2, 3, 7, 6)).astype(np.float32)
    out = model(pycnn.tensor(x))
    torch_out = torch_model(torch.from_numpy(x))
    np.testing.assert_allclose(out.numpy(), torch_out.detach().numpy(), rtol=1e-5, atol=1e-5)
    out.sum().backward()
    torch_out.sum().backward()
    for (name, p), (_, tp) in zip(model.named_parameters(), torch_model.named_parameters()):
        np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), rtol=1e-4, atol=1e-5, err_msg=name)


def test_torch_loads_pycnn_state_dict_strictly():
    torch_net, net = both_nets()
    torch_net.load_state_dict({k: torch.from_numpy(v) for k, v in net.state_dict().items()}, strict=True)
    np.testing.assert_array_equal(torch_net.heads["cls"].weight.detach().numpy(), net.heads["cls"].weight.numpy())


def test_load_state_dict_accepts_pycnn_tensors_and_buffers():
    torch_net, net = both_nets()
    torch_net.bn1.running_mean.fill_(0.25)
    torch_net.bn1.num_batches_tracked.fill_(9)
    net.load_state_dict({k: pycnn.tensor(v) for k, v in torch_state(torch_net).items()})
    np.testing.assert_array_equal(net.bn1.running_mean.numpy(), np.full(6, 0.25, np.float32))
    assert net.bn1.num_batches_tracked.item() == 9 and net.bn1.num_batches_tracked.dtype == "int64"
    np.testing.assert_array_equal(net.features[2].weight.numpy(), torch_net.features[2].weight.detach().numpy())


def test_strict_load_reports_every_missing_and_unexpected_key():
    torch_net, net = both_nets()
    state = torch_state(torch_net)
    del state["features.0.bias"], state["bn1.running_var"]
    state["extra.weight"] = np.zeros(3, np.float32)
    state["heads.cls.scale"] = np.zeros(3, np.float32)
    before = net.features[0].weight.numpy().copy()
    with pytest.raises(ValueError) as err:
        net.load_state_dict(state)
    message = str(err.value)
    for key in ("features.0.bias", "bn1.running_var", "extra.weight", "heads.cls.scale"):
        assert f'"{key}"' in message
    assert "Missing key(s)" in message and "Unexpected key(s)" in message
    np.testing.assert_array_equal(net.features[0].weight.numpy(), before)  # nothing was copied

    missing, unexpected = net.load_state_dict(state, strict=False)
    assert missing == ["features.0.bias", "bn1.running_var"]
    assert unexpected == ["extra.weight", "heads.cls.scale"]
    np.testing.assert_array_equal(net.features[0].weight.numpy(), state["features.0.weight"])


def test_shape_mismatch_names_key_and_both_shapes():
    model = nn.Sequential(nn.Linear(4, 3))
    before = model[0].bias.numpy().copy()
    state = {"0.weight": np.zeros((3, 5), np.float32), "0.bias": np.ones(3, np.float32)}
    with pytest.raises(ValueError, match=r'"0\.weight": expected shape \(3, 4\) .*got \(3, 5\)'):
        model.load_state_dict(state)
    with pytest.raises(ValueError, match=r'"0\.weight": expected shape \(3, 4\)'):
        model.load_state_dict(state, strict=False)
    np.testing.assert_array_equal(model[0].bias.numpy(), before)
    with pytest.raises(TypeError, match="load_state_dict"):
        model.load_state_dict([1, 2])


# ----- modes, gradients, devices --------------------------------------------------------------------
def test_train_eval_propagate_to_every_module():
    torch_net, net = both_nets()
    assert all(m.training for m in net.modules())
    assert net.eval() is net
    assert not any(m.training for m in net.modules())
    net.blocks[1].train()
    assert net.blocks[1].bn.training and not net.blocks[0].bn.training and not net.training
    net.train()
    assert all(m.training for m in net.modules())
    with pytest.raises(ValueError, match="train"):
        net.train("yes")


def test_zero_grad_and_requires_grad_freeze():
    torch_model, model = simple_pair()
    x = pycnn.tensor(np.random.default_rng(1).standard_normal((2, 3, 7, 6)))
    model(x).sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    model.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not np.any(p.grad.numpy()) for p in model.parameters())
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())

    assert model[0].requires_grad_(False) is model[0]
    model(x).sum().backward()
    assert model[0].weight.grad is None and model[0].bias.grad is None
    assert model[3].weight.grad is not None and np.any(model[3].weight.grad.numpy())
    model.requires_grad_(False)
    assert not model(x).requires_grad


def test_to_keeps_parameter_identity(device):
    torch_model, model = simple_pair()
    model.load_state_dict(torch_state(torch_model))
    params = list(model.parameters())
    buffer_model = nn.BatchNorm2d(3)
    running = buffer_model.running_mean
    assert model.to(device) is model and buffer_model.to(device) is buffer_model
    assert [id(p) for p in model.parameters()] == [id(p) for p in params]
    assert all(p.device == device and isinstance(p, nn.Parameter) for p in params)
    assert buffer_model.running_mean is running and running.device == device
    x = np.random.default_rng(2).standard_normal((1, 3, 7, 6)).astype(np.float32)
    out = model(pycnn.tensor(x, device=device))
    np.testing.assert_allclose(out.numpy(), torch_model(torch.from_numpy(x)).detach().numpy(), rtol=1e-4, atol=1e-5)
    out.sum().backward()
    assert params[0].grad.device == device
    model.to("cpu")
    assert params[0].device == "cpu" and params[0].grad.device == "cpu"
    with pytest.raises(ValueError, match="device"):
        model.to("tpu")


def test_apply_visits_children_before_parent():
    _, net = both_nets()
    seen = []
    assert net.apply(lambda m: seen.append(type(m).__name__)) is net
    assert len(seen) == 19 and seen[-1] == "Net" and seen[:3] == ["Conv2d", "ReLU", "Conv2d"]


def test_forward_hooks_see_inputs_and_outputs_and_can_be_removed():
    _, model = simple_pair()
    shapes = []
    handles = [m.register_forward_hook(lambda m, args, out: shapes.append((type(m).__name__, out.shape)))
               for m in model]
    pre = model.register_forward_pre_hook(lambda m, args: (args[0] * 0.0,))
    out = model(pycnn.ones(1, 3, 7, 6))
    assert shapes == [("Conv2d", (1, 5, 4, 3)), ("Identity", (1, 5, 4, 3)), ("Flatten", (1, 60)), ("Linear", (1, 7))]
    np.testing.assert_allclose(out.numpy(), model[3](model[2](model[1](model[0](pycnn.zeros(1, 3, 7, 6))))).numpy())
    for handle in handles + [pre]:
        handle.remove()
    shapes.clear()
    model(pycnn.ones(1, 3, 7, 6))
    assert shapes == []


# ----- Parameter and registration -------------------------------------------------------------------
def test_parameter_is_a_leaf_float32_tensor():
    base = pycnn.tensor([[1.0, 2.0]])
    p = nn.Parameter(base)
    assert isinstance(p, pycnn.Tensor) and p.requires_grad and p.is_leaf and p.dtype == "float32"
    assert repr(p).startswith("Parameter containing:\ntensor([[1., 2.]]")
    base.numpy()[0, 0] = 5.0
    assert p.numpy()[0, 0] == 5.0  # shares the tensor's memory, like torch.nn.Parameter
    q = nn.Parameter(np.arange(3.0), requires_grad=False)
    assert not q.requires_grad and q.dtype == "float32" and q.tolist() == [0.0, 1.0, 2.0]
    with pytest.raises(TypeError, match="Parameter"):
        nn.Parameter(np.arange(3))


def test_setattr_registration_rules():
    model = nn.Linear(2, 2)
    with pytest.raises(TypeError, match="parameter 'weight'"):
        model.weight = pycnn.zeros(2, 2)
    model.bias = None
    assert list(model.state_dict()) == ["weight"] and model.bias is None
    model.extra = nn.ReLU()
    assert [k for k, _ in model.named_children()] == ["extra"]
    model.extra = None
    assert list(model.children()) == []
    del model.weight
    assert list(model.state_dict()) == []
    with pytest.raises(AttributeError, match="no attribute 'missing'"):
        model.missing

    class Early(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(np.zeros(1))

    with pytest.raises(AttributeError, match="before Module.__init__"):
        Early()


def test_module_without_forward_raises():
    with pytest.raises(NotImplementedError, match="forward"):
        nn.Module()(pycnn.ones(1))


# ----- containers -----------------------------------------------------------------------------------
def test_sequential_indexing_matches_torch():
    torch_seq = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.ReLU(), torch.nn.Linear(3, 1))
    seq = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    assert len(seq) == 3 and isinstance(seq[-1], nn.Linear) and seq[-1] is seq[2]
    assert [type(m).__name__ for m in seq] == ["Linear", "ReLU", "Linear"]
    sliced = seq[1:]
    assert isinstance(sliced, nn.Sequential) and list(sliced.state_dict()) == list(torch_seq[1:].state_dict())
    assert seq.append(nn.Identity()) is seq and len(seq) == 4
    torch_seq.append(torch.nn.Identity())
    del seq[0], torch_seq[0]
    assert list(seq.state_dict()) == list(torch_seq.state_dict()) == ["1.weight", "1.bias"]
    with pytest.raises(IndexError, match="out of range"):
        seq[5]
    named = nn.Sequential(OrderedDict([("conv", nn.Conv2d(1, 2, 3)), ("act", nn.ReLU())]))
    assert list(named.state_dict()) == ["conv.weight", "conv.bias"] and named.act is named[1]


def test_module_list_and_dict():
    torch_list = torch.nn.ModuleList([torch.nn.Linear(1, 1) for _ in range(3)])
    mlist = nn.ModuleList([nn.Linear(1, 1) for _ in range(3)])
    mlist.insert(1, nn.Linear(1, 2))
    torch_list.insert(1, torch.nn.Linear(1, 2))
    del mlist[0], torch_list[0]
    assert list(mlist.state_dict()) == list(torch_list.state_dict())
    assert mlist[0].out_features == 2 and len(mlist) == 3 and len(mlist[1:]) == 2
    mdict = nn.ModuleDict({"a": nn.Linear(1, 1)})
    mdict["b"] = nn.Identity()
    assert list(mdict) == ["a", "b"] and "b" in mdict and len(mdict) == 2
    assert isinstance(mdict.pop("b"), nn.Identity) and list(mdict.keys()) == ["a"]


def test_identity_returns_input():
    x = pycnn.ones(2, 3)
    assert nn.Identity(54, unused="x")(x) is x


# ----- printing ---------------------------------------------------------------------------------------
def test_repr_matches_torch():
    def build(lib):
        return lib.Sequential(
            lib.Conv2d(3, 8, 3, padding=1), lib.Conv2d(8, 8, (3, 5), stride=2, dilation=2, groups=4, bias=False),
            lib.ReLU(inplace=True), lib.LeakyReLU(0.2), lib.MaxPool2d(2), lib.AvgPool2d(3, 2, 1),
            lib.AdaptiveAvgPool2d((1, 1)), lib.BatchNorm2d(8), lib.BatchNorm1d(8, momentum=None, affine=False),
            lib.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0), lib.Dropout(0.3), lib.Flatten(),
            lib.Linear(8, 10), lib.Sigmoid(), lib.Tanh(), lib.Softmax(dim=1), lib.LogSoftmax(dim=-1),
            lib.Identity(), lib.Sequential(lib.Linear(10, 10, bias=False)), lib.CrossEntropyLoss(), lib.MSELoss())

    assert repr(build(nn)) == repr(build(torch.nn))
    torch_net, net = both_nets()
    assert repr(net) == repr(torch_net)
